"""BSDS500 input: reading (`bsds500`), augmentation (`augment`), batching (`pipeline`).

The TFDS builder lives in `jaxseg.data.tfds_bsds500` and is not imported here
(importing tensorflow_datasets is slow and not needed for training).
"""

from jaxseg.data.augment import random_crop, random_flip
from jaxseg.data.bsds500 import (
    BSDS500,
    ENV_VAR,
    SPLITS,
    GroundTruth,
    ImageRecord,
    ground_truth_path,
    image_path,
    list_ids,
    load_bsds500,
    load_split,
    read_ground_truth,
    read_image,
    resolve_data_dir,
)
from jaxseg.data.pipeline import MAX_GT_SEGMENTS, make_batch, relabel_by_size, sample_indices

__all__ = [
    "BSDS500",
    "ENV_VAR",
    "MAX_GT_SEGMENTS",
    "SPLITS",
    "GroundTruth",
    "ImageRecord",
    "ground_truth_path",
    "image_path",
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
]
