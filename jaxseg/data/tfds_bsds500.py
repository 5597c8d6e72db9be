"""TFDS builder ``bsds500`` (manual download, ``array_record``, no TensorFlow needed).

Build once from a local BSDS500 tree, then read random-access with
``tfds.data_source`` (Grain-style, NumPy out)::

    import tensorflow_datasets as tfds
    from jaxseg.data import tfds_bsds500  # registers the builder

    builder = tfds_bsds500.Bsds500(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        file_format="array_record",
        download_config=tfds.download.DownloadConfig(manual_dir="/path/to/BSDS500"),
    )
    train = tfds.data_source("bsds500", split="train", data_dir="~/tensorflow_datasets")
    example = train[0]  # dict of NumPy arrays

:func:`prepare` does the first two steps (``array_record`` by default).

One example per **image** (not per annotator): ``image (H, W, 3) uint8``,
``segmentations (K, H, W) uint16`` labels ``1..n`` as stored, ``boundaries
(K, H, W) bool``, ``id`` (the file stem; ``bytes`` when read back with
``tfds.data_source``). ``K`` (4 to 9) varies between images.
Splits ``train`` (200), ``val`` (100), ``test`` (200), keyed by id, so the
order inside a split is the writer's shuffled order, not the id order.

TensorFlow-free path (what was checked, tfds 4.9.10, TensorFlow absent): the
generation writes with the ``array_record`` adapter and serialises examples
with tfds' own protobuf example serializer; the image is stored as the
original JPEG bytes (the builder passes the file path, which tfds reads
without decoding). The two multi-dimensional tensors use
``encoding='zlib'``, compressed with Python's ``zlib``. Reading through
``tfds.data_source`` uses the NumPy decoders (PIL for the JPEG). Nothing here
imports TensorFlow; the tests check that ``tensorflow`` never enters
``sys.modules``. The ``tfrecord`` format and ``tfds.load``/``as_dataset``
(a ``tf.data`` pipeline) do need TensorFlow and are not used.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from jaxseg.data.bsds500 import (
    SPLITS,
    ground_truth_path,
    image_path,
    list_ids,
    read_ground_truth,
    resolve_data_dir,
)

__all__ = ["Bsds500", "prepare"]

_CITATION = """\
@article{arbelaez2011contour,
  title={Contour Detection and Hierarchical Image Segmentation},
  author={Arbelaez, Pablo and Maire, Michael and Fowlkes, Charless and Malik, Jitendra},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence},
  volume={33}, number={5}, pages={898--916}, year={2011}
}
"""

_HOMEPAGE = "https://www2.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/resources.html"


class Bsds500(tfds.core.GeneratorBasedBuilder):
    """BSDS500: 500 natural images, each segmented by 4-9 humans."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: images, segmentations, boundaries, id."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Download BSDS500 (BSR_bsds500.tgz, the January 2013 release) and extract it.
    Set `manual_dir` (tfds.download.DownloadConfig(manual_dir=...)) to the
    BSDS500 folder that holds `data/images/{train,val,test}/*.jpg` and
    `data/groundTruth/{train,val,test}/*.mat` (the `data/` folder itself is also
    accepted). Nothing is downloaded by this builder.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=(
                "Berkeley Segmentation Data Set 500: images with several human "
                "segmentations and boundary maps per image."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "id": tfds.features.Text(),
                    "image": tfds.features.Image(shape=(None, None, 3), encoding_format="jpeg"),
                    "segmentations": tfds.features.Tensor(
                        shape=(None, None, None),
                        dtype=np.uint16,
                        encoding=tfds.features.Encoding.ZLIB,
                        doc="(K, H, W) human segmentations, labels 1..n as stored",
                    ),
                    "boundaries": tfds.features.Tensor(
                        shape=(None, None, None),
                        dtype=np.bool_,
                        encoding=tfds.features.Encoding.ZLIB,
                        doc="(K, H, W) human boundary maps as stored",
                    ),
                }
            ),
            homepage=_HOMEPAGE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual = Path(os.fspath(dl_manager.manual_dir))
        try:
            folder = resolve_data_dir(manual)
        except FileNotFoundError as e:
            raise FileNotFoundError(
                f"manual_dir {manual} does not hold BSDS500 ({e}).\n"
                f"{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            ) from e
        return {split: self._generate_examples(folder, split) for split in SPLITS}

    def _generate_examples(self, folder: Path, split: str):
        for image_id in list_ids(folder, split):
            gts = read_ground_truth(ground_truth_path(folder, split, image_id))
            yield (
                image_id,
                {
                    "id": image_id,
                    "image": os.fspath(image_path(folder, split, image_id)),
                    "segmentations": np.stack([g.segmentation for g in gts]).astype(np.uint16),
                    "boundaries": np.stack([g.boundaries for g in gts]),
                },
            )


def prepare(
    manual_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    *,
    file_format: str = "array_record",
) -> Bsds500:
    """Builds the ``bsds500`` TFDS dataset from a local BSDS500 tree.

    Args:
      manual_dir: the BSDS500 root (or its ``data/`` folder).
      data_dir: TFDS data directory to write to.
      file_format: ``'array_record'`` (random access, no TensorFlow needed).

    Returns:
      The prepared builder; read it with
      ``tfds.data_source("bsds500", split=..., data_dir=data_dir)``.
    """
    builder = Bsds500(data_dir=os.fspath(data_dir))
    builder.download_and_prepare(
        file_format=file_format,
        download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)),
    )
    return builder
