"""Tests for jaxseg.regions.merge: Algorithm 1 (union-find) and the merge hierarchy as a ucm2."""

import numpy as np
import pytest

from jaxseg.metrics.region import ucm2_to_segmentation as ucm_regions  # the benchmark's rule
from jaxseg.regions.merge import (
    DISTANCES,
    adjacent_pairs_np,
    agglomerate,
    hierarchy_levels,
    labels_to_ucm2,
    merge_hierarchy,
    merge_threshold,
    merge_to_counts,
    similarity_np,
)


def canonical(labels: np.ndarray) -> np.ndarray:
    """Renumber a partition by first appearance in raster order (compare partitions)."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].reshape(labels.shape)


def grid_superpixels(height, width, cell, rng, *, n_noise=0):
    """Blocky superpixels with a few stray pixels (so some labels are disconnected)."""
    rows = np.arange(height)[:, None] // cell
    cols = np.arange(width)[None, :] // cell
    labels = rows * (-(-width // cell)) + cols
    for _ in range(n_noise):
        r, c = rng.integers(height), rng.integers(width)
        labels[r, c] = labels[rng.integers(height), rng.integers(width)]
    return labels.astype(np.int32)


# ----------------------------------------------------------------------------- Algorithm 1


CHAIN = np.array([[0, 1, 2, 3]])
CHAIN_PAIRS = np.array([[0, 1], [1, 2], [2, 3]])
CHAIN_SIM = np.array([0.9, 0.5, 0.8])


@pytest.mark.parametrize(
    "threshold, expected",
    [
        (0.5, [[0, 0, 1, 1]]),  # s = 0.5 is not > 0.5: the middle pair stays apart
        (0.49, [[0, 0, 0, 0]]),
        (0.8, [[0, 0, 1, 2]]),  # s = 0.8 is not > 0.8
        (0.9, [[0, 1, 2, 3]]),
        (0.0, [[0, 0, 0, 0]]),
    ],
)
def test_merge_threshold_chain_is_strict(threshold, expected):
    out = merge_threshold(CHAIN, CHAIN_PAIRS, CHAIN_SIM, threshold)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int32


def test_merge_threshold_cycle_is_transitive():
    # 0 1      0-1 and 1-2 similar, 2-3 and 3-0 not: {0, 1, 2} merge although 0 and 2
    # 3 2      only touch diagonally (not adjacent).
    labels = np.array([[0, 1], [3, 2]])
    pairs = np.array([[0, 1], [1, 2], [2, 3], [0, 3]])
    sim = np.array([0.8, 0.8, 0.1, 0.1])
    np.testing.assert_array_equal(merge_threshold(labels, pairs, sim, 0.5), [[0, 0], [1, 0]])


def test_merge_threshold_does_not_depend_on_pair_order():
    rng = np.random.default_rng(0)
    labels = grid_superpixels(12, 15, 3, rng)
    pairs = adjacent_pairs_np(labels)
    sim = rng.uniform(size=len(pairs))
    ref = merge_threshold(labels, pairs, sim, 0.6)
    perm = rng.permutation(len(pairs))
    np.testing.assert_array_equal(merge_threshold(labels, pairs[perm, ::-1], sim[perm], 0.6), ref)


def test_merge_threshold_splits_disconnected_regions():
    labels = np.array([[0, 1, 0]])  # label 0 in two pieces
    pairs = np.array([[0, 1]])
    np.testing.assert_array_equal(merge_threshold(labels, pairs, [0.2], 0.5), [[0, 1, 2]])
    np.testing.assert_array_equal(merge_threshold(labels, pairs, [0.7], 0.5), [[0, 0, 0]])


def test_merge_threshold_ignores_invalid_rows():
    pairs = np.array([[0, 1], [1, 2], [0, 0], [2, 3]])
    sim = np.array([0.9, 0.99, 1.0, 0.1])
    valid = np.array([True, False, False, True])
    out = merge_threshold(CHAIN, pairs, sim, 0.5, valid=valid)
    np.testing.assert_array_equal(out, [[0, 0, 1, 2]])


def test_merge_threshold_min_size_absorbs_small_regions():
    labels = np.array([[0, 0, 0, 1, 2, 2]])
    pairs = np.array([[0, 1], [1, 2]])
    out = merge_threshold(labels, pairs, [0.1, 0.1], 0.5, min_size=2)
    assert len(np.unique(out)) == 2  # the 1-pixel region went into a neighbour
    assert out[0, 0] != out[0, 5]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(labels=np.zeros((2, 2), np.float32)), TypeError, "integer labels"),
        (dict(labels=np.zeros(4, np.int32)), ValueError, r"\(H, W\)"),
        (dict(labels=-np.ones((1, 4), np.int32)), ValueError, ">= 0"),
        (dict(pairs=np.array([0, 1])), ValueError, r"\(P, 2\)"),
        (dict(pairs=np.array([[0.0, 1.0]] * 3)), TypeError, "integers"),
        (dict(similarity=np.array([0.1, 0.2])), ValueError, r"shape \(3,\)"),
        (dict(similarity=np.array([0.1, np.nan, 0.2])), ValueError, "non-finite"),
        (dict(threshold=float("nan")), ValueError, "finite"),
        (dict(pairs=np.array([[0, 1], [1, 2], [2, 7]])), ValueError, "outside"),
        (dict(valid=np.ones(2, bool)), ValueError, "valid"),
    ],
)
def test_merge_threshold_bad_input(kwargs, exc, match):
    args = dict(labels=CHAIN, pairs=CHAIN_PAIRS, similarity=CHAIN_SIM, threshold=0.5)
    args.update(kwargs)
    valid = args.pop("valid", None)
    with pytest.raises(exc, match=match):
        merge_threshold(**args, valid=valid)


# ----------------------------------------------------------------------------- ucm2 layout


def test_labels_to_ucm2_layout_by_hand():
    labels = np.array([[0, 1], [0, 1]])
    ucm2 = labels_to_ucm2(labels, np.array([[1, 0]]), np.array([0.3]))
    column = np.array([0, 0, 0.3, 0, 0])
    np.testing.assert_array_equal(ucm2, np.tile(column, (5, 1)))
    # imageSize boundary map = seg2bdry of the partition (METRICS §2.1), worked by hand.
    np.testing.assert_array_equal(ucm2[2::2, 2::2] >= 0.3, [[1, 0], [1, 0]])


def test_labels_to_ucm2_junctions_are_max_of_edges():
    labels = np.array([[0, 1], [2, 3]])
    pairs = np.array([[0, 1], [0, 2], [1, 3], [2, 3]])
    ucm2 = labels_to_ucm2(labels, pairs, np.array([0.1, 0.2, 0.3, 0.4]))
    assert ucm2[1, 2] == 0.1 and ucm2[3, 2] == 0.4  # horizontal neighbours, rows 0 and 1
    assert ucm2[2, 1] == 0.2 and ucm2[2, 3] == 0.3  # vertical neighbours, columns 0 and 1
    assert ucm2[2, 2] == 0.4  # the one interior junction
    assert np.all(ucm2[1::2, 1::2] == 0)  # pixels
    # Frame copied from the inner neighbour: pb's last row/column carry the edges there.
    np.testing.assert_array_equal(ucm2[2::2, 2::2], [[0.4, 0.3], [0.4, 0.0]])


def test_labels_to_ucm2_unlisted_pair_gets_level_one():
    ucm2 = labels_to_ucm2(np.array([[0, 1, 2]]), np.array([[0, 1]]), np.array([0.25]))
    np.testing.assert_array_equal(ucm2[1, 2:-1:2], [0.25, 1.0])


# ----------------------------------------------------------------------------- hierarchy


def test_hierarchy_recompute_uses_size_weighted_means():
    labels = np.array([[0, 0, 0, 1, 2]])
    feats = np.array([[0.0], [1.0], [4.0]])
    pairs, levels = hierarchy_levels(labels, feats)
    np.testing.assert_array_equal(pairs, [[0, 1], [1, 2]])
    # merge 0,1 at d = 1; merged mean (3*0 + 1*1)/4 = 0.25; then d = 3.75 to region 2.
    np.testing.assert_allclose(levels, [np.tanh(0.5), np.tanh(3.75 / 2)], rtol=1e-12)
    _, single = hierarchy_levels(labels, feats, recompute=False)
    np.testing.assert_allclose(single, [np.tanh(0.5), np.tanh(1.5)], rtol=1e-12)


def test_hierarchy_levels_are_made_monotone():
    # a=(0,0), b=(2,0), z=(1,1.5): a-b merge first (d=2); the merged mean (1,0) is at
    # d=1.5 from z, below the first merge, so z joins at the first merge's level.
    labels = np.array([[0, 1], [2, 2]])
    feats = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 1.5]])
    pairs, levels = hierarchy_levels(labels, feats)
    np.testing.assert_array_equal(pairs, [[0, 1], [0, 2], [1, 2]])
    np.testing.assert_allclose(levels, [np.tanh(1.0)] * 3, rtol=1e-12)


def _random_case(seed):
    rng = np.random.default_rng(seed)
    labels = grid_superpixels(18, 21, 3, rng, n_noise=6)
    feats = rng.normal(size=(labels.max() + 1, 4)) * 0.5
    return labels, feats


@pytest.mark.parametrize("recompute", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_ucm_is_ultrametric_and_nested(seed, recompute):
    labels, feats = _random_case(seed)
    ucm2 = merge_hierarchy(labels, feats, recompute=recompute)
    pairs, levels = hierarchy_levels(labels, feats, recompute=recompute)
    assert ucm2.shape == (2 * labels.shape[0] + 1, 2 * labels.shape[1] + 1)
    assert ucm2.min() >= 0 and ucm2.max() <= 1
    # Every boundary edge between pixels of superpixels i, j carries the pair's level...
    horiz = labels[:, :-1] != labels[:, 1:]
    lookup = {tuple(p): lv for p, lv in zip(pairs.tolist(), levels, strict=True)}
    a, b = labels[:, :-1][horiz], labels[:, 1:][horiz]
    expect = [lookup[(min(x, y), max(x, y))] for x, y in zip(a, b, strict=True)]
    np.testing.assert_array_equal(ucm2[1::2, 2:-1:2][horiz], expect)
    # ... and that is the level at which two touching pixels of i and j first share a region.
    values = np.unique(np.concatenate([[0.0], levels]))
    rows, cols = np.nonzero(horiz)
    for r, c in zip(rows[::3], cols[::3], strict=True):
        lv = lookup[tuple(sorted((labels[r, c], labels[r, c + 1])))]
        below = values[np.searchsorted(values, lv) - 1] if lv > 0 else -1.0
        at, before = ucm_regions(ucm2, lv), ucm_regions(ucm2, below)
        assert at[r, c] == at[r, c + 1]
        assert below < 0 or before[r, c] != before[r, c + 1]
    # Thresholds give nested partitions: each fine region lies inside one coarse region.
    parts = [ucm_regions(ucm2, t) for t in np.linspace(0, 1, 21)]
    for fine, coarse in zip(parts[:-1], parts[1:], strict=True):
        for region in np.unique(fine):
            assert len(np.unique(coarse[fine == region])) == 1
    assert len(np.unique(parts[-1])) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_linkage_ucm_equals_algorithm_1(seed):
    labels, feats = _random_case(seed)
    pairs = adjacent_pairs_np(labels)
    sim = similarity_np(np.abs(feats[pairs[:, 0]] - feats[pairs[:, 1]]).sum(axis=1))
    ucm2 = merge_hierarchy(labels, feats, recompute=False)
    sorted_sim = np.sort(sim)
    # thresholds strictly between consecutive similarities (where "> T" and "<= 1-T" agree)
    for threshold in (sorted_sim[:-1] + sorted_sim[1:])[::7] / 2:
        expected = merge_threshold(labels, pairs, sim, threshold)
        got = ucm_regions(ucm2, 1.0 - threshold)
        np.testing.assert_array_equal(canonical(got), canonical(expected))


def test_similarity_np_matches_the_paper_formula():
    d = np.array([0.0, 0.5, 3.0, 800.0])
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(similarity_np(d), 2 / (1 + np.exp(d)), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "features, match",
    [
        (np.zeros((2, 1)), "labels go up to 3"),
        (np.zeros(4), r"\(m, C\)"),
        (np.full((4, 1), np.nan), "finite"),
    ],
)
def test_merge_hierarchy_bad_features(features, match):
    with pytest.raises(ValueError, match=match):
        merge_hierarchy(CHAIN, features)


# ----------------------------------------------------------------------------- agglomerate


def _brute_force(labels, feats, order, distance, min_size=0, target=1):
    """Greedy merging over explicit sets of labels, every distance recomputed each step.

    Yields the partition (as a region number per label) after each merge.
    """
    sizes = np.bincount(labels.ravel(), minlength=len(feats)).astype(float)
    regions = [{int(i)} for i in np.flatnonzero(sizes)]
    names = [int(i) for i in np.flatnonzero(sizes)]
    touching = {tuple(p) for p in adjacent_pairs_np(labels).tolist()}

    def mean_size(r):
        idx = sorted(r)
        n = sizes[idx].sum()
        return (feats[idx] * sizes[idx, None]).sum(0) / n, n

    def adjacent(r, q):
        return any((min(a, b), max(a, b)) in touching for a in r for b in q)

    def dist(r, q):
        (fr, nr), (fq, nq) = mean_size(r), mean_size(q)
        return float(DISTANCES[distance](fr, fq, nr, nq))

    while len(regions) > 1:
        if order == "closest_pair":
            cands = [
                (dist(r, q), x, y)
                for x, r in enumerate(regions)
                for y, q in enumerate(regions[x + 1 :], x + 1)
                if adjacent(r, q)
            ]
            if not cands or len(regions) <= target:
                return
            _, x, y = min(cands)
            regions[x] |= regions[y]
            del regions[y]
        else:
            # a region is named by the region it was merged into (ties: smallest name)
            x = min(range(len(regions)), key=lambda i: (mean_size(regions[i])[1], names[i]))
            if len(regions) <= target and mean_size(regions[x])[1] >= min_size:
                return
            ys = [y for y in range(len(regions)) if y != x and adjacent(regions[x], regions[y])]
            y = min(ys, key=lambda y: (dist(regions[x], regions[y]), names[y]))
            regions[y] |= regions[x]
            del regions[x], names[x]
        part = np.zeros(len(feats), int)
        for n, r in enumerate(regions):
            part[sorted(r)] = n
        yield part[labels]


@pytest.mark.parametrize("distance", ["level", "squared", "ward"])
@pytest.mark.parametrize("seed", [0, 1])
def test_closest_pair_agglomeration_equals_brute_force(seed, distance):
    labels, feats = _random_case(seed)  # continuous features: no ties
    agg = agglomerate(labels, feats * 0.3, distance=distance)
    present = len(np.unique(labels))
    steps = list(_brute_force(labels, feats * 0.3, "closest_pair", distance))
    assert len(agg.merges) == len(steps) == present - 1
    for n, want in enumerate(steps, 1):
        np.testing.assert_array_equal(canonical(agg.partition(present - n)), canonical(want))


def test_smallest_region_agglomeration_equals_brute_force():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 40, (12, 15))
    labels = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    feats = rng.normal(size=(labels.max() + 1, 3))
    agg = agglomerate(
        labels, feats, order="smallest_region", distance="squared", target=12, min_size=4
    )
    steps = list(_brute_force(labels, feats, "smallest_region", "squared", 4, 12))
    assert len(agg.merges) == len(steps)
    np.testing.assert_array_equal(canonical(agg.partition()), canonical(steps[-1]))
    sizes = np.bincount(agg.partition().ravel())
    assert len(sizes) <= 12 and sizes.min() >= 4


def test_partition_numbers_regions_by_smallest_label_and_stops_at_components():
    labels = np.array([[3, 1, 2, 0]])  # regions 3|1 and 2|0 adjacent pairwise along the row
    feats = np.array([[0.0], [5.0], [0.1], [5.1]])
    segs = merge_to_counts(labels, feats, [4, 2, 0])
    np.testing.assert_array_equal(segs[0], [[3, 1, 2, 0]])
    np.testing.assert_array_equal(segs[1], [[1, 1, 0, 0]])  # {0, 2} holds label 0
    np.testing.assert_array_equal(segs[2], [[0, 0, 0, 0]])  # count 0: as far as it goes


def test_agglomerate_rejects_unknown_options():
    with pytest.raises(ValueError, match="distance='cosine' is not one of"):
        agglomerate(CHAIN, np.zeros((4, 1)), distance="cosine")
    with pytest.raises(ValueError, match="order='largest' is not one of"):
        agglomerate(CHAIN, np.zeros((4, 1)), order="largest")
