"""The merging options beyond single linkage: boundary evidence, the ``boundary`` and
``upgma`` linkages, given pair distances, and several hierarchies combined into one."""

import numpy as np
import pytest

from jaxseg.pipeline import cut
from jaxseg.regions.merge import (
    adjacent_pairs_np,
    agglomerate,
    boundary_stats,
    combine_levels,
    hierarchy_levels,
    project_levels,
    ultrametric_levels,
)


def blocks(rows, cols, cell):
    """A ``rows x cols`` grid of square superpixels ``cell`` pixels wide."""
    grid = np.arange(rows * cols).reshape(rows, cols)
    return np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1).astype(np.int32)


def test_boundary_stats_lengths_and_means():
    labels = np.array([[0, 0, 1], [0, 2, 1], [2, 2, 1]])
    values = np.arange(9, dtype=float).reshape(3, 3)
    pairs = adjacent_pairs_np(labels)  # (0, 1), (0, 2), (1, 2)
    lengths, means = boundary_stats(labels, pairs, values)
    np.testing.assert_array_equal(pairs, [[0, 1], [0, 2], [1, 2]])
    # 0|1: (0,1)-(0,2); 0|2: (1,0)-(1,1), (0,1)-(1,1), (1,0)-(2,0); 1|2: (1,1)-(1,2), (2,1)-(2,2)
    np.testing.assert_array_equal(lengths, [1, 3, 2])
    np.testing.assert_allclose(means, [2.0, (4 + 4 + 6) / 3, (5 + 8) / 2])
    np.testing.assert_array_equal(boundary_stats(labels, pairs)[1], [0, 0, 0])


def test_pair_distances_set_the_single_linkage_order():
    labels = np.array([[0, 1, 2, 3]])
    feats = np.array([[0.0], [0.1], [5.0], [5.2]])  # by features: 0-1, 2-3, then 1-2
    pairs, feature_levels = hierarchy_levels(labels, feats, recompute=False)
    assert np.argmax(feature_levels) == 1  # the pair 1-2 joins last
    given = np.array([0.9, 0.1, 0.5])  # now 1-2 first, 2-3 next, 0-1 last
    _, levels = hierarchy_levels(labels, feats, linkage="single", pair_distances=given)
    np.testing.assert_allclose(levels, given)  # single linkage on a path keeps them
    with pytest.raises(ValueError, match="pair_distances must be 3 finite numbers"):
        agglomerate(labels, feats, linkage="single", pair_distances=[0.1, 0.2])
    with pytest.raises(ValueError, match="pair_distances needs linkage 'single' or 'boundary'"):
        agglomerate(labels, feats, linkage="average", pair_distances=given)


def test_boundary_linkage_weighs_pairs_by_boundary_length():
    """Region {0, 1} meets 2 on a long weak boundary (1|2, 3 pixel sides) and a short strong
    one (0|2, 1 side): single linkage merges it with 2 at the weak pair's level, the
    boundary linkage at the length-weighted mean (3 * 0.2 + 1 * 0.8) / 4 = 0.35, after
    the 0.3 merge of 2 and 3."""
    labels = np.array(
        [
            [0, 2, 2, 3],
            [1, 2, 2, 3],
            [1, 1, 2, 3],
        ]
    )
    pairs = adjacent_pairs_np(labels)
    np.testing.assert_array_equal(pairs, [[0, 1], [0, 2], [1, 2], [2, 3]])
    np.testing.assert_array_equal(boundary_stats(labels, pairs)[0], [1, 1, 3, 3])
    given = np.array([0.1, 0.8, 0.2, 0.3])
    feats = np.zeros((4, 1))
    _, single = hierarchy_levels(labels, feats, linkage="single", pair_distances=given)
    _, boundary = hierarchy_levels(labels, feats, linkage="boundary", pair_distances=given)
    np.testing.assert_allclose(single, [0.1, 0.2, 0.2, 0.3])
    np.testing.assert_allclose(boundary, [0.1, 0.35, 0.35, 0.3])


def test_boundary_linkage_has_no_inversions():
    rng = np.random.default_rng(3)
    labels = blocks(5, 6, 2)
    agg = agglomerate(labels, rng.normal(size=(30, 3)), linkage="boundary")
    assert len(agg.distances) == 29
    assert np.all(np.diff(agg.distances) >= -1e-12)  # a merge is never closer than the last


def test_upgma_is_the_mean_distance_of_all_member_pairs():
    rng = np.random.default_rng(0)
    labels = blocks(3, 4, 2)
    feats = rng.normal(size=(12, 3))
    agg = agglomerate(labels, feats, linkage="upgma")
    level = np.tanh(np.abs(feats[:, None] - feats[None]).sum(-1) / 2)
    members = {i: [i] for i in range(12)}
    for (absorbed, survivor), d in zip(agg.merges, agg.distances, strict=True):
        a, b = members[survivor], members.pop(absorbed)
        assert d == pytest.approx(level[np.ix_(a, b)].mean())  # equal sizes: plain mean
        members[survivor] = a + b
    _, levels = hierarchy_levels(labels, feats, linkage="upgma")
    _, centroid = hierarchy_levels(labels, feats, recompute=True)
    assert not np.allclose(levels, centroid)


def test_combine_one_scale_is_that_scale():
    rng = np.random.default_rng(1)
    labels = blocks(4, 5, 3)
    pairs, levels = hierarchy_levels(labels, rng.normal(size=(20, 2)), recompute=False)
    got_pairs, got = combine_levels(labels, [(labels, pairs, levels)])
    np.testing.assert_array_equal(got_pairs, pairs)
    np.testing.assert_array_equal(got, levels)
    np.testing.assert_array_equal(ultrametric_levels(labels, levels), levels)


def test_projected_coarse_hierarchy_cuts_like_the_coarse_one():
    """Coarse superpixels that are unions of fine ones: the projected hierarchy's cut at
    every t is the coarse hierarchy's cut, and the mean of the two is an ultrametric whose
    cuts lie between them."""
    rng = np.random.default_rng(2)
    fine = blocks(6, 6, 2)
    coarse = blocks(3, 3, 4)
    cpairs, clevels = hierarchy_levels(coarse, rng.normal(size=(9, 2)), recompute=False)
    fpairs, flevels = hierarchy_levels(fine, rng.normal(size=(36, 2)), recompute=False)
    projected = project_levels(fine, coarse, cpairs, clevels)
    for t in np.unique(clevels):
        coarse_cut = cut(coarse, cpairs, clevels, t)[coarse]
        fine_cut = cut(fine, fpairs, projected, t)[fine]
        np.testing.assert_array_equal(coarse_cut, fine_cut)
    pairs, mean = combine_levels(fine, [(coarse, cpairs, clevels), (fine, fpairs, flevels)])
    np.testing.assert_array_equal(pairs, fpairs)
    assert np.all(mean <= (projected + flevels) / 2 + 1e-12)  # subdominant: never above
    np.testing.assert_array_equal(ultrametric_levels(fine, mean), mean)
    with pytest.raises(ValueError, match="at least one hierarchy"):
        combine_levels(fine, [])
