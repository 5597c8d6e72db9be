"""The bsds500 TFDS builder, end to end on a tiny fake BSDS tree, without TensorFlow."""

import importlib.util
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import prepare_tfds_subset
from test_data import make_fake_bsds

from jaxseg import data
from jaxseg.data import tfds_bsds500


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tfds")
    root = tmp / "BSDS500"
    arrays = make_fake_bsds(root)
    builder = tfds_bsds500.prepare(root, tmp / "tfds_data")
    return root, tmp / "tfds_data", arrays, builder


def test_tensorflow_is_not_needed(built):
    # The environment has no TensorFlow (blocking it with an import hook is not faithful:
    # etils probes importlib.util.find_spec("tensorflow")), so building and reading in
    # this process (fixture `built` and the tests below) is the end-to-end check.
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here; this test checks the TF-free path")
    assert "tensorflow" not in sys.modules
    source = tfds.data_source("bsds500", split="val", data_dir=built[1])
    assert source[0]["image"].shape == (12, 16, 3)
    assert "tensorflow" not in sys.modules


def test_split_sizes_and_format(built):
    _, out, _, builder = built
    splits = builder.info.splits
    assert {k: splits[k].num_examples for k in ("train", "val", "test")} == {
        "train": 2,
        "val": 1,
        "test": 1,
    }
    files = sorted(p.name for p in (out / "bsds500" / "1.0.0").iterdir())
    assert any(".array_record-" in f for f in files), files


def test_data_source_round_trip(built):
    root, out, arrays, _ = built
    for split in ("train", "val", "test"):
        source = tfds.data_source("bsds500", split=split, data_dir=out)
        seen = set()
        for i in range(len(source)):
            ex = source[i]
            image_id = ex["id"].decode() if isinstance(ex["id"], bytes) else ex["id"]
            seen.add(image_id)
            image = data.read_image(data.image_path(root, split, image_id))
            np.testing.assert_array_equal(ex["image"], image)
            gts = data.read_ground_truth(data.ground_truth_path(root, split, image_id))
            _, segs = arrays[(split, image_id)]
            assert ex["segmentations"].shape == (len(segs), 12, 16)
            assert ex["segmentations"].dtype == np.uint16 and ex["boundaries"].dtype == bool
            for k, gt in enumerate(gts):
                np.testing.assert_array_equal(ex["segmentations"][k], segs[k])
                np.testing.assert_array_equal(ex["boundaries"][k], gt.boundaries)
        assert seen == set(data.list_ids(root, split))


def test_bad_manual_dir_explains_what_to_do(tmp_path):
    def build(manual):
        tfds_bsds500.Bsds500(data_dir=tmp_path / "out").download_and_prepare(
            file_format="array_record",
            download_config=tfds.download.DownloadConfig(manual_dir=manual),
        )

    # tfds itself rejects a missing/empty manual_dir, quoting our instructions
    with pytest.raises(AssertionError, match=r"(?s)does not exist or is empty.*BSR_bsds500\.tgz"):
        build(tmp_path / "nothing")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "README").write_text("not BSDS")
    with pytest.raises(FileNotFoundError, match=r"(?s)manual_dir .*wrong does not hold BSDS500"):
        build(wrong)


# ----------------------------------------------------------------------------- as a source


def assert_same_records(a, b):
    """Two lists of ImageRecord are equal: ids and order, pixels, labels, dtypes."""
    assert [r.id for r in a] == [r.id for r in b]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.image, y.image, err_msg=x.id)
        assert x.image.dtype == y.image.dtype == np.uint8
        assert len(x.segmentations) == len(y.segmentations) == len(y.boundaries) > 0
        pairs = zip(x.segmentations + x.boundaries, y.segmentations + y.boundaries, strict=True)
        for s, t in pairs:
            assert s.dtype == t.dtype, x.id
            np.testing.assert_array_equal(s, t, err_msg=x.id)


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_both_sources_give_the_same_records(built, split):
    root, out, _, _ = built
    folder = data.load_split(root, split)
    tfds_records = data.load_split(None, split, source="tfds", tfds_dir=out)
    assert_same_records(folder, tfds_records)
    # limit keeps the first ids of the id order, as the folder reader does
    assert_same_records(
        data.load_split(root, split, limit=1),
        data.load_split(None, split, limit=1, source="tfds", tfds_dir=out),
    )


def test_load_bsds500_from_both_sources(built):
    root, out, _, _ = built
    kw = dict(splits=("train", "val"), max_images=2, with_boundaries=True, progress=False)
    a = data.load_bsds500(root, **kw)
    b = data.load_bsds500(None, source="tfds", tfds_dir=out, **kw)
    assert a.ids == b.ids == ("100007", "2018") and a.splits == b.splits
    np.testing.assert_array_equal(a.samples, b.samples)
    for i in range(a.num_images):
        np.testing.assert_array_equal(a.images[i], b.images[i])
        gt_a, gt_b = a.segmentations[i] + a.boundaries[i], b.segmentations[i] + b.boundaries[i]
        assert len(gt_a) == len(gt_b) > 0
        for s, t in zip(gt_a, gt_b, strict=True):
            assert s.dtype == t.dtype
            np.testing.assert_array_equal(s, t)


def test_images_only(built):
    root, out, _, _ = built
    for kw in (dict(data_dir=root), dict(data_dir=None, source="tfds", tfds_dir=out)):
        (record,) = data.iter_split(split="val", ground_truth=False, **kw)
        assert record.id == "10081" and record.segmentations == record.boundaries == ()
        assert record.image.shape == (12, 16, 3)


def test_source_errors(built, tmp_path):
    root, _, _, _ = built
    with pytest.raises(ValueError, match=r"source='tfrecord'.*\('folder', 'tfds'\)"):
        data.load_split(root, "train", source="tfrecord")
    with pytest.raises(ValueError, match=r"source='tfrecord'.*\('folder', 'tfds'\)"):
        data.load_bsds500(root, source="tfrecord")
    with pytest.raises(ValueError, match=r"config\.data\.source='Folder'.*\('folder', 'tfds'\)"):
        data.source_options({"source": "Folder"})
    assert data.source_options(None) == {"source": "folder", "tfds_dir": None}
    assert data.source_options({"source": "tfds", "tfds_dir": ""}) == {
        "source": "tfds",
        "tfds_dir": None,
    }
    empty = tmp_path / "not_prepared"
    expected = (
        rf"(?s){empty}.*holds no prepared bsds500.*python -m jaxseg\.data\.tfds_bsds500 "
        rf"--manual-dir .* --data-dir {empty}"
    )
    with pytest.raises(FileNotFoundError, match=expected):
        data.load_split(None, "train", source="tfds", tfds_dir=empty)
    # the folder source does not need a prepared TFDS directory, and the other way round
    assert data.load_split(root, "val", tfds_dir=empty)[0].id == "10081"


def test_bad_split_is_refused_by_both_sources(built):
    root, out, _, _ = built
    for kw in (dict(data_dir=root), dict(data_dir=None, source="tfds", tfds_dir=out)):
        with pytest.raises(ValueError, match=r"split must be one of .*'valid'"):
            data.load_split(split="valid", **kw)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_subset(bsds_root, tmp_path_factory):
    """The first 4 train, 1 val and 1 test images of BSDS500 (links), prepared as TFDS
    by the command line (``python -m jaxseg.data.tfds_bsds500``)."""
    tmp = tmp_path_factory.mktemp("real")
    return prepare_tfds_subset(bsds_root, tmp, {"train": 4, "val": 1, "test": 1})


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_real_images_same_records_from_both_sources(real_subset, split):
    root, out = real_subset
    records = data.load_split(root, split)
    assert len(records) == {"train": 4, "val": 1, "test": 1}[split]
    assert records[0].image.shape in ((321, 481, 3), (481, 321, 3))
    assert_same_records(records, data.load_split(None, split, source="tfds", tfds_dir=out))


@pytest.mark.slow
def test_tiny_training_reads_the_same_batches_from_tfds(real_subset, tmp_path):
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    if str(repo) not in sys.path:  # configs/ is imported as in train.py
        sys.path.insert(0, str(repo))
    from configs import wang2020_tiny
    from jaxseg.train.tasks import wang2020
    from jaxseg.train.trainer import train_and_evaluate

    root, out = real_subset
    folder_config = wang2020_tiny.get_config()
    assert folder_config.data.source == "folder"  # the default
    tfds_config = wang2020_tiny.get_config()
    tfds_config.data.source = "tfds"
    tfds_config.data.tfds_dir = str(out)
    from_folder = wang2020.load_dataset(folder_config, root)
    from_tfds = wang2020.load_dataset(tfds_config, None)
    assert from_folder.train.ids == from_tfds.train.ids and len(from_tfds.train.ids) == 4
    assert from_folder.val.ids == from_tfds.val.ids
    for step in (0, 1):
        a = wang2020.make_batch(folder_config, from_folder, step)
        b = wang2020.make_batch(tfds_config, from_tfds, step)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"step {step} {key}")
    # the first step of a training run reads the TFDS source (no BSDS500 folder given)
    result = train_and_evaluate(tfds_config, tmp_path, stop_at=1)
    assert result["step"] == 1 and np.isfinite(result["train"]["loss"])


def test_superae_reads_the_same_images_from_tfds(real_subset):
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    from configs import superae_tiny
    from jaxseg.train.tasks import superae

    root, out = real_subset
    config = superae_tiny.get_config()
    from_folder = superae.load_dataset(config, root)
    config.data.source, config.data.tfds_dir = "tfds", str(out)
    from_tfds = superae.load_dataset(config, None)
    assert from_folder.names == from_tfds.names and len(from_tfds.names) == 2
    for a, b in zip(
        from_folder.images + from_folder.eval_images,
        from_tfds.images + from_tfds.eval_images,
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        superae.make_batch(config, from_folder, 0)["image"],
        superae.make_batch(config, from_tfds, 0)["image"],
    )
