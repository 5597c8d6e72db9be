"""The bsds500 TFDS builder, end to end on a tiny fake BSDS tree, without TensorFlow."""

import importlib.util
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
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
