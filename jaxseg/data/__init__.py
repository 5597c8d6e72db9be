"""BSDS500 input: reading (`bsds500`), augmentation (`augment`), batching (`pipeline`).

Two sources give the same records (docs/data.md): ``source="folder"`` (the BSDS500
tree) and ``source="tfds"`` (the ``bsds500`` TFDS dataset prepared from it by
`jaxseg.data.tfds_bsds500`, which is imported only when that source is read:
importing tensorflow_datasets is slow). :func:`load_split`, :func:`iter_split` and
:func:`load_bsds500` take ``source`` and ``tfds_dir``; :func:`source_options` reads
them from a ``config.data``.
"""

from jaxseg.data.augment import random_crop, random_flip
from jaxseg.data.bsds500 import (
    BSDS500,
    ENV_VAR,
    SOURCES,
    SPLITS,
    GroundTruth,
    ImageRecord,
    check_record,
    decode_image,
    ground_truth_path,
    image_path,
    iter_split,
    list_ids,
    load_bsds500,
    load_split,
    read_ground_truth,
    read_image,
    resolve_data_dir,
    source_options,
)
from jaxseg.data.pipeline import MAX_GT_SEGMENTS, make_batch, relabel_by_size, sample_indices

__all__ = [
    "BSDS500",
    "ENV_VAR",
    "MAX_GT_SEGMENTS",
    "SOURCES",
    "SPLITS",
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
    "make_batch",
    "random_crop",
    "random_flip",
    "read_ground_truth",
    "read_image",
    "relabel_by_size",
    "resolve_data_dir",
    "sample_indices",
    "source_options",
]
