"""Tests for jaxseg.regions.labels against per-label loops written out plainly."""

import numpy as np
import pytest

from jaxseg.regions.labels import majority_label, raster_order, region_means, upsample_labels


def random_labels(rng, shape=(9, 13), k=6):
    return rng.integers(0, k, size=shape).astype(np.int32)


# ----------------------------------------------------------------------------- region_means


@pytest.mark.parametrize("channels", [None, 1, 4])
def test_region_means_equal_masked_means(channels):
    rng = np.random.default_rng(0)
    labels = random_labels(rng)
    labels[labels == 3] = 2  # label 3 has no pixels
    shape = labels.shape if channels is None else (*labels.shape, channels)
    values = rng.normal(size=shape)
    got = region_means(labels, values)
    v = values.reshape(*labels.shape, -1)
    assert got.shape == (int(labels.max()) + 1, v.shape[-1])
    assert got.dtype == np.float64
    for lab in range(got.shape[0]):
        mask = labels == lab
        want = v[mask].mean(axis=0) if mask.any() else np.zeros(v.shape[-1])
        np.testing.assert_allclose(got[lab], want, rtol=1e-12, atol=1e-12)


def test_region_means_num_pads_with_zero_rows():
    labels = np.array([[0, 1], [1, 1]])
    got = region_means(labels, np.array([[2.0, 4.0], [6.0, 8.0]]), num=4)
    np.testing.assert_allclose(got[:, 0], [2.0, 6.0, 0.0, 0.0])


def test_region_means_errors_name_the_value():
    labels = np.zeros((2, 3), int)
    with pytest.raises(ValueError, match=r"\(2, 3\).*got \(3, 2\)"):
        region_means(labels, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="num=0"):
        region_means(labels, np.zeros((2, 3)), num=0)
    with pytest.raises(TypeError, match="float64"):
        region_means(labels.astype(float), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="minimum -1"):
        region_means(labels - 1, np.zeros((2, 3)))


# ----------------------------------------------------------------------------- majority_label


def test_majority_label_is_the_most_covering_raw_label():
    rng = np.random.default_rng(1)
    connected = random_labels(rng, k=5)
    raw = random_labels(rng, k=7)
    got = majority_label(connected, raw)
    assert got.shape == (int(connected.max()) + 1,)
    for lab in range(got.shape[0]):
        counts = np.bincount(raw[connected == lab], minlength=7)
        assert counts[got[lab]] == counts.max()
        assert got[lab] == np.flatnonzero(counts == counts.max())[0]  # ties: smallest


def test_majority_label_follows_a_split():
    raw = np.array([[0, 0, 1, 0, 0]])
    connected = np.array([[0, 0, 1, 2, 2]])  # raw 0 split into two components
    np.testing.assert_array_equal(majority_label(connected, raw), [0, 1, 0])
    rows = np.array([[10.0], [20.0]])
    np.testing.assert_array_equal(rows[majority_label(connected, raw)][:, 0], [10, 20, 10])


def test_majority_label_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(1, 2\).*\(2, 1\)"):
        majority_label(np.zeros((2, 1), int), np.zeros((1, 2), int))


# ----------------------------------------------------------------------------- upsample_labels


def test_upsample_labels_by_an_integer_factor_repeats_pixels():
    labels = np.arange(6).reshape(2, 3)
    got = upsample_labels(labels, (4, 9))
    np.testing.assert_array_equal(got, np.repeat(np.repeat(labels, 2, axis=0), 3, axis=1))


def test_upsample_labels_takes_the_label_under_each_centre():
    rng = np.random.default_rng(2)
    labels = random_labels(rng, shape=(7, 5))
    h, w = labels.shape
    for shape in [(11, 8), (3, 2), (7, 5)]:
        got = upsample_labels(labels, shape)
        assert got.shape == shape and got.dtype == labels.dtype
        for r in range(shape[0]):
            for c in range(shape[1]):
                y = (r + 0.5) / shape[0] * h  # centre in input pixel units
                x = (c + 0.5) / shape[1] * w
                assert got[r, c] == labels[int(y), int(x)]


def test_upsample_labels_bad_shape():
    with pytest.raises(ValueError, match=r"\(0, 4\)"):
        upsample_labels(np.zeros((2, 2), int), (0, 4))


# ----------------------------------------------------------------------------- raster_order


def test_raster_order_numbers_by_first_pixel():
    rng = np.random.default_rng(3)
    labels = random_labels(rng, k=9) * 7 - 20  # any values, negatives too
    got = raster_order(labels)
    assert got.dtype == np.int32
    seen: dict[int, int] = {}
    for value in labels.ravel().tolist():
        seen.setdefault(value, len(seen))
    want = np.vectorize(seen.__getitem__)(labels)
    np.testing.assert_array_equal(got, want)


def test_raster_order_rejects_floats():
    with pytest.raises(TypeError, match="float64"):
        raster_order(np.zeros((2, 2)))
