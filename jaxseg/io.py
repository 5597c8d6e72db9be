"""Reading any image a person has, and writing results atomically (host NumPy + Pillow).

What :func:`read_image` does with each kind of input (the decisions documented in
``docs/segment.md``):

* **Formats**: whatever Pillow opens (JPEG, PNG, TIFF, BMP, GIF, WebP, PNM, ...). TIFFs
  whose samples Pillow would not keep exactly (16-bit colour, float16/32/64, 32-bit and
  signed integers), or that Pillow cannot decode, are read with ``tifffile`` (a scikit-image
  dependency), which keeps their exact values; grayscale or RGB, with or without alpha,
  chunky or planar, and their orientation tag is applied.
* **EXIF orientation** is applied (``PIL.ImageOps.exif_transpose``), so a portrait photo
  from a phone comes out upright; all outputs have the upright shape.
* **Grayscale** is replicated to three channels.
* **Alpha** (RGBA, LA, palette with transparency) is composited on white; the colour under
  fully transparent pixels is undefined in most files, so dropping alpha would segment
  invisible noise.
* **Integer** samples wider than 8 bits are divided by the maximum of their type, not
  of the image, so a dark image stays dark: 16-bit (PNG, PNM, TIFF) by 65535, 32-bit
  TIFF by 4294967295 (uint32) or 2147483647 (int32), signed 8/16-bit TIFF by 127/32767.
  Signed samples with negative values are min-max normalised.
* **Float** samples (TIFF) are used as they are when in ``[0, 1]``, else min-max
  normalised; NaN or infinite values are refused.
* **Multi-frame** files (GIF, multi-page TIFF): the first frame.
* **Large** images are downscaled (area-averaging, float precision) so that the longer
  side is at most ``max_side``; :func:`jaxseg.regions.labels.upsample_labels` brings label
  images back to the original size with nearest-neighbour.

Every failure is an :class:`ImageReadError` naming the file and the reason.
"""

from __future__ import annotations

import dataclasses
import io
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
    "decode_image",
    "output_shape",
    "read_image",
    "resize_image",
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
      notes: what was done to the input (EXIF rotation, alpha, scaling, downscaling).
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
    return _load(path, path, max_side)


def decode_image(
    encoded: bytes, name: str | os.PathLike, *, max_side: int | None = None
) -> LoadedImage:
    """Decodes an image file's content, as :func:`read_image` decodes the file.

    The one image decoder of the package: BSDS500 JPEGs (:mod:`jaxseg.data.bsds500`,
    from a folder or the bytes a TFDS dataset stores) go through it too.

    Args:
      encoded: the file's bytes.
      name: where the bytes come from (``LoadedImage.path`` and error messages).
      max_side: as for :func:`read_image`.

    Returns:
      A :class:`LoadedImage`.

    Raises:
      ImageReadError: the bytes are empty, not an image, or corrupt.
      ValueError: ``max_side`` is not a positive integer.
    """
    if max_side is not None and (not isinstance(max_side, int) or max_side < 1):
        raise ValueError(f"max_side must be a positive int or None, got {max_side!r}")
    if not encoded:
        raise ImageReadError(name, "empty file (0 bytes)")
    return _load(io.BytesIO(encoded), Path(name), max_side)


def _load(source: Path | io.BytesIO, path: Path, max_side: int | None) -> LoadedImage:
    notes: list[str] = []
    try:
        image = _decode(source, path, notes)
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


def _decode(source: Path | io.BytesIO, path: Path, notes: list[str]) -> np.ndarray:
    """Decodes ``source`` (the file ``path`` or its bytes) to ``(H, W, 3) float32`` in
    ``[0, 1]``, appending what was done to ``notes``."""
    tiff = _is_tiff(source)
    with warnings.catch_warnings():
        # Pillow warns on odd but readable files (e.g. bad EXIF, huge images); the
        # image is still decoded, and a CLI must not turn those into failures.
        warnings.simplefilter("ignore")
        try:
            pil = Image.open(source)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            if not tiff:
                raise
            return _read_tiff(source, path, notes)
        with pil:
            if tiff and not _pillow_reads_exactly(pil):
                return _read_tiff(source, path, notes)
            orientation = _exif_orientation(pil)  # before load(): a TIFF's is gone after
            pil.load()
            n_frames = getattr(pil, "n_frames", 1)
            if n_frames > 1:
                notes.append(f"{n_frames} frames/pages, used the first")
            try:
                upright = ImageOps.exif_transpose(pil)
            except Exception as e:  # noqa: BLE001 - a broken EXIF block must not lose the image
                notes.append(f"EXIF orientation ignored ({e})")
                upright = pil
            if orientation not in (None, 1) and upright is not pil:
                notes.append(f"applied EXIF orientation {orientation}")
            return _to_float_rgb(path, upright, notes)


def _is_tiff(source: Path | io.BytesIO) -> bool:
    if isinstance(source, io.BytesIO):
        return source.getvalue()[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
    with open(source, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic, BigTIFF


# Pillow modes that hold a TIFF's unsigned samples unchanged: up to 8 bits, or 16-bit
# grayscale. Pillow reads other sample types at 8 bits (16-bit RGB), wrapped (uint32,
# int8), ambiguous ("I", "F") or not at all (float RGB, float64), so tifffile reads them.
_PILLOW_EXACT_TIFF_MODES = frozenset(
    {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB"}
)


def _pillow_reads_exactly(pil: Image.Image) -> bool:
    tags = getattr(pil, "tag_v2", {})
    bits, sample_format = tags.get(258, (8,)), tags.get(339, (1,))
    bits = bits if isinstance(bits, tuple) else (bits,)
    sample_format = sample_format if isinstance(sample_format, tuple) else (sample_format,)
    if any(f != 1 for f in sample_format):
        return False
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return True
    return pil.mode in _PILLOW_EXACT_TIFF_MODES and all(b <= 8 for b in bits)


def _exif_orientation(pil: Image.Image) -> int | None:
    try:
        return pil.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - unreadable EXIF simply means no orientation
        return None


def _to_float_rgb(path: Path, pil: Image.Image, notes: list[str]) -> np.ndarray:
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
        # 16-bit grayscale PNG, PNM or TIFF (TIFFs wider than 16 bits, float or signed go
        # through tifffile): at most 16 bits here, and Pillow scales a PNM's maxval to 65535.
        values = np.asarray(pil).astype(np.float32)
        notes.append(f"16-bit ({mode}) scaled by 65535")
        gray = np.clip(values, 0.0, 65535.0) / 65535.0
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode == "F":
        gray = _scale_samples(np.asarray(pil, dtype=np.float32), notes)
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        if mode in ("1", "L"):
            notes.append("grayscale replicated to RGB")
        return np.asarray(pil.convert("RGB"), dtype=np.float32) / 255.0
    raise ImageReadError(path, f"unsupported image mode {mode!r}; convert it to RGB")


def _scale_samples(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """Colour samples of any dtype to ``float32`` in ``[0, 1]``.

    Unsigned integers (and signed ones without negative values) are divided by the
    maximum of their type, so a dark image stays dark; floats in ``[0, 1]`` are kept;
    anything else (floats outside ``[0, 1]``, negative integers) is min-max normalised.
    NaN and inf pass through (the caller refuses them).
    """
    if values.dtype == np.bool_:
        return values.astype(np.float32)
    lo, hi = float(np.min(values)), float(np.max(values))
    if np.issubdtype(values.dtype, np.integer) and lo >= 0:
        top = np.iinfo(values.dtype).max
        if values.dtype != np.uint8:
            notes.append(f"{values.dtype} samples scaled by {top} (the range of the type)")
        return (values.astype(np.float64) / top).astype(np.float32)
    if np.issubdtype(values.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        return values.astype(np.float32)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return values.astype(np.float32)
    notes.append(f"{values.dtype} samples in [{lo:g}, {hi:g}] min-max normalised to [0, 1]")
    if hi == lo:
        return np.zeros(values.shape, np.float32)
    return ((values.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)


# TIFF orientation tag -> the array operation that shows the image upright (the
# transposes of PIL.ImageOps.exif_transpose, for arrays Pillow cannot hold).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def _read_tiff(source: Path | io.BytesIO, path: Path, notes: list[str]) -> np.ndarray:
    """A TIFF through ``tifffile``: any sample type (8-64-bit integer, float), first page."""
    import tifffile

    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        with tifffile.TiffFile(source) as tif:
            page = tif.pages.first
            n_pages = len(tif.pages)
            array = np.asarray(page.asarray())
            axes = page.axes
            photometric = page.photometric
            orientation = page.tags.valueof(274, 1)
    except Exception as e:  # noqa: BLE001 - any decoder failure is a bad file, said with why
        raise ImageReadError(path, f"corrupt or unsupported TIFF ({type(e).__name__}: {e})") from e
    if n_pages > 1:
        notes.append(f"{n_pages} frames/pages, used the first")
    if array.ndim == 3 and axes.startswith("S"):
        array = np.moveaxis(array, 0, -1)  # planar (S, H, W) -> (H, W, S)
    if array.ndim == 2:
        array = array[..., None]
    kinds = {tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE}
    if photometric == tifffile.PHOTOMETRIC.RGB:
        colour = 3
    elif photometric in kinds:
        colour = 1
    else:
        raise ImageReadError(
            path,
            f"unsupported TIFF: {array.dtype} samples with photometric "
            f"{getattr(photometric, 'name', photometric)}; save it as grayscale or RGB",
        )
    if array.ndim != 3 or array.shape[-1] < colour:
        raise ImageReadError(path, f"unsupported TIFF layout {array.shape} (axes {axes})")
    image = _scale_samples(array[..., :colour], notes)
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        image = 1.0 - image
    if array.shape[-1] > colour:  # the first extra sample is alpha
        alpha = np.clip(_scale_samples(array[..., colour : colour + 1], []), 0.0, 1.0)
        if np.any(alpha < 1.0):
            notes.append("alpha composited on white")
        image = image * alpha + (1.0 - alpha)
    if colour == 1:
        notes.append("grayscale replicated to RGB")
        image = np.repeat(image, 3, axis=-1)
    if orientation in _ORIENT:
        image = _ORIENT[orientation](image)
        notes.append(f"applied EXIF orientation {orientation}")
    return np.ascontiguousarray(image, dtype=np.float32)


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
