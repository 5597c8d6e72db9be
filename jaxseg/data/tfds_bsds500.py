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

:func:`prepare` does the first two steps (``array_record`` by default); from a
shell (no TensorFlow needed)::

    python -m jaxseg.data.tfds_bsds500 --manual-dir /path/to/BSDS500 \
        --data-dir ~/tensorflow_datasets

:func:`read_records` reads a prepared split back as the folder reader's
:class:`~jaxseg.data.bsds500.ImageRecord` (ids in string order, the image decoded
from the stored JPEG bytes by :func:`~jaxseg.data.bsds500.decode_image`, labels
``int32``): training and evaluation select it with ``source="tfds"``
(:func:`jaxseg.data.bsds500.iter_split`, ``config.data.source``).

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
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from tqdm import tqdm

from jaxseg.data.bsds500 import (
    ENV_VAR,
    SPLITS,
    ImageRecord,
    _check_split,
    check_record,
    decode_image,
    ground_truth_path,
    image_path,
    list_ids,
    read_ground_truth,
    resolve_data_dir,
)

__all__ = ["NAME", "Bsds500", "main", "prepare", "prepare_command", "prepared_dir", "read_records"]

NAME = "bsds500"

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
            top = max(int(g.segmentation.max()) for g in gts)
            if top >= 2**16:
                raise ValueError(
                    f"{ground_truth_path(folder, split, image_id)} has label {top}, more than "
                    "the uint16 segmentations of this dataset hold; it is not BSDS500."
                )
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


def _default_dir() -> Path:
    return Path(tfds.core.constants.DATA_DIR)


def prepare_command(tfds_dir: str | os.PathLike | None = None) -> str:
    """The shell command that prepares the dataset in ``tfds_dir``."""
    where = f" --data-dir {tfds_dir}" if tfds_dir else ""
    return f"python -m jaxseg.data.tfds_bsds500 --manual-dir /path/to/BSDS500{where}"


def prepared_dir(tfds_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the prepared ``bsds500`` dataset under a TFDS data directory.

    Args:
      tfds_dir: the TFDS data directory; None or empty: TFDS's default
        (``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``).

    Returns:
      ``<tfds_dir>/bsds500/<VERSION>``.

    Raises:
      FileNotFoundError: the dataset is not prepared there; the message names the
        folder and the command that prepares it.
    """
    root = Path(tfds_dir).expanduser() if tfds_dir else _default_dir()
    folder = root / NAME / str(Bsds500.VERSION)
    if not (folder / "dataset_info.json").is_file():
        raise FileNotFoundError(
            f"TFDS data directory {root} holds no prepared {NAME} {Bsds500.VERSION} "
            f"(no {folder / 'dataset_info.json'}). Prepare it from the BSDS500 folder with: "
            f"{prepare_command(tfds_dir or root)}   (or set config.data.tfds_dir / the "
            "tfds_dir argument to where it was prepared; docs/data.md)."
        )
    return folder


def _labels(feature: dict, dtype) -> np.ndarray:
    """Decodes a zlib-encoded ``(K, H, W)`` tensor read with ``SkipDecoding``."""
    shape = tuple(int(n) for n in feature["shape"])
    return np.frombuffer(zlib.decompress(feature["value"]), dtype=dtype).reshape(shape)


def read_records(
    tfds_dir: str | os.PathLike | None,
    split: str,
    *,
    limit: int | None = None,
    progress: bool = False,
    ground_truth: bool = True,
) -> Iterator[ImageRecord]:
    """Reads a prepared split as :class:`~jaxseg.data.bsds500.ImageRecord`, in id order.

    The records equal those of the folder reader (:func:`jaxseg.data.bsds500.iter_split`
    with ``source="folder"``): the same ids in the same (string) order, the image
    decoded from the stored JPEG bytes by the folder reader's decoder (not by tfds,
    which uses OpenCV when installed), ``int32`` segmentations and ``bool`` boundaries.

    Args:
      tfds_dir: the TFDS data directory (None: TFDS's default).
      split: ``'train'``, ``'val'`` or ``'test'``.
      limit: keep the first ``limit`` images (in id order); None or 0 keeps all.
      progress: show a tqdm progress bar.
      ground_truth: False leaves ``segmentations`` and ``boundaries`` empty.

    Returns:
      An iterator (one decoded record at a time). The dataset is checked before it
      returns.

    Raises:
      FileNotFoundError: the dataset is not prepared in ``tfds_dir``
        (:func:`prepared_dir`).
    """
    _check_split(split)
    folder = prepared_dir(tfds_dir)
    skip = tfds.decode.SkipDecoding()
    source = tfds.data_source(
        NAME,
        split=split,
        data_dir=os.fspath(folder.parent.parent),
        download=False,
        decoders={"image": skip, "segmentations": skip, "boundaries": skip},
    )
    # The writer shuffles a split; the folder reader's order is the ids' string order.
    ids = [source[i]["id"].decode() for i in range(len(source))]
    order = sorted(range(len(ids)), key=ids.__getitem__)
    if limit:
        order = order[:limit]
    return _decoded(source, order, ids, folder, split, progress, ground_truth)


def _decoded(source, order, ids, folder, split, progress, ground_truth):
    for i in tqdm(order, desc=f"loading {split} (tfds)", unit="img", disable=not progress):
        ex = source[i]
        where = f"{folder} {split}/{ids[i]}"
        segs, bdrys = (), ()
        if ground_truth:
            segs = tuple(s.astype(np.int32) for s in _labels(ex["segmentations"], np.uint16))
            bdrys = tuple(_labels(ex["boundaries"], np.bool_))
        image = decode_image(ex["image"], where)
        yield check_record(ImageRecord(ids[i], image, segs, bdrys), where)


def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m jaxseg.data.tfds_bsds500``: prepares the dataset; returns its folder."""
    from jaxseg.cli import ArgumentParser

    parser = ArgumentParser(
        prog="python -m jaxseg.data.tfds_bsds500",
        description="Builds the bsds500 TFDS dataset (array_record) from a BSDS500 folder. "
        "No TensorFlow needed; nothing is downloaded.",
    )
    parser.add_argument(
        "--manual-dir",
        default=None,
        help=f"BSDS500 root or its data/ folder (default: ${ENV_VAR}).",
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="TFDS data directory to write (default: $TFDS_DATA_DIR, else ~/tensorflow_datasets).",
    )
    args = parser.parse_args(argv)
    manual = resolve_data_dir(args.manual_dir)
    out = Path(args.data_dir).expanduser() if args.data_dir else _default_dir()
    prepare(manual, out)
    folder = prepared_dir(out)
    print(f"prepared {NAME} from {manual} in {folder}")
    return folder


if __name__ == "__main__":
    main()
