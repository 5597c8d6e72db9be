"""Tests for jaxseg.regions.connectivity (host NumPy post-processing)."""

import numpy as np
import pytest
import skimage.measure
from numpy.testing import assert_array_equal

from jaxseg.regions.connectivity import enforce_connectivity, relabel_sequential


def _n_components(labels):
    return int(skimage.measure.label(labels + 1, background=0, connectivity=1).max())


def _same_partition(a, b):
    """True when a and b are the same partition up to renaming the labels."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return pairs.shape[1] == len(np.unique(a)) == len(np.unique(b))


def test_relabel_sequential_exact():
    labels = np.array([[5, 5, 9], [-1, 9, 9]])
    out = relabel_sequential(labels)
    assert out.dtype == np.int32
    assert_array_equal(out, [[1, 1, 2], [0, 2, 2]])


def test_relabel_sequential_huge_values():
    labels = np.array([[10**12, 3], [3, -(10**12)]], np.int64)
    assert_array_equal(relabel_sequential(labels), [[2, 1], [1, 0]])


def test_split_disconnected_label_min_size_zero():
    labels = np.array(
        [
            [0, 0, 1, 0],
            [1, 1, 1, 0],
            [2, 2, 1, 0],
        ]
    )
    out = enforce_connectivity(labels, min_size=0)
    # Label 0 has two 4-connected pieces (the top-left pair and the right column).
    assert out.max() + 1 == 4
    assert _n_components(out) == 4
    # The output refines the input: each output label lies inside one input label.
    pairs = np.unique(np.stack([out.ravel(), labels.ravel()]), axis=1)
    assert pairs.shape[1] == 4


def test_diagonal_contact_is_not_connected():
    labels = np.array([[0, 1], [1, 0]])
    out = enforce_connectivity(labels, min_size=0)
    assert_array_equal(np.sort(np.unique(out)), np.arange(4))


def test_small_piece_absorbed_by_largest_neighbour():
    labels = np.zeros((6, 6), int)
    labels[:, 3:] = 1
    labels[3:, :3] = 2
    labels[0, 2] = 3  # touches label 0 (8 pixels) and label 1 (17 pixels): joins 1
    labels[2, 4] = 3  # surrounded by label 1
    labels[4, 1] = 0  # stray piece of label 0 inside label 2: joins label 2
    out = enforce_connectivity(labels, min_size=2)
    expect = np.zeros((6, 6), int)
    expect[:, 3:] = 1
    expect[3:, :3] = 2
    expect[0, 2] = 1
    assert _same_partition(out, expect)


def test_small_first_component_joins_largest_neighbour():
    labels = np.ones((4, 6), int)
    labels[:2, :2] = 0  # component containing pixel (0, 0), too small
    labels[2:, :] = 2  # 12 pixels, label 1 has 8
    out = enforce_connectivity(labels, min_size=5)
    expect = np.ones((4, 6), int)
    expect[2:, :] = 2
    expect[:2, :2] = 2
    # Label 0's piece touches label 1 (right) and label 2 (below): it joins the larger.
    assert _same_partition(out, expect)


def test_chain_of_small_pieces_ends_in_large_segment():
    labels = np.zeros((5, 12), int)
    labels[:, 6:] = 1
    labels[1:4, 8:11] = 6  # 8-pixel ring inside label 1 ...
    labels[2, 9] = 7  # ... around a 1-pixel piece whose only neighbour is the ring
    labels[2, 0] = 5  # small piece whose only neighbour is label 0
    out = enforce_connectivity(labels, min_size=10)
    expect = np.zeros((5, 12), int)
    expect[:, 6:] = 1
    assert _same_partition(out, expect)
    # With a smaller min_size the ring survives and only the centre pixel joins it.
    out = enforce_connectivity(labels, min_size=2)
    expect[1:4, 8:11] = 6
    assert _same_partition(out, expect)


def test_random_labels_properties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, size=(6, 8)).repeat(5, 0).repeat(5, 1)  # blocky random labels
    labels[rng.uniform(size=labels.shape) < 0.05] = 7  # salt noise: many tiny pieces
    out = enforce_connectivity(labels, min_size=10)
    k = out.max() + 1
    assert out.dtype == np.int32 and out.shape == labels.shape
    assert_array_equal(np.unique(out), np.arange(k))  # consecutive
    assert _n_components(out) == k  # each label one 4-connected region
    assert np.bincount(out.ravel()).min() >= 10
    # Coarsens the connected components: every component lies inside one output label.
    comps = skimage.measure.label(labels + 1, background=0, connectivity=1)
    pairs = np.unique(np.stack([comps.ravel(), out.ravel()]), axis=1)
    assert pairs.shape[1] == comps.max()


def test_whole_image_smaller_than_min_size():
    labels = np.array([[0, 1], [1, 1]])
    out = enforce_connectivity(labels, min_size=100)
    assert_array_equal(out, np.zeros((2, 2)))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"2-D label image \(H, W\); got shape \(2, 2, 2\)"):
        enforce_connectivity(np.zeros((2, 2, 2), int), min_size=1)
    with pytest.raises(TypeError, match="integer labels; got dtype float64"):
        relabel_sequential(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty label image"):
        relabel_sequential(np.zeros((0, 3), int))
    with pytest.raises(ValueError, match="min_size must be >= 0; got -1"):
        enforce_connectivity(np.zeros((2, 2), int), min_size=-1)
    with pytest.raises(TypeError, match="min_size must be an int; got 2.5"):
        enforce_connectivity(np.zeros((2, 2), int), min_size=2.5)
