"""Reading benchmark inputs and writing benchmark outputs (host NumPy).

Result formats (one file per image, named ``<image_id>.<ext>``):

* ``.mat`` with a variable ``ucm2``: an ultrametric contour map in "double size"
  layout, ``(2H+1, 2W+1)`` float in ``[0, 1]`` (pixel ``(r, c)`` at ``[2r+1, 2c+1]``).
* ``.mat`` with a variable ``segs``: a ``1 x n`` cell of ``(H, W)`` integer label
  images with labels ``>= 1``, one per scale.
* ``.png``, read as :data:`PNG_KINDS` says (``png=`` of :func:`load_result`):
  ``"boundary"`` (the default): a grayscale boundary map, ``pb = value / 255`` (8-bit) or
  ``value / 65535`` (16-bit), boundary benchmark only; ``"labels"``: a grayscale 8- or
  16-bit label image, one segmentation (``segs`` with ``n = 1``; any label values, 0
  included: they are renumbered ``1..k``, which changes no measure).
* ``.npz`` (jaxseg's own format, written by :func:`save_npz_result`): key ``ucm2``
  holding a ``(2H+1, 2W+1)`` float array in ``[0, 1]`` and/or key ``segs`` holding an
  ``(n, H, W)`` integer array with labels ``>= 1``.  When both are present the
  benchmark uses ``ucm2`` (as the official code does for ``.mat`` files).

Ground truth (``<gt_dir>/<image_id>.mat``): the BSDS500 ``groundTruth`` cell array;
:func:`load_groundtruth` (the one reader, also :func:`jaxseg.data.bsds500.read_ground_truth`)
returns the ``Segmentation`` (int32, labels ``>= 1``) and ``Boundaries`` (bool) maps of
every annotator as one :class:`GroundTruth`.

Output text files use the official ``%10g`` formatting (:func:`format_row`) and
are written atomically (temp file in the same directory, then ``os.replace``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.io

from jaxseg.fileio import write_bytes_atomic

RESULT_EXTENSIONS = (".mat", ".npz", ".png")
PNG_KINDS = ("boundary", "labels")
"""How a ``.png`` result is read: a boundary map or a label image."""


@dataclass(frozen=True)
class Result:
    """One image's machine result.

    Attributes:
        kind: ``"ucm2"`` (``(2H+1, 2W+1)`` float64), ``"segs"`` (``(n, H, W)`` int64,
            labels >= 1) or ``"pb"`` (``(H, W)`` float64 soft boundary map in [0, 1]).
        data: the array.
    """

    kind: str
    data: np.ndarray


class Annotation(NamedTuple):
    """One human annotation of an image.

    Attributes:
        segmentation: ``(H, W) int32`` region labels ``1..n`` (as stored, never 0).
        boundaries: ``(H, W) bool`` boundary map as stored (``thin(seg2bdry(.))``).
    """

    segmentation: np.ndarray
    boundaries: np.ndarray


@dataclass(frozen=True)
class GroundTruth:
    """All annotators of one image: THE ground-truth type of the package.

    Iterating (or indexing) gives one :class:`Annotation` per annotator.

    Attributes:
        segmentations: K arrays ``(H, W)`` int32 with labels >= 1.
        boundaries: K arrays ``(H, W)`` bool.
    """

    segmentations: list[np.ndarray]
    boundaries: list[np.ndarray]

    @property
    def shape(self) -> tuple[int, int]:
        return self.segmentations[0].shape

    def __len__(self) -> int:
        return len(self.segmentations)

    def __getitem__(self, k: int) -> Annotation:
        return Annotation(self.segmentations[k], self.boundaries[k])

    def __iter__(self) -> Iterator[Annotation]:
        return (Annotation(s, b) for s, b in zip(self.segmentations, self.boundaries, strict=True))


def as_result(
    value: Result | np.ndarray | Sequence[np.ndarray],
    *,
    kind: str | None = None,
    shape: tuple[int, int] | None = None,
) -> Result:
    """Wraps an in-memory result into a :class:`Result`, inferring its kind.

    Args:
        value: a :class:`Result` (checked again); a list of ``(H, W)`` label images or an
            ``(n, H, W)`` array (``segs``); a 2-D integer array (one label image, ``segs``);
            a 2-D float array: ``ucm2`` if it is ``(2H+1, 2W+1)`` for the image size
            ``shape``, ``pb`` if it is ``(H, W)`` (without ``shape``: ``ucm2`` iff both sides
            are odd).
        kind: force ``"ucm2"``, ``"segs"`` or ``"pb"``.
        shape: the image size ``(H, W)`` (from the ground truth), to tell ucm2 from pb.

    Returns:
        The :class:`Result` with float64 (ucm2/pb) or int64 (segs) data.

    Raises:
        ValueError: the kind cannot be told, or the values are not finite, outside
            ``[0, 1]`` (ucm2/pb) or not integers (segs).
    """
    if isinstance(value, Result):
        kind, value = value.kind, value.data
    if isinstance(value, list | tuple):
        if len(value) == 0:
            raise ValueError("empty list of segmentations; pass at least one (H, W) label image")
        value = np.stack([np.asarray(v) for v in value])
        kind = kind or "segs"
    arr = np.asarray(value)
    if kind is None:
        if arr.ndim == 3 or (arr.ndim == 2 and np.issubdtype(arr.dtype, np.integer)):
            kind = "segs"
        elif arr.ndim == 2 and shape is not None:
            h, w = shape
            if arr.shape == (2 * h + 1, 2 * w + 1):
                kind = "ucm2"
            elif arr.shape == (h, w):
                kind = "pb"
            else:
                raise ValueError(
                    f"a result of shape {arr.shape} fits neither a ucm2 ({2 * h + 1}, "
                    f"{2 * w + 1}) nor a boundary map {(h, w)} for an image of size {(h, w)}"
                )
        elif arr.ndim == 2:
            kind = "ucm2" if arr.shape[0] % 2 == 1 and arr.shape[1] % 2 == 1 else "pb"
        else:
            raise ValueError(
                f"cannot interpret a result of shape {arr.shape}; expected a (2H+1, 2W+1) ucm2, "
                "an (H, W) boundary map or an (n, H, W) stack of label images"
            )
    if kind == "segs":
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"segs must have shape (n, H, W), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"segs must hold integer labels, got dtype {arr.dtype}")
        return Result("segs", arr.astype(np.int64))
    if kind in ("ucm2", "pb"):
        if arr.ndim != 2:
            raise ValueError(f"{kind} must be a 2-D array, got shape {arr.shape}")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(
                f"{kind} contains NaN or infinite values; fix the map before evaluating"
            )
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            raise ValueError(
                f"{kind} values must lie in [0, 1], found [{lo:g}, {hi:g}]; divide an 8-bit "
                "map (0..255) by 255, rescale any other map to [0, 1]"
            )
        return Result(kind, arr)
    raise ValueError(f"unknown result kind {kind!r}; use 'ucm2', 'segs' or 'pb'")


def _loadmat(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError as e:  # v7.3 (HDF5) files
        raise ValueError(
            f"{path} is a MATLAB v7.3 (HDF5) file; re-save it with save(..., '-v7') so that "
            "scipy.io.loadmat can read it without transposing"
        ) from e
    except Exception as e:  # noqa: BLE001 - scipy raises many types for corrupt files
        raise ValueError(f"cannot read {path} as a MATLAB file ({type(e).__name__}: {e})") from e


def _cell_to_list(cell: np.ndarray, name: str, path: Path) -> list[np.ndarray]:
    if cell.dtype != object:
        return [np.asarray(cell)]
    return [np.asarray(c) for c in cell.ravel()]


def load_result(path: str | os.PathLike, *, png: str = "boundary") -> Result:
    """Reads one machine result file (``.mat``, ``.npz`` or ``.png``).

    Args:
        path: the file.
        png: how a ``.png`` is read (:data:`PNG_KINDS`): ``"boundary"``, a grayscale
            boundary map (8-bit ``/ 255``, 16-bit ``/ 65535``), or ``"labels"``, a grayscale
            8- or 16-bit label image (renumbered ``1..k``).

    Returns:
        A :class:`Result` (``ucm2`` preferred over ``segs`` when a file holds both),
        checked by :func:`as_result`.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is unreadable, holds neither ``ucm2`` nor ``segs``, or its
            values are bad (see :func:`as_result`); the message names the file.
    """
    path = Path(path)
    if png not in PNG_KINDS:
        raise ValueError(f"png must be one of {PNG_KINDS}, got {png!r}")
    kind, data = _read_result(path, png)
    try:
        return as_result(data, kind=kind)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def _read_result(path: Path, png: str = "boundary") -> tuple[str, np.ndarray]:
    """``(kind, array)`` as stored in the file, not yet checked."""
    ext = path.suffix.lower()
    if ext == ".mat":
        m = _loadmat(path)
        if "ucm2" in m:
            return "ucm2", m["ucm2"]
        if "segs" in m:
            segs = _cell_to_list(m["segs"], "segs", path)
            shapes = {s.shape for s in segs}
            if len(shapes) != 1:
                raise ValueError(
                    f"{path}: the segs cell holds label images of different shapes {shapes}"
                )
            return "segs", np.stack(segs)
        keys = sorted(k for k in m if not k.startswith("__"))
        raise ValueError(f"{path} holds neither 'ucm2' nor 'segs' (variables: {keys})")
    if ext == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        try:
            # our own handle: np.load leaks its file when the zip is broken
            with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
                for kind in ("ucm2", "segs"):
                    if kind in z.files:
                        return kind, z[kind]
                keys = sorted(z.files)
        except Exception as e:  # noqa: BLE001 - zipfile, zlib and numpy raise many types
            reason = f"{type(e).__name__}: {e}"
            raise ValueError(f"cannot read {path} as an .npz file ({reason})") from e
        raise ValueError(f"{path} holds neither 'ucm2' nor 'segs' (keys: {keys})")
    if ext == ".png":
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        from PIL import Image

        try:
            with Image.open(path) as im:
                if im.mode == "P" and png == "boundary":  # palette indices are no levels
                    im = im.convert("RGB")
                img = np.asarray(im)
        except Exception as e:  # noqa: BLE001 - Pillow raises many types for broken files
            raise ValueError(f"cannot read {path} as a PNG image ({e})") from e
        if img.ndim == 2 and img.dtype == np.int32 and img.size and img.min() >= 0:
            if img.max() <= np.iinfo(np.uint16).max:  # Pillow opens some 16-bit PNGs as "I"
                img = img.astype(np.uint16)
        what = "boundary map" if png == "boundary" else "label image"
        if img.ndim != 2:
            raise ValueError(
                f"{path}: expected a grayscale (one-channel) {what}, got shape {img.shape}; "
                "save it as an 8- or 16-bit grayscale PNG"
            )
        if img.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{path}: expected an 8- or 16-bit PNG, got dtype {img.dtype}")
        if png == "labels":
            _, labels = np.unique(img, return_inverse=True)
            return "segs", labels.reshape(1, *img.shape) + 1
        return "pb", img.astype(np.float64) / float(np.iinfo(img.dtype).max)
    raise ValueError(f"unsupported result file {path}; use one of {RESULT_EXTENSIONS}")


def load_groundtruth(path: str | os.PathLike) -> GroundTruth:
    """Reads a BSDS500 ground-truth ``.mat`` file: THE ground-truth reader of the package.

    Args:
        path: ``groundTruth/<split>/<id>.mat`` holding the ``groundTruth`` cell array.

    Returns:
        :class:`GroundTruth` with K ``(H, W)`` int32 segmentations (labels ``>= 1``) and
        bool boundaries.

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: the file is corrupt, has no ``groundTruth`` variable or no annotators,
            an annotator lacks a field, has labels < 1, or the maps disagree in shape (the
            message names the file).
    """
    path = Path(path)
    try:
        m = _loadmat(path)
    except ValueError as e:
        raise ValueError(
            f"cannot read BSDS500 ground truth {path} ({e}); the file is corrupt, "
            "re-extract BSDS500."
        ) from e
    if "groundTruth" not in m:
        keys = sorted(k for k in m if not k.startswith("__"))
        raise ValueError(
            f"cannot read BSDS500 ground truth {path}: no 'groundTruth' variable "
            f"(variables: {keys}); expected a 1xK cell array of structs with fields "
            "Segmentation and Boundaries."
        )
    cell = m["groundTruth"]
    if cell.size == 0:
        raise ValueError(f"{path}: the groundTruth cell is empty (no annotators)")
    segs, bdrys = [], []
    for k, entry in enumerate(cell.ravel()):
        try:
            seg = np.asarray(entry["Segmentation"][0, 0]).astype(np.int32)
            bdry = np.asarray(entry["Boundaries"][0, 0]).astype(bool)
        except (ValueError, IndexError, KeyError, TypeError) as e:
            raise ValueError(
                f"{path}: annotator {k} lacks a 'Segmentation' or 'Boundaries' field ({e})"
            ) from e
        if seg.ndim != 2 or seg.shape != bdry.shape:
            raise ValueError(
                f"{path}: annotator {k} has Segmentation {seg.shape} and Boundaries {bdry.shape}"
            )
        if seg.size and seg.min() < 1:
            raise ValueError(
                f"{path}: annotator {k}: labels must be >= 1, found {seg.min()}; "
                "the file is not BSDS500 ground truth."
            )
        segs.append(seg)
        bdrys.append(bdry)
    if len({s.shape for s in segs}) != 1:
        raise ValueError(f"{path}: annotators have different shapes {[s.shape for s in segs]}")
    return GroundTruth(segs, bdrys)


def save_npz_result(
    path: str | os.PathLike, *, ucm2: np.ndarray | None = None, segs: np.ndarray | None = None
) -> None:
    """Saves a jaxseg result for the benchmark (atomic write).

    Args:
        path: destination, normally ``<dir>/<image_id>.npz``.
        ucm2: optional ``(2H+1, 2W+1)`` float map with values in ``[0, 1]``.
        segs: optional ``(n, H, W)`` (or one ``(H, W)``) integer label images, labels >= 1.

    Raises:
        ValueError: neither array given, bad shapes/values, or ucm2/segs sizes disagree.
    """
    if ucm2 is None and segs is None:
        raise ValueError("save_npz_result needs ucm2=... and/or segs=...")
    arrays = {}
    if ucm2 is not None:
        u = as_result(ucm2, kind="ucm2").data
        if u.shape[0] % 2 == 0 or u.shape[1] % 2 == 0:
            raise ValueError(f"ucm2 must have shape (2H+1, 2W+1), got {u.shape}")
        arrays["ucm2"] = u
    if segs is not None:
        s = as_result(segs, kind="segs").data
        if s.min() < 1:
            raise ValueError(
                f"segs labels must be >= 1, got minimum {s.min()}; add 1 to 0-based labels"
            )
        arrays["segs"] = s.astype(np.int32)
    if "ucm2" in arrays and "segs" in arrays:
        h, w = arrays["segs"].shape[1:]
        if arrays["ucm2"].shape != (2 * h + 1, 2 * w + 1):
            raise ValueError(
                f"ucm2 shape {arrays['ucm2'].shape} does not fit segs of size {(h, w)}"
            )
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: the result file name must end in .npz")
    write_bytes_atomic(path, lambda f: np.savez_compressed(f, **arrays))


def fmt_g(x: float) -> str:
    """``%10g`` as MATLAB/C print it."""
    return f"{float(x):10g}"


def round_g(x):
    """Rounds to 6 significant digits exactly as a ``%g`` print/read round trip does."""
    if np.ndim(x) == 0:
        return float(f"{float(x):g}")
    return np.array([float(f"{float(v):g}") for v in np.ravel(x)]).reshape(np.shape(x))


def format_row(values: Sequence[float], *, int_first: bool = False) -> str:
    """One output line: ``%10g`` columns (first as ``%10d`` if ``int_first``) joined by spaces."""
    parts = [f"{int(values[0]):10d}" if int_first else fmt_g(values[0])]
    parts += [fmt_g(v) for v in values[1:]]
    return " ".join(parts) + "\n"


def format_table(rows, *, int_first: bool = False) -> str:
    return "".join(format_row(list(r), int_first=int_first) for r in rows)


def read_table(path: str | os.PathLike) -> np.ndarray:
    """Reads a whitespace-separated numeric text file into a 2-D float64 array."""
    path = Path(path)
    rows = [
        list(map(float, line.split())) for line in path.read_text().splitlines() if line.strip()
    ]
    return np.array(rows, dtype=np.float64).reshape(len(rows), -1)


def sorted_ids(ids) -> list[str]:
    """Image ids in MATLAB ``dir`` order (byte-wise string sort, e.g. '100007' < '10081')."""
    return sorted(ids, key=lambda s: s.encode())


def list_image_ids(directory: str | os.PathLike, extensions: Sequence[str]) -> list[str]:
    """Stems of the files in ``directory`` with one of ``extensions``, byte-sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    exts = {e.lower() for e in extensions}
    return sorted_ids({p.stem for p in directory.iterdir() if p.suffix.lower() in exts})
