"""Reading BSDS500 from its upstream directory layout (host NumPy).

Layout (the January 2013 release)::

    BSDS500/                       <- "root"
      data/                        <- "data folder" (what resolve_data_dir returns)
        images/{train,val,test}/<id>.jpg
        groundTruth/{train,val,test}/<id>.mat

Either the root or its ``data/`` folder is accepted everywhere. The folder
comes from the ``--data-dir`` flag, else from ``$JAXSEG_DATA``.

Images are returned as ``(H, W, 3) uint8`` (decoded by :func:`jaxseg.io.decode_image`);
ground truth as a :class:`GroundTruth` (:mod:`jaxseg.metrics.io`, read by
:func:`jaxseg.metrics.io.load_groundtruth`), which iterates one annotation per human
annotator with ``segmentation (H, W) int32`` labels ``1..n`` as stored and
``boundaries (H, W) bool``. Ids are sorted as
strings (the benchmark's order, METRICS.md §1.5).

Every (image, annotator) pair is a sample (wang2020 §3.5): 1633 pairs in
train + val, 1063 in test.

Two sources give the same records (docs/data.md): ``source="folder"`` reads the
tree above, ``source="tfds"`` the ``bsds500`` TFDS dataset prepared from it
(:mod:`jaxseg.data.tfds_bsds500`, no TensorFlow needed). :func:`iter_split`,
:func:`load_split` and :func:`load_bsds500` take ``source`` and ``tfds_dir``;
:func:`source_options` reads them from a ``config.data``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from jaxseg import io as image_io
from jaxseg.metrics.io import GroundTruth, load_groundtruth

__all__ = [
    "ENV_VAR",
    "SOURCES",
    "SPLITS",
    "BSDS500",
    "GroundTruth",
    "ImageRecord",
    "check_record",
    "decode_image",
    "ground_truth_path",
    "image_path",
    "iter_split",
    "list_ids",
    "load_bsds500",
    "load_split",
    "read_ground_truth",
    "read_image",
    "resolve_data_dir",
    "source_options",
]

ENV_VAR = "JAXSEG_DATA"
SPLITS = ("train", "val", "test")
SOURCES = ("folder", "tfds")


def find_data_folder(path: str | os.PathLike, holding: str = "images") -> Path | None:
    """The BSDS500 data folder at ``path`` (the root or its ``data/`` folder) that holds
    the subfolder ``holding`` (e.g. ``"images"`` or ``"groundTruth/test"``), else None."""
    path = Path(path)
    for candidate in (path / "data", path):
        if (candidate / holding).is_dir():
            return candidate
    return None


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Finds the BSDS500 data folder (the one holding ``images/`` and ``groundTruth/``).

    Args:
      data_dir: the ``--data-dir`` flag value; when None or empty,
        ``$JAXSEG_DATA`` is used. Either the BSDS500 root (holding
        ``data/images``) or its ``data/`` folder.

    Returns:
      The absolute path of the data folder (``.../BSDS500/data``).

    Raises:
      FileNotFoundError: nothing given, the folder does not exist, or it does
        not hold BSDS500 ``images/``; the message names the flag and the
        environment variable.
    """
    if data_dir:
        source = f"--data-dir={data_dir}"
        path = Path(data_dir)
    elif os.environ.get(ENV_VAR):
        source = f"${ENV_VAR}={os.environ[ENV_VAR]}"
        path = Path(os.environ[ENV_VAR])
    else:
        raise FileNotFoundError(
            f"No BSDS500 directory given: pass --data-dir or set ${ENV_VAR} to the BSDS500 "
            "root (the folder holding data/images and data/groundTruth) or to its data/ folder."
        )
    path = path.expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"BSDS500 directory {path} (from {source}) does not exist; fix --data-dir or "
            f"${ENV_VAR}."
        )
    folder = find_data_folder(path)
    if folder is None:
        raise FileNotFoundError(
            f"{path} (from {source}) is not a BSDS500 directory: neither {path / 'data/images'} "
            f"nor {path / 'images'} exists. Point --data-dir or ${ENV_VAR} at the BSDS500 root "
            "or its data/ folder."
        )
    return folder.resolve()


def _folder(data_dir: str | os.PathLike) -> Path:
    folder = find_data_folder(Path(data_dir))
    if folder is None:
        raise FileNotFoundError(
            f"{data_dir} is not a BSDS500 directory (no data/images or images folder); "
            "use resolve_data_dir() to find it."
        )
    return folder


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")


def list_ids(data_dir: str | os.PathLike, split: str) -> list[str]:
    """Image ids of a split, sorted as strings (``'100007' < '10081'``).

    Args:
      data_dir: BSDS500 root or data folder.
      split: ``'train'``, ``'val'`` or ``'test'``.

    Returns:
      List of ids (file stems of ``images/<split>/*.jpg``).

    Raises:
      FileNotFoundError: the split folder is missing or holds no images.
    """
    _check_split(split)
    split_dir = _folder(data_dir) / "images" / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"BSDS500 split folder {split_dir} is missing.")
    ids = sorted(p.stem for p in split_dir.glob("*.jpg"))
    if not ids:
        raise FileNotFoundError(f"BSDS500 split folder {split_dir} holds no .jpg images.")
    return ids


def image_path(data_dir: str | os.PathLike, split: str, image_id: str) -> Path:
    """``<data>/images/<split>/<id>.jpg``."""
    _check_split(split)
    return _folder(data_dir) / "images" / split / f"{image_id}.jpg"


def ground_truth_path(data_dir: str | os.PathLike, split: str, image_id: str) -> Path:
    """``<data>/groundTruth/<split>/<id>.mat``."""
    _check_split(split)
    return _folder(data_dir) / "groundTruth" / split / f"{image_id}.mat"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decodes an image file to ``(H, W, 3) uint8`` RGB (:func:`decode_image`).

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: the file cannot be decoded (named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist.")
    return decode_image(path.read_bytes(), path)


def decode_image(encoded: bytes, name: str | os.PathLike) -> np.ndarray:
    """Decodes encoded image bytes (a JPEG file's content) to ``(H, W, 3) uint8`` RGB.

    The decoder of both sources (:func:`read_image` and the TFDS reader, which stores
    the original JPEG bytes), so that they give the same pixels; it is
    :func:`jaxseg.io.decode_image`, the package's one image decoder, at 8 bits.

    Args:
      encoded: the encoded file content.
      name: where the bytes come from, for the error message.

    Raises:
      ValueError: the bytes cannot be decoded (``name`` in the message).
    """
    try:
        return image_io.decode_image(encoded, name).display
    except image_io.ImageReadError as e:
        raise ValueError(
            f"cannot decode image {name} ({e.reason}); the file is corrupt or truncated, "
            "re-extract BSDS500."
        ) from e


#: Reads a BSDS500 ground-truth ``.mat`` file into a :class:`GroundTruth` (one
#: :class:`~jaxseg.metrics.io.Annotation` per human when iterated); the package's one
#: reader, :func:`jaxseg.metrics.io.load_groundtruth`.
read_ground_truth = load_groundtruth


class ImageRecord(NamedTuple):
    """One decoded BSDS500 image with all its annotations.

    Attributes:
      id: image id (file stem).
      image: ``(H, W, 3) uint8``.
      segmentations: per human, ``(H, W) int32`` labels ``1..n``.
      boundaries: per human, ``(H, W) bool``.
    """

    id: str
    image: np.ndarray
    segmentations: tuple[np.ndarray, ...]
    boundaries: tuple[np.ndarray, ...]


def source_options(data_config: Mapping | None) -> dict:
    """``source`` and ``tfds_dir`` keyword arguments from a ``config.data``.

    Args:
      data_config: a mapping (``ml_collections.ConfigDict``) with optional fields
        ``source`` (``"folder"`` when absent) and ``tfds_dir`` (``""`` or absent:
        TFDS's default data directory); None gives the defaults.

    Returns:
      ``{"source": ..., "tfds_dir": ... or None}`` for :func:`iter_split`,
      :func:`load_split` and :func:`load_bsds500`.

    Raises:
      ValueError: ``source`` is not one of :data:`SOURCES`.
    """
    data_config = data_config or {}
    source = data_config.get("source", "folder")
    _check_source(source, "config.data.source")
    return {"source": source, "tfds_dir": data_config.get("tfds_dir") or None}


def _check_source(source: str, name: str = "source") -> None:
    if source not in SOURCES:
        raise ValueError(
            f"{name}={source!r} is not a BSDS500 source; use one of {SOURCES} (docs/data.md)."
        )


def iter_split(
    data_dir: str | os.PathLike | None,
    split: str,
    *,
    limit: int | None = None,
    progress: bool = False,
    source: str = "folder",
    tfds_dir: str | os.PathLike | None = None,
    ground_truth: bool = True,
) -> Iterator[ImageRecord]:
    """Yields the decoded images and ground truth of one split in id (string) order.

    One record at a time (bounded memory). Both sources give the same records.

    Args:
      data_dir: BSDS500 root or data folder; None uses ``$JAXSEG_DATA``. Only read
        with ``source="folder"``.
      split: ``'train'``, ``'val'`` or ``'test'``.
      limit: keep the first ``limit`` images; None or 0 keeps all.
      progress: show a tqdm progress bar.
      source: ``"folder"`` (the BSDS500 tree) or ``"tfds"`` (the prepared
        ``bsds500`` TFDS dataset, see :mod:`jaxseg.data.tfds_bsds500`).
      tfds_dir: the TFDS data directory of ``source="tfds"``; None: TFDS's default
        (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``).
      ground_truth: False leaves ``segmentations`` and ``boundaries`` empty (not read).

    Raises:
      ValueError: unknown ``source`` or ``split``.
      FileNotFoundError: the folder is not BSDS500, or the TFDS dataset is not
        prepared in ``tfds_dir`` (the message gives the command that prepares it).
    """
    _check_source(source)
    _check_split(split)
    if source == "tfds":
        from jaxseg.data import tfds_bsds500  # imports tensorflow_datasets (slow)

        return tfds_bsds500.read_records(
            tfds_dir, split, limit=limit, progress=progress, ground_truth=ground_truth
        )
    return _records(
        resolve_data_dir(data_dir), split, limit=limit, progress=progress, ground_truth=ground_truth
    )


def load_split(
    data_dir: str | os.PathLike | None,
    split: str,
    *,
    limit: int | None = None,
    progress: bool = False,
    source: str = "folder",
    tfds_dir: str | os.PathLike | None = None,
) -> list[ImageRecord]:
    """Decodes the images and ground truth of one split, in id (string) order.

    Args:
      data_dir: BSDS500 root or data folder; None uses ``$JAXSEG_DATA`` (only read
        with ``source="folder"``).
      split: ``'train'``, ``'val'`` or ``'test'``.
      limit: keep the first ``limit`` images; None or 0 keeps all.
      progress: show a tqdm progress bar.
      source: ``"folder"`` or ``"tfds"`` (:func:`iter_split`).
      tfds_dir: the TFDS data directory of ``source="tfds"``.

    Returns:
      A list of :class:`ImageRecord`, the same from both sources.
    """
    return list(
        iter_split(
            data_dir, split, limit=limit, progress=progress, source=source, tfds_dir=tfds_dir
        )
    )


def check_record(record: ImageRecord, where: str | os.PathLike) -> ImageRecord:
    """Raises ValueError naming ``where`` when an annotation's shape is not the image's."""
    for k, seg in enumerate(record.segmentations):
        if seg.shape != record.image.shape[:2] or record.boundaries[k].shape != seg.shape:
            raise ValueError(
                f"ground truth {where} annotator {k} has shape {seg.shape} (boundaries "
                f"{record.boundaries[k].shape}), image has {record.image.shape[:2]}."
            )
    return record


def _records(folder: Path, split: str, *, limit: int | None, progress: bool, ground_truth=True):
    """Yields the :class:`ImageRecord` of a split one by one (bounded memory)."""
    ids = list_ids(folder, split)
    if limit:
        ids = ids[:limit]
    for image_id in tqdm(ids, desc=f"loading {split}", unit="img", disable=not progress):
        image = read_image(image_path(folder, split, image_id))
        gt_path = ground_truth_path(folder, split, image_id)
        gts = read_ground_truth(gt_path) if ground_truth else []
        record = ImageRecord(
            image_id,
            image,
            tuple(g.segmentation for g in gts),
            tuple(g.boundaries for g in gts),
        )
        yield check_record(record, gt_path)


def _compact(seg: np.ndarray) -> np.ndarray:
    return seg.astype(np.uint16) if seg.max() < 2**16 else seg


@dataclasses.dataclass(frozen=True)
class BSDS500:
    """Decoded BSDS500 images and ground truth, kept in memory.

    Attributes:
      ids: image ids, in split order then string order.
      splits: the split of each image.
      images: ``(H, W, 3) uint8`` images (``481x321`` or ``321x481``).
      segmentations: per image, a list of ``(H, W)`` human segmentations stored
        as ``uint16`` (labels ``1..n``; half the memory of int32; int32 if
        a label does not fit).
      boundaries: per image, a list of ``(H, W) bool`` boundary maps, or None
        when loaded with ``with_boundaries=False``.
      samples: ``(num_samples, 2) int32`` (image index, annotator index) for
        every (image, annotator) pair, image-major.
    """

    ids: tuple[str, ...]
    splits: tuple[str, ...]
    images: tuple[np.ndarray, ...]
    segmentations: tuple[tuple[np.ndarray, ...], ...]
    boundaries: tuple[tuple[np.ndarray, ...], ...] | None
    samples: np.ndarray

    def __len__(self) -> int:
        """Number of (image, annotator) samples."""
        return len(self.samples)

    @property
    def num_images(self) -> int:
        return len(self.ids)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image ``(H, W, 3) uint8``, segmentation ``(H, W) int32``) of a sample."""
        i, k = (int(v) for v in self.samples[index])
        return self.images[i], self.segmentations[i][k].astype(np.int32)

    def ground_truth(self, image_index: int) -> list[np.ndarray]:
        """All human segmentations of an image as ``(H, W) int32`` (for the metrics)."""
        return [s.astype(np.int32) for s in self.segmentations[image_index]]


def load_bsds500(
    data_dir: str | os.PathLike | None = None,
    splits: Sequence[str] = ("train", "val"),
    *,
    max_images: int | None = None,
    with_boundaries: bool = False,
    progress: bool = True,
    source: str = "folder",
    tfds_dir: str | os.PathLike | None = None,
) -> BSDS500:
    """Reads and decodes BSDS500 splits into memory.

    Args:
      data_dir: BSDS500 root or data folder; None uses ``$JAXSEG_DATA``
        (see :func:`resolve_data_dir`).
      splits: which splits, in order (default train + val, the training set of
        wang2020).
      max_images: keep only the first ``max_images`` images (over the splits in
        order), for tiny test configurations; None keeps all.
      with_boundaries: also keep the boundary maps (not needed for training).
      progress: show a tqdm progress bar.
      source: ``"folder"`` or ``"tfds"`` (:func:`iter_split`); the same samples.
      tfds_dir: the TFDS data directory of ``source="tfds"``.

    Returns:
      A :class:`BSDS500` (train + val: 300 images, 1633 samples).
    """
    _check_source(source)
    if source == "folder":
        data_dir = resolve_data_dir(data_dir)  # fail before anything is read
    if isinstance(splits, str):
        splits = (splits,)
    for split in splits:
        _check_split(split)
    if max_images is not None and (not isinstance(max_images, int) or max_images < 1):
        raise ValueError(f"max_images must be a positive int or None, got {max_images!r}.")
    ids, split_of, images, segs, bdrys, samples = [], [], [], [], [], []
    for split in splits:
        left = None if max_images is None else max_images - len(ids)
        if left == 0:
            break
        records = iter_split(
            data_dir, split, limit=left, progress=progress, source=source, tfds_dir=tfds_dir
        )
        for record in records:
            samples += [(len(ids), k) for k in range(len(record.segmentations))]
            ids.append(record.id)
            split_of.append(split)
            images.append(record.image)
            segs.append(tuple(_compact(s) for s in record.segmentations))
            if with_boundaries:
                bdrys.append(record.boundaries)
    return BSDS500(
        ids=tuple(ids),
        splits=tuple(split_of),
        images=tuple(images),
        segmentations=tuple(segs),
        boundaries=tuple(bdrys) if with_boundaries else None,
        samples=np.asarray(samples, np.int32).reshape(-1, 2),
    )
