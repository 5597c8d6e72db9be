"""Reading any image a person has, and writing results atomically (host NumPy + Pillow).

What :func:`read_image` does with each kind of input (the decisions documented in
``docs/segment.md``):

* **Formats**: whatever Pillow opens (JPEG, PNG, TIFF, BMP, GIF, WebP, PNM, ...); TIFFs
  Pillow cannot decode fall back to ``tifffile`` (a scikit-image dependency).
* **EXIF orientation** is applied (``PIL.ImageOps.exif_transpose``), so a portrait photo
  from a phone comes out upright; all outputs have the upright shape.
* **Grayscale** is replicated to three channels.
* **Alpha** (RGBA, LA, palette with transparency) is composited on white; the colour under
  fully transparent pixels is undefined in most files, so dropping alpha would segment
  invisible noise.
* **16-bit** data (``I;16`` PNG/TIFF, 16-bit PGM, 16-bit RGB) is scaled by 65535, i.e.
  the full range of the type, not the range of the image, so a dark image stays dark.
  Float (``F``) images are used as they are when in ``[0, 1]``, else min-max normalised.
* **Multi-frame** files (GIF, multi-page TIFF): the first frame.
* **Large** images are downscaled (area-averaging, float precision) so that the longer
  side is at most ``max_side``; :func:`upsample_labels` brings label images back to the
  original size with nearest-neighbour.

Every failure is an :class:`ImageReadError` naming the file and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxseg.fileio import atomic_write, write_text_atomic

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "LoadedImage",
    "atomic_write",
    "output_shape",
    "read_image",
    "resize_image",
    "upsample_labels",
    "write_json",
    "write_npy",
    "write_npz",
    "write_png",
    "write_text",
]

IMAGE_SUFFIXES = frozenset(
    {
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".tif",
        ".tiff",
        ".bmp",
        ".gif",
        ".webp",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
    }
)
"""File suffixes (lower case) taken as images when scanning a directory."""


class ImageReadError(ValueError):
    """An input file could not be read as an image; ``str()`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class LoadedImage:
    """One decoded input.

    Attributes:
      path: the file read.
      image: ``(h, w, 3) float32`` in ``[0, 1]``, the image to segment (downscaled when
        the original is larger than ``max_side``).
      display: ``(H, W, 3) uint8``, the upright original-size image (overlays are drawn
        on it).
      notes: what was done to the input (EXIF rotation, alpha, 16-bit, downscaling).
    """

    path: Path
    image: np.ndarray
    display: np.ndarray
    notes: tuple[str, ...]

    @property
    def original_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the upright original."""
        return self.display.shape[:2]

    @property
    def downscaled(self) -> bool:
        return self.image.shape[:2] != self.display.shape[:2]


def read_image(path: str | os.PathLike, *, max_side: int | None = None) -> LoadedImage:
    """Decodes an image file into float RGB, whatever its format, mode and orientation.

    Args:
      path: an image file.
      max_side: when set and the longer side of the image exceeds it, the image to
        segment is downscaled to that longer side (the display image keeps the original
        size).

    Returns:
      A :class:`LoadedImage`.

    Raises:
      ImageReadError: the file is missing, empty, not an image, or corrupt.
      ValueError: ``max_side`` is not a positive integer.
    """
    if max_side is not None and (not isinstance(max_side, int) or max_side < 1):
        raise ValueError(f"max_side must be a positive int or None, got {max_side!r}")
    path = Path(path)
    if not path.exists():
        raise ImageReadError(path, "no such file")
    if not path.is_file():
        raise ImageReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    notes: list[str] = []
    try:
        image = _decode(path, notes)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"image too large to decode safely ({e})") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as e:
        reason = str(e) or type(e).__name__
        if isinstance(e, UnidentifiedImageError):
            reason = "not a readable image (unknown or unsupported format)"
        elif "truncated" in reason.lower() or isinstance(e, EOFError):
            reason = f"corrupt or truncated image data ({reason})"
        else:
            reason = f"cannot decode image ({reason})"
        raise ImageReadError(path, reason) from e
    if image.size == 0:
        raise ImageReadError(path, f"image has no pixels (shape {image.shape})")
    if not np.all(np.isfinite(image)):
        raise ImageReadError(path, "image contains NaN or infinite values")
    display = np.round(image * 255.0).astype(np.uint8)
    work = image
    if max_side is not None and max(image.shape[:2]) > max_side:
        h, w = output_shape(image.shape[:2], max_side)
        work = resize_image(image, (h, w))
        notes.append(
            f"downscaled {image.shape[1]}x{image.shape[0]} -> {w}x{h} (--max-side {max_side}); "
            "labels upsampled back with nearest-neighbour"
        )
    return LoadedImage(path=path, image=work, display=display, notes=tuple(notes))


def _decode(path: Path, notes: list[str]) -> np.ndarray:
    """Decodes to ``(H, W, 3) float32`` in ``[0, 1]``, appending what was done to ``notes``."""
    with warnings.catch_warnings():
        # Pillow warns on odd but readable files (e.g. bad EXIF, huge images); the
        # image is still decoded, and a CLI must not turn those into failures.
        warnings.simplefilter("ignore")
        with Image.open(path) as pil:
            pil.load()
            n_frames = getattr(pil, "n_frames", 1)
            if n_frames > 1:
                notes.append(f"{n_frames} frames/pages, used the first")
            orientation = _exif_orientation(pil)
            try:
                upright = ImageOps.exif_transpose(pil)
            except Exception as e:  # noqa: BLE001 - a broken EXIF block must not lose the image
                notes.append(f"EXIF orientation ignored ({e})")
                upright = pil
            if orientation not in (None, 1) and upright is not pil:
                notes.append(f"applied EXIF orientation {orientation}")
            try:
                return _to_float_rgb(upright, notes)
            except _UnsupportedMode:
                if path.suffix.lower() not in (".tif", ".tiff"):
                    raise ImageReadError(path, f"unsupported image mode {pil.mode!r}") from None
    return _tiff_fallback(path, notes)


class _UnsupportedMode(Exception):
    pass


def _exif_orientation(pil: Image.Image) -> int | None:
    try:
        return pil.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - unreadable EXIF simply means no orientation
        return None


def _to_float_rgb(pil: Image.Image, notes: list[str]) -> np.ndarray:
    mode = pil.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in pil.info
    ):
        rgba = np.asarray(pil.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        if np.any(alpha < 1.0):
            notes.append("alpha composited on white")
        return (rgba[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(pil).astype(np.float32)
        notes.append(f"16-bit ({mode}) scaled by 65535")
        gray = np.clip(values, 0.0, 65535.0) / 65535.0
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        values = np.asarray(pil, dtype=np.float32)
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        if lo < 0.0 or hi > 1.0:
            notes.append(f"float image in [{lo:g}, {hi:g}] min-max normalised")
            values = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
        return np.repeat(values[..., None], 3, axis=-1)
    if mode in ("1", "L", "P", "RGB", "CMYK", "YCbCr", "LAB", "HSV"):
        if mode in ("1", "L"):
            notes.append("grayscale replicated to RGB")
        return np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0
    raise _UnsupportedMode(mode)


def _tiff_fallback(path: Path, notes: list[str]) -> np.ndarray:
    import tifffile

    array = np.asarray(tifffile.imread(path))
    while array.ndim > 3:  # pages / samples: keep the first
        array = array[0]
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # planar (C, H, W) -> (H, W, C)
    if np.issubdtype(array.dtype, np.integer):
        scale = float(np.iinfo(array.dtype).max)
        notes.append(f"{array.dtype} scaled by {scale:g}")
        array = array.astype(np.float32) / scale
    else:
        array = array.astype(np.float32)
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            array = (array - lo) / (hi - lo) if hi > lo else np.zeros_like(array)
    if array.ndim == 2:
        array = array[..., None]
    if array.shape[-1] == 4:
        alpha = array[..., 3:]
        array = array[..., :3] * alpha + (1.0 - alpha)
        notes.append("alpha composited on white")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ImageReadError(path, f"unsupported TIFF layout {array.shape}")
    return array.astype(np.float32)


def output_shape(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``(h, w)`` with the longer side ``max_side`` and the aspect of ``shape`` kept."""
    height, width = shape
    scale = max_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resizes ``(H, W, C) float32`` to ``shape`` with Pillow's antialiased box filter."""
    height, width = shape
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(image[..., c], dtype=np.float32), mode="F").resize(
                (width, height), Image.Resampling.BOX
            )
        )
        for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0).astype(np.float32)


def upsample_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image ``(h, w)`` to ``shape`` (pixel centres)."""
    h, w = labels.shape
    height, width = shape
    if (h, w) == (height, width):
        return labels
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def write_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``(H, W)`` uint8/uint16 or ``(H, W, 3)`` uint8 as PNG, atomically."""
    array = np.ascontiguousarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"write_png needs uint8 or uint16, got {array.dtype} for {path}")
    if array.dtype == np.uint16 and array.ndim != 2:
        raise ValueError(f"16-bit PNG must be 2-D, got shape {array.shape} for {path}")
    with atomic_write(path) as f:
        Image.fromarray(array).save(f, format="PNG")


def write_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.save(f, array)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_text_atomic(path, text)


def write_json(path: str | os.PathLike, obj: object) -> None:
    import json

    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
