"""Superpixel generators: connected labels, roughly the requested count, clear errors."""

import numpy as np
import pytest
from scipy import ndimage

from jaxseg.regions.generators import (
    GENERATORS,
    bisect_count,
    generate,
    generate_counts,
    merge_regions,
)


def _image(h=48, w=64, seed=0):
    """Six flat colour blocks plus mild noise."""
    rng = np.random.default_rng(seed)
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]], float)
    lab = np.repeat(np.repeat(np.arange(6).reshape(2, 3), h // 2, 0), -(-w // 3), 1)[:, :w]
    img = colours[lab] + 0.02 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0, 1).astype(np.float32), lab


def _texture(h=48, w=64, seed=0):
    """Smoothed noise: many natural regions at every scale."""
    noise = np.random.default_rng(seed).random((h, w, 3))
    img = ndimage.gaussian_filter(noise, (3, 3, 0))
    img = (img - img.min()) / (img.max() - img.min())
    return img.astype(np.float32)


def _assert_connected_sequential(lab):
    assert lab.dtype == np.int32
    k = int(lab.max()) + 1
    assert set(np.unique(lab)) == set(range(k))
    for j in range(k):
        _, n = ndimage.label(lab == j)  # 4-connectivity
        assert n == 1, f"label {j} has {n} components"


@pytest.mark.parametrize("name", GENERATORS)
@pytest.mark.parametrize("n", [6, 24])
def test_connected_and_roughly_requested_count(name, n):
    img = _texture()
    lab = generate(name, img, n_segments=n)
    assert lab.shape == img.shape[:2]
    _assert_connected_sequential(lab)
    k = int(lab.max()) + 1
    assert n / 2 <= k <= 2 * n, (name, n, k)


def test_meanshift_regions_follow_the_colour_blocks():
    img, blocks = _image()
    lab = generate("meanshift", img, n_segments=6)
    # Boundaries adhere: >= 95% of the pixels lie in the majority block of their region.
    hist = np.zeros((int(lab.max()) + 1, 6))
    np.add.at(hist, (lab.ravel(), blocks.ravel()), 1)
    assert hist.max(axis=1).sum() >= 0.95 * lab.size


def _pieces(labels):
    """Each label's 4-connected components as regions ``0..k-1`` (skimage's own labelling)."""
    from skimage.measure import label

    return label(labels + 1, connectivity=1, background=0) - 1


def _same_partition(a, b):
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def test_native_parameters_and_uint8():
    from skimage.segmentation import felzenszwalb

    img, blocks = _image()
    u8 = (img * 255).astype(np.uint8)
    coarse = generate("felzenszwalb", u8, scale=1e4, min_size=10)
    fine = generate("felzenszwalb", img, scale=1.0, min_size=10)
    assert int(coarse.max()) + 1 <= 8 < int(fine.max()) + 1
    # The native parameters go to skimage's EGB unchanged (its regions split into
    # 4-connected pieces); uint8 input is the same image scaled to [0, 1].
    ref = felzenszwalb(img, scale=1.0, sigma=0.8, min_size=10)
    assert _same_partition(fine, _pieces(ref))
    ref = felzenszwalb(u8 / 255.0, scale=1e4, sigma=0.8, min_size=10)
    assert _same_partition(coarse, _pieces(ref))
    # A count: the scale search gives it, and every region lies inside one colour block.
    lab = generate("felzenszwalb", img, n_segments=12)
    assert int(lab.max()) + 1 == 12
    assert np.unique(np.stack([lab.ravel(), blocks.ravel()]), axis=1).shape[1] == 12
    lab2 = generate("meanshift", img, spatial_radius=5, range_radius=8.0, min_size=30)
    _assert_connected_sequential(lab2)


def test_merge_regions_respects_target_and_min_size():
    lab = np.arange(64).reshape(8, 8) // 2  # 32 regions of 2 pixels
    feats = np.random.default_rng(0).random((8, 8, 3))
    out = merge_regions(lab, feats, n_segments=5)
    assert int(out.max()) + 1 == 5
    _assert_connected_sequential(out)
    out2 = merge_regions(lab, feats, min_size=6)
    assert np.bincount(out2.ravel()).min() >= 6


def test_errors_name_the_problem():
    img, _ = _image()
    with pytest.raises(ValueError, match="unknown generator 'quickshift'"):
        generate("quickshift", img)
    with pytest.raises(ValueError, match="n_segments must be >= 1"):
        generate("slic", img, n_segments=0)
    with pytest.raises(TypeError, match="n_segments must be an int"):
        generate("slic", img, n_segments=10.5)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        generate("meanshift", img[..., 0])
    with pytest.raises(ValueError, match="divide uint8 images by 255"):
        generate("meanshift", img * 255.0)
    with pytest.raises(TypeError, match="unknown native parameter"):
        generate("felzenszwalb", img, bandwidth=3)
    with pytest.raises(ValueError, match="either n_segments or scale"):
        generate("felzenszwalb", img, n_segments=5, scale=10.0)
    for counts in ([], 100):
        with pytest.raises(ValueError, match="expected a non-empty sequence of region counts"):
            generate_counts("meanshift", img, counts)
    with pytest.raises(ValueError, match="n_segments must be >= 1"):
        generate_counts("meanshift", img, [10, 0])


def test_felzenszwalb_min_size_frac_scales_the_smallest_region_with_the_count():
    img = _texture()
    n = 6
    floor = round(0.25 * img.shape[0] * img.shape[1] / n)  # 128 px
    plain = generate("felzenszwalb", img, n_segments=n)
    sized = generate("felzenszwalb", img, n_segments=n, min_size_frac=0.25)
    _assert_connected_sequential(sized)
    assert np.bincount(plain.ravel()).min() < floor  # the default leaves small fragments
    assert np.bincount(sized.ravel()).min() >= floor
    assert n / 2 <= int(sized.max()) + 1 <= 2 * n
    with pytest.raises(ValueError, match="min_size_frac needs n_segments"):
        generate("felzenszwalb", img, min_size_frac=0.5)


def test_bisect_count_both_directions_and_closest():
    calls = []

    def regions(k):
        return np.arange(max(int(k), 1))[None, :]  # a label image with k regions

    def growing(p):  # count grows with p
        calls.append(p)
        return regions(p)

    out = bisect_count(growing, 37, 1.0, 1000.0, more_when_larger=True, iters=30)
    assert int(out.max()) + 1 == 37
    out = bisect_count(
        lambda p: regions(1000.0 / p), 37, 1.0, 1000.0, more_when_larger=False, iters=30
    )
    assert int(out.max()) + 1 == 37
    # tol stops early; without enough iterations the closest count seen is returned
    calls.clear()
    out = bisect_count(growing, 37, 1.0, 1000.0, more_when_larger=True, iters=30, tol=0.5)
    assert len(calls) == 1 and abs(int(out.max()) + 1 - 37) <= 0.5 * 37
    out = bisect_count(
        lambda p: regions(2 * round(p / 2)), 37, 1.0, 1000.0, more_when_larger=True, iters=30
    )
    assert int(out.max()) + 1 in (36, 38)  # only even counts exist


def test_slic_generator_keeps_the_distance_of_its_recorded_tables():
    # The lin2021 tables on SLIC superpixels were made with scikit-image's distance
    # ("l2"); jaxseg.slic now defaults to "l1", which gives other superpixels here.
    from jaxseg.ops.slic import slic

    img = _texture(64, 96)
    lab = generate("slic", img, n_segments=24)
    assert _same_partition(lab, slic(img, n_segments=24, metric="l2"))
    assert not _same_partition(lab, slic(img, n_segments=24))
    l1 = generate("slic", img, n_segments=24, metric="l1")
    assert _same_partition(l1, slic(img, n_segments=24))


def test_generate_counts_equals_one_call_per_count():
    """Mean-shift shares its filtering and one pruning sequence between the counts; the
    labels must be those of separate calls, whatever the counts' order, ``min_size``
    and ``None`` (no count target). (The other generators run once per count.)"""
    name = "meanshift"
    rng = np.random.default_rng(7)
    for trial in range(6):
        blocks = np.repeat(np.repeat(rng.random((6, 8, 3)), 5, 0), 5, 1)
        img = np.clip(blocks + 0.05 * rng.random((30, 40, 3)), 0, 1).astype(np.float32)
        if trial % 2:
            img = rng.random((30, 40, 3)).astype(np.float32)  # many tiny regions
        counts = [int(c) for c in rng.integers(1, 40, size=3)] + [None]
        native = {"min_size": int(rng.integers(0, 30))}
        many = generate_counts(name, img, counts, **native)
        for n, lab in zip(counts, many, strict=True):
            np.testing.assert_array_equal(lab, generate(name, img, n_segments=n, **native))
