"""BSDS500 reading, augmentation and batching: fake trees in tmp_path + the real data."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io
from PIL import Image

from jaxseg import data


def _write_gt(path, segs):
    cell = np.empty((1, len(segs)), dtype=object)
    for k, seg in enumerate(segs):
        bdry = np.zeros(seg.shape, np.uint8)
        bdry[:, :-1] |= (seg[:, :-1] != seg[:, 1:]).astype(np.uint8)
        cell[0, k] = {"Segmentation": seg.astype(np.uint16), "Boundaries": bdry}
    scipy.io.savemat(path, {"groundTruth": cell})


def make_fake_bsds(root, spec=None, size=(12, 16)):
    """A BSDS500 tree under root/data with tiny images; spec: split -> {id: n_humans}."""
    spec = spec or {"train": {"2018": 2, "100007": 1}, "val": {"10081": 3}, "test": {"5096": 2}}
    rng = np.random.default_rng(0)
    arrays = {}
    for split, ids in spec.items():
        (root / "data" / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "data" / "groundTruth" / split).mkdir(parents=True, exist_ok=True)
        for image_id, humans in ids.items():
            # a smooth image, so that JPEG (quality 100, no chroma subsampling) is ~lossless
            yy, xx = np.mgrid[: size[0], : size[1]]
            offset = int(rng.integers(0, 100))
            image = np.stack([yy * 10 + offset, xx * 10, 0 * yy + 128], -1).astype(np.uint8)
            Image.fromarray(image).save(
                root / "data" / "images" / split / f"{image_id}.jpg", quality=100, subsampling=0
            )
            # human k draws k + 2 vertical stripes labelled 1..k+2
            segs = [
                (np.arange(size[1])[None, :] * (k + 2) // size[1] + 1).repeat(size[0], 0)
                for k in range(humans)
            ]
            _write_gt(root / "data" / "groundTruth" / split / f"{image_id}.mat", segs)
            arrays[(split, image_id)] = (image, segs)
    return arrays


@pytest.fixture
def fake(tmp_path):
    arrays = make_fake_bsds(tmp_path / "BSDS500")
    return tmp_path / "BSDS500", arrays


# ----------------------------------------------------------------------------- resolve


def test_resolve_data_dir_root_data_folder_and_env(fake, monkeypatch):
    root, _ = fake
    expected = (root / "data").resolve()
    assert data.resolve_data_dir(root) == expected
    assert data.resolve_data_dir(root / "data") == expected
    monkeypatch.setenv("JAXSEG_DATA", str(root))
    assert data.resolve_data_dir() == expected
    # the flag wins over the environment variable
    monkeypatch.setenv("JAXSEG_DATA", "/nonexistent")
    assert data.resolve_data_dir(str(root)) == expected


def test_resolve_data_dir_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXSEG_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"--data-dir.*\$JAXSEG_DATA"):
        data.resolve_data_dir()
    with pytest.raises(FileNotFoundError, match=r"does not exist.*--data-dir or \$JAXSEG_DATA"):
        data.resolve_data_dir(tmp_path / "missing")
    monkeypatch.setenv("JAXSEG_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"from \$JAXSEG_DATA=.*not a BSDS500 directory"):
        data.resolve_data_dir()


# ----------------------------------------------------------------------------- reading


def test_list_ids_sorted_as_strings(fake):
    root, _ = fake
    assert data.list_ids(root, "train") == ["100007", "2018"]
    with pytest.raises(ValueError, match="split must be one of"):
        data.list_ids(root, "training")
    (root / "data" / "images" / "test" / "5096.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="holds no .jpg images"):
        data.list_ids(root, "test")


def test_missing_split_folder(tmp_path):
    make_fake_bsds(tmp_path, {"train": {"1": 1}})
    with pytest.raises(FileNotFoundError, match=r"split folder .*images/val is missing"):
        data.list_ids(tmp_path, "val")


def test_read_image_and_ground_truth_round_trip(fake):
    root, arrays = fake
    image = data.read_image(data.image_path(root, "train", "2018"))
    assert image.shape == (12, 16, 3) and image.dtype == np.uint8
    # JPEG at quality 100 is nearly lossless on this tiny image
    src = arrays[("train", "2018")][0].astype(int)
    assert np.abs(image.astype(int) - src).mean() < 3
    gts = data.read_ground_truth(data.ground_truth_path(root, "val", "10081"))
    assert len(gts) == 3
    for gt, seg in zip(gts, arrays[("val", "10081")][1], strict=True):
        assert gt.segmentation.dtype == np.int32 and gt.boundaries.dtype == bool
        np.testing.assert_array_equal(gt.segmentation, seg)
        np.testing.assert_array_equal(gt.boundaries[:, :-1], seg[:, :-1] != seg[:, 1:])


def test_corrupt_files_are_named(fake):
    root, _ = fake
    jpg = data.image_path(root, "train", "2018")
    jpg.write_bytes(jpg.read_bytes()[:100])  # truncated JPEG
    with pytest.raises(ValueError, match=r"cannot decode image .*2018\.jpg"):
        data.read_image(jpg)
    mat = data.ground_truth_path(root, "train", "2018")
    mat.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ValueError, match=r"cannot read BSDS500 ground truth .*2018\.mat"):
        data.read_ground_truth(mat)
    scipy.io.savemat(mat, {"something": np.zeros(3)})
    with pytest.raises(ValueError, match=r"2018\.mat: no 'groundTruth' variable"):
        data.read_ground_truth(mat)
    _write_gt(mat, [np.zeros((12, 16), np.uint16)])
    with pytest.raises(ValueError, match=r"labels must be >= 1, found 0"):
        data.read_ground_truth(mat)
    with pytest.raises(FileNotFoundError, match=r"999\.jpg does not exist"):
        data.read_image(data.image_path(root, "train", "999"))


def test_load_bsds500_samples_and_limit(fake):
    root, _ = fake
    ds = data.load_bsds500(root, progress=False)
    assert ds.ids == ("100007", "2018", "10081")
    assert ds.splits == ("train", "train", "val")
    assert len(ds) == 1 + 2 + 3
    np.testing.assert_array_equal(ds.samples, [[0, 0], [1, 0], [1, 1], [2, 0], [2, 1], [2, 2]])
    image, seg = ds.sample(4)
    assert image.shape == (12, 16, 3) and seg.dtype == np.int32 and seg.max() == 3
    assert ds.boundaries is None
    small = data.load_bsds500(root, ["test"], max_images=1, with_boundaries=True, progress=False)
    assert small.ids == ("5096",) and len(small) == 2 and len(small.boundaries[0]) == 2
    with pytest.raises(ValueError, match="max_images must be a positive int"):
        data.load_bsds500(root, max_images=0, progress=False)


def test_load_split_records(fake):
    root, arrays = fake
    records = data.load_split(root, "val")
    assert [r.id for r in records] == ["10081"]
    (record,) = records
    assert record.image.shape == (12, 16, 3) and len(record.boundaries) == 3
    for seg, expected in zip(record.segmentations, arrays[("val", "10081")][1], strict=True):
        assert seg.dtype == np.int32
        np.testing.assert_array_equal(seg, expected)
    assert [r.id for r in data.load_split(root, "train", limit=1)] == ["100007"]


def test_load_bsds500_names_mismatched_ground_truth(fake):
    root, _ = fake
    _write_gt(data.ground_truth_path(root, "val", "10081"), [np.ones((5, 5), np.uint16)])
    with pytest.raises(ValueError, match=r"10081\.mat annotator 0 has shape \(5, 5\)"):
        data.load_bsds500(root, ["val"], progress=False)


# ----------------------------------------------------------------------------- augment


def _toy(h=5, w=6):
    image = jnp.arange(h * w * 3, dtype=jnp.float32).reshape(h, w, 3)
    seg = jnp.arange(h * w, dtype=jnp.int32).reshape(h, w)
    return image, seg


def test_random_flip_is_joint_and_takes_both_branches():
    image, seg = _toy()
    keys = jax.random.split(jax.random.key(0), 16)
    out_i, out_s = jax.vmap(lambda k: data.random_flip(k, image, seg))(keys)
    flipped = []
    for b in range(16):
        f = bool(jnp.array_equal(out_s[b], seg[:, ::-1]))
        assert f or bool(jnp.array_equal(out_s[b], seg))
        np.testing.assert_array_equal(out_i[b], image[:, ::-1] if f else image)
        flipped.append(f)
    assert 0 < sum(flipped) < 16


def test_random_crop_covers_all_offsets_and_matches_loop():
    image, seg = _toy()
    keys = jax.random.split(jax.random.key(1), 64)
    crop = jax.jit(lambda k: data.random_crop(k, image, seg, size=3))
    out_i, out_s = jax.vmap(crop)(keys)
    assert out_i.shape == (64, 3, 3, 3) and out_s.shape == (64, 3, 3)
    offsets = set()
    for b in range(64):
        top, left = divmod(int(out_s[b, 0, 0]), 6)
        offsets.add((top, left))
        np.testing.assert_array_equal(out_s[b], seg[top : top + 3, left : left + 3])
        np.testing.assert_array_equal(out_i[b], image[top : top + 3, left : left + 3])
        li, ls = crop(keys[b])
        np.testing.assert_array_equal(li, out_i[b])
        np.testing.assert_array_equal(ls, out_s[b])
    assert offsets == {(t, c) for t in range(3) for c in range(4)}


def test_random_crop_errors():
    image, seg = _toy()
    with pytest.raises(ValueError, match=r"crop size \(6, 6\) does not fit .*\(5, 6\)"):
        data.random_crop(jax.random.key(0), image, seg, size=6)
    with pytest.raises(ValueError, match="seg must have the image's"):
        data.random_flip(jax.random.key(0), image, seg[:4])


# ----------------------------------------------------------------------------- batching


def test_sample_indices_epochs_are_permutations():
    n = 7
    stream = np.concatenate(
        [data.sample_indices(n, seed=3, step=t, batch_size=3) for t in range(7)]
    )  # 21 positions = 3 epochs
    for e in range(3):
        assert sorted(stream[e * n : (e + 1) * n]) == list(range(n))
    assert not np.array_equal(stream[:n], stream[n : 2 * n])  # reshuffled each epoch
    np.testing.assert_array_equal(
        data.sample_indices(n, seed=3, step=2, batch_size=3), stream[6:9]
    )  # pure function of (seed, step): no state
    assert not np.array_equal(data.sample_indices(n, seed=4, step=0, batch_size=7), stream[:7])


def test_relabel_by_size():
    seg = np.array([[5, 5, 5, 9], [7, 7, 9, 2]])
    labels, k = data.relabel_by_size(seg, max_segments=8)
    # sizes: 5 -> 3, 7 -> 2, 9 -> 2, 2 -> 1; ties keep label order (7 before 9)
    np.testing.assert_array_equal(labels, [[0, 0, 0, 2], [1, 1, 2, 3]])
    assert k == 4 and labels.dtype == np.int32
    labels, k = data.relabel_by_size(seg, max_segments=2)
    np.testing.assert_array_equal(labels, [[0, 0, 0, -1], [1, 1, -1, -1]])
    assert k == 2


def test_make_batch_is_deterministic_and_well_formed(fake):
    root, _ = fake
    ds = data.load_bsds500(root, progress=False)
    kwargs = dict(seed=0, batch_size=2, crop_size=8, max_gt_segments=4)
    a = data.make_batch(ds, step=5, **kwargs)
    b = data.make_batch(ds, step=5, **kwargs)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["image"].shape == (2, 8, 8, 3) and a["image"].dtype == np.float32
    assert 0.0 <= a["image"].min() and a["image"].max() <= 1.0
    assert a["segmentation"].shape == (2, 8, 8) and a["segmentation"].dtype == np.int32
    for s, n in zip(a["segmentation"], a["num_gt_segments"], strict=True):
        assert sorted(np.unique(s)) == list(range(n))
    np.testing.assert_array_equal(
        a["sample_index"], data.sample_indices(len(ds), seed=0, step=5, batch_size=2)
    )
    # the crop is a window of the sample's image
    image, _ = ds.sample(int(a["sample_index"][0]))
    img = image.astype(np.float32) / 255
    win = np.lib.stride_tricks.sliding_window_view(img, (8, 8, 3))[:, :, 0]
    hits = np.abs(win - a["image"][0]).max(axis=(2, 3, 4)) < 1e-6
    hits |= np.abs(win - a["image"][0][:, ::-1]).max(axis=(2, 3, 4)) < 1e-6
    assert hits.any()
    c = data.make_batch(ds, step=6, **kwargs)
    assert not all(np.array_equal(a[k], c[k]) for k in ("image", "sample_index"))


def test_make_batch_errors(fake):
    root, _ = fake
    ds = data.load_bsds500(root, progress=False)
    with pytest.raises(ValueError, match="crop_size 201 is larger than image"):
        data.make_batch(ds, seed=0, step=0, crop_size=201)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        data.make_batch(ds, seed=0, step=0, batch_size=0, crop_size=8)


# ----------------------------------------------------------------------------- real data


def test_real_bsds500_sample_counts(bsds_root):
    counts = {}
    for split in data.SPLITS:
        ids = data.list_ids(bsds_root, split)
        counts[split] = sum(
            len(data.read_ground_truth(data.ground_truth_path(bsds_root, split, i))) for i in ids
        )
        assert len(ids) == {"train": 200, "val": 100, "test": 200}[split]
    assert counts["train"] + counts["val"] == 1633
    assert counts["test"] == 1063


def test_real_bsds500_first_images(bsds_root):
    ds = data.load_bsds500(bsds_root, ["test"], max_images=2, progress=False)
    assert ds.ids == tuple(data.list_ids(bsds_root, "test")[:2])
    for image in ds.images:
        assert image.dtype == np.uint8 and image.shape in ((321, 481, 3), (481, 321, 3))
    for segs in ds.segmentations:
        assert all(s.min() >= 1 for s in segs)
    batch = data.make_batch(ds, seed=1, step=0, batch_size=2)
    assert batch["image"].shape == (2, 201, 201, 3)
    assert os.fspath(data.resolve_data_dir(bsds_root)).endswith("data")
