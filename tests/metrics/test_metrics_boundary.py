"""Unit tests of the boundary benchmark on tiny hand-made maps (answers worked by hand)."""

import numpy as np
import pytest
import skimage.filters
import skimage.morphology

from jaxseg.metrics.boundary import (
    average_precision,
    collect_boundary,
    correspond_pixels,
    evaluate_image_boundary,
    max_f,
    seg2bdry,
    thin,
)
from jaxseg.metrics.io import Result


def test_seg2bdry_by_hand():
    seg = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    # interior pixel (r, c) is on iff the 2x2 block (r..r+1, c..c+1) holds two labels:
    #   (0,0): 1 1 / 1 1 -> 0   (0,1): 1 2 / 1 2 -> 1   (1,0): 1 1 / 3 3 -> 1   (1,1) -> 1
    # last column: seg[r,2] != seg[r+1,2]: r=0: 2 vs 2 -> 0, r=1: 2 vs 3 -> 1
    # last row: seg[2,c] != seg[2,c+1]: 3 vs 3 -> 0 twice; bottom-right -> 0
    expected = np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(seg2bdry(seg), expected)


def test_seg2bdry_double_size_layout():
    seg = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]])
    b2 = seg2bdry(seg, double_size=True)
    assert b2.shape == (7, 7)
    assert not b2[1::2, 1::2].any()  # pixel cells
    # edge between (0,1) and (0,2) (labels 1|2) sits at [1, 4]; between (0,0),(0,1) at [1, 2]
    assert b2[1, 4] and not b2[1, 2]
    # edge between (1,0) and (2,0) (labels 1/3) sits at [4, 1]
    assert b2[4, 1]
    np.testing.assert_array_equal(b2[2::2, 2::2], seg2bdry(seg))


def test_seg2bdry_uniform_is_empty():
    assert not seg2bdry(np.full((4, 5), 7)).any()


def test_thin_thick_bar_to_line():
    bar = np.zeros((9, 12), dtype=bool)
    bar[3:6, 2:10] = True  # 3 pixels thick
    t = thin(bar)
    # one pixel wide: no column holds more than one pixel, and it stays inside the bar
    assert t.sum(axis=0).max() == 1
    assert not (t & ~bar).any()
    line = np.zeros((5, 8), dtype=bool)
    line[2, 1:7] = True
    np.testing.assert_array_equal(thin(line), line)  # already thin: unchanged


def test_thin_is_skimage_thin_bit_for_bit():
    # random maps of every density, and thresholded BSDS-like soft maps: thin only visits
    # the pixels still on, and must delete exactly what skimage's whole-image passes delete
    rng = np.random.default_rng(0)
    maps = [rng.random(rng.integers(1, 40, 2)) < rng.uniform(0.05, 0.95) for _ in range(150)]
    soft = skimage.filters.gaussian(rng.random((60, 90)), sigma=2)
    maps += [soft >= q for q in np.quantile(soft, [0.3, 0.6, 0.9])]
    for k, bmap in enumerate(maps):
        np.testing.assert_array_equal(thin(bmap), skimage.morphology.thin(bmap), err_msg=k)


# 200 x 200 image: D = 0.0075 * sqrt(2) * 200 = 2.1213 px, so squared offsets
# {0, 1, 2, 4} are matchable and {5, 8, 9, ...} are not.
SIZE = (200, 200)


def _maps(machine_pts, gt_pts):
    m = np.zeros(SIZE, dtype=bool)
    g = np.zeros(SIZE, dtype=bool)
    for p in machine_pts:
        m[p] = True
    for p in gt_pts:
        g[p] = True
    return m, g


def test_correspond_tolerance_is_a_disk():
    # machine pixels at distance sqrt(2), 2, sqrt(5), 3 from their only GT pixel
    m, g = _maps(
        [(10, 11), (50, 52), (90, 92), (130, 133)], [(11, 10), (50, 50), (91, 90), (130, 130)]
    )
    m1, m2 = correspond_pixels(m, g)
    assert m1[10, 11] and m1[50, 52]  # d^2 = 2 and 4 <= 4.5
    assert not m1[90, 92] and not m1[130, 133]  # d^2 = 5 and 9 > 4.5
    assert m2.sum() == m1.sum() == 2


def test_correspond_one_to_one_and_min_cost():
    # two machine pixels compete for one GT pixel: one match, the one at distance 0
    m, g = _maps([(10, 10), (10, 11)], [(10, 10)])
    m1, m2 = correspond_pixels(m, g)
    assert m1.sum() == 1 and m2.sum() == 1 and m1[10, 10]


def test_correspond_maximum_not_greedy():
    # machine a1=(20,20), a2=(20,22); GT b1=(20,20), b2=(20,18).
    # Greedy nearest pairs a1-b1 (0) and leaves a2 (b2 is 4 px away) alone: 1 match.
    # The optimum is a1-b2 (2 px) and a2-b1 (2 px): 2 matches.
    m, g = _maps([(20, 20), (20, 22)], [(20, 20), (20, 18)])
    m1, m2 = correspond_pixels(m, g)
    assert m1.sum() == 2 and m2.sum() == 2


def test_correspond_identical_maps_match_fully():
    seg = np.zeros((40, 60), dtype=int) + 1
    seg[10:30, 15:40] = 2
    seg[25:, 45:] = 3
    b = thin(seg2bdry(seg))
    m1, m2 = correspond_pixels(b, b)
    np.testing.assert_array_equal(m1, b)
    np.testing.assert_array_equal(m2, b)


def test_correspond_empty_and_shape_errors():
    m, g = _maps([], [(3, 3)])
    m1, m2 = correspond_pixels(m, g)
    assert not m1.any() and not m2.any()
    with pytest.raises(ValueError, match=r"machine map \(200, 200\) and ground truth \(5, 5\)"):
        correspond_pixels(m, np.zeros((5, 5)))


def _gt_from(seg):
    return thin(seg2bdry(seg))


def test_evaluate_image_boundary_perfect_segs():
    seg = np.ones((30, 40), dtype=int)
    seg[:, 20:] = 2
    seg[15:, :10] = 3
    gts = [_gt_from(seg), _gt_from(seg)]
    ev = evaluate_image_boundary(np.stack([seg, seg]), gts)
    np.testing.assert_array_equal(ev[:, 0], [1, 2])  # segs: thresholds are the scales 1..n
    np.testing.assert_array_equal(ev[:, 1], ev[:, 2])  # cntR == sumR
    np.testing.assert_array_equal(ev[:, 3], ev[:, 4])  # cntP == sumP
    assert ev[0, 2] == 2 * gts[0].sum()  # recall pools both humans


def test_result_kind_from_the_image_size():
    # 3x5 image (odd sides, like BSDS 481x321): a (3, 5) float map is a soft boundary map,
    # a (7, 11) one a ucm2, an integer (3, 5) array one label image
    gt = np.zeros((3, 5), dtype=bool)
    gt[:, 1] = True
    pb = np.zeros((3, 5))
    pb[:, 1] = 0.7
    ev_pb = evaluate_image_boundary(pb, [gt], nthresh=1)  # t = 0.5
    assert ev_pb[0, 1] == 3 and ev_pb[0, 4] == 3
    ucm2 = np.zeros((7, 11))
    ucm2[:, 4] = 0.7  # column 4 = pb column 1
    np.testing.assert_array_equal(evaluate_image_boundary(ucm2, [gt], nthresh=1), ev_pb)
    seg = np.where(np.arange(5) <= 1, 1, 2)[None].repeat(3, 0)  # boundary on column 1
    ev_seg = evaluate_image_boundary(seg, [gt])
    np.testing.assert_array_equal(ev_seg[:, 1:], ev_pb[:, 1:])


def test_evaluate_image_boundary_ucm_thresholds():
    # 2x3 image, one vertical contour of strength 0.5 between columns 0 and 1
    ucm2 = np.zeros((5, 7))
    ucm2[:, 2] = 0.5
    gt = np.zeros((2, 3), dtype=bool)
    gt[:, 0] = True  # pb = ucm2[2::2, 2::2] puts the contour on column 0
    ev = evaluate_image_boundary(ucm2, [gt], nthresh=3)  # t = 0.25, 0.5, 0.75
    np.testing.assert_allclose(ev[:, 0], [0.25, 0.5, 0.75])
    # pb >= t: on at 0.25 and 0.5 (>= counts), off at 0.75
    np.testing.assert_array_equal(ev[:, 4], [2, 2, 0])
    np.testing.assert_array_equal(ev[:, 1], [2, 2, 0])
    ev = evaluate_image_boundary(ucm2, [gt], thresholds=[0.4, 0.6])  # explicit thresholds
    np.testing.assert_array_equal(ev[:, 0], [0.4, 0.6])
    np.testing.assert_array_equal(ev[:, 4], [2, 0])
    with pytest.raises(ValueError, match="thresholds must be a non-empty increasing"):
        evaluate_image_boundary(ucm2, [gt], thresholds=[0.6, 0.4])


def test_evaluate_image_boundary_errors():
    gt = np.zeros((4, 5), dtype=bool)
    with pytest.raises(ValueError, match=r"fits neither a ucm2 \(9, 11\) nor a boundary map"):
        evaluate_image_boundary(np.zeros((9, 9)), [gt])
    with pytest.raises(ValueError, match=r"double size \(9, 11\)"):
        evaluate_image_boundary(Result("ucm2", np.zeros((9, 9))), [gt])
    with pytest.raises(ValueError, match="empty"):
        evaluate_image_boundary(np.zeros((9, 11)), [])
    bad = np.zeros((9, 11))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        evaluate_image_boundary(bad, [gt])
    with pytest.raises(ValueError, match=r"segs have size \(3, 5\), ground truth \(4, 5\)"):
        evaluate_image_boundary(np.ones((2, 3, 5), dtype=int), [gt])
    with pytest.raises(ValueError, match="nthresh must be >= 1"):
        evaluate_image_boundary(np.zeros((9, 11)), [gt], nthresh=0)


def test_max_f_interpolates():
    # R falls 0.8 -> 0.4 and P rises 0.4 -> 0.8: both ends give F = 2*.32/1.2 = 0.5333,
    # the middle (R = P = 0.6) gives 0.6. The d grid j/99 has no 0.5: j = 49 gives
    # R = (0.4*49 + 0.8*50)/99 = 0.60202, P = 0.59798, F = 2*59.6*59.2/(99*118.8)
    # = 7056.64/11761.2 = 0.6 - 0.08/11761.2 = 0.5999932 (j = 50 mirrors it).
    t, r, p, f = max_f([0.1, 0.2], [0.8, 0.4], [0.4, 0.8])
    assert f == pytest.approx(0.5999932, abs=1e-7)
    assert {round(r, 5), round(p, 5)} == {0.60202, 0.59798}
    assert t == pytest.approx(0.1 + 0.1 * (49 if r > p else 50) / 99)
    # F decreasing with the threshold: the first threshold wins
    assert max_f([1, 2, 3], [0.9, 0.5, 0.1], [0.9, 0.5, 0.1]) == pytest.approx((1, 0.9, 0.9, 0.9))


def test_average_precision_by_hand():
    # P interpolated at R = 0.20, 0.21, ..., 0.60 (41 points) on the line from 0.9 to 0.5:
    # sum = 41 * (0.9 + 0.5) / 2 = 28.7; AP = 0.01 * 28.7; points outside add 0.
    assert average_precision([0.6, 0.2], [0.5, 0.9]) == pytest.approx(0.287)
    # repeated R: the last occurrence (P = 0.8) is kept: 21 points from 0.8 to 0.6 -> 0.147
    assert average_precision([0.5, 0.5, 0.7], [0.9, 0.8, 0.6]) == pytest.approx(0.147)
    assert average_precision([0.5, 0.5], [0.9, 0.8]) == 0.0  # one distinct R


def test_collect_boundary_by_hand():
    # two thresholds, columns cntR sumR cntP sumP
    a = np.array([[5, 10, 5, 5], [8, 10, 4, 8]])  # F = 0.6667, 0.6154 -> OIS picks t1
    b = np.array([[1, 10, 1, 1], [6, 10, 6, 8]])  # F = 0.1818, 0.6667 -> OIS picks t2
    out = collect_boundary([0.25, 0.5], [a, b])
    # pooled: t1 R = 6/20, P = 6/6; t2 R = 14/20, P = 10/16
    np.testing.assert_allclose(out["thr"][:, 1], [0.3, 0.7])
    np.testing.assert_allclose(out["thr"][:, 2], [1.0, 0.625])
    # OIS: (5 + 6) / 20 = 0.55, (5 + 6) / (5 + 8) = 0.846154, F = 2/3
    assert out["ois_r"] == pytest.approx(0.55)
    assert out["ois_p"] == pytest.approx(11 / 13)
    assert out["ois_f"] == pytest.approx(2 / 3)
    np.testing.assert_array_equal(out["img"][:, 0], [1, 2])
    assert out["ods_f"] >= 2 * 0.7 * 0.625 / 1.325 - 1e-12  # at least the best discrete F
    with pytest.raises(ValueError, match="same number of thresholds"):
        collect_boundary([0.25, 0.5], [a, b[:1]])


def _square_reference(a, b, wgt, n1, n2, ow):
    """The square assignment of METRICS.md §5.2, solved densely: returns (k, sum w)."""
    from scipy.optimize import linear_sum_assignment

    n = n1 + n2
    cost = np.full((n, n), np.inf)
    cost[a, b] = 2 * wgt  # machine a -> GT b
    cost[np.arange(n1), n2 + np.arange(n1)] = ow  # machine a -> its own dummy
    cost[n1 + np.arange(n2), np.arange(n2)] = ow  # GT b's dummy -> GT b
    cost[n1 + b, n2 + a] = 0  # dummy pairs of every candidate pair
    r, c = linear_sum_assignment(cost)
    real = (r < n1) & (c < n2)
    return int(real.sum()), int(cost[r[real], c[real]].sum() // 2)


@pytest.mark.parametrize("dense_max", [0, 10**9])  # sparse LAPJVsp path, dense path
def test_min_cost_matching_equals_square_formulation(monkeypatch, dense_max):
    """The rectangular problem has the optimum of the §5.2 square one.

    A 2 ow outlier slot (each pair saving 2 ow - w instead of ow - w) fails this test.
    """
    from jaxseg.metrics import boundary

    monkeypatch.setattr(boundary, "_DENSE_MAX", dense_max)
    rng = np.random.default_rng(0)
    # the BSDS outlier weight, and small ones for which some pairs are not worth matching
    for ow in [43371] * 10 + [300] * 10 + [150] * 10:
        n1, n2 = rng.integers(1, 30, size=2)
        dense = rng.random((n1, n2)) < 0.15
        dense[rng.integers(n1), rng.integers(n2)] = True
        a, b = np.nonzero(dense)
        wgt = rng.choice([0, 100, 141, 200, 224, 283, 300, 316, 361, 400, 412, 424], a.size)
        xa, xb = boundary._min_cost_matching(a, b, wgt, n1, n2, ow)
        assert len(set(xa.tolist())) == xa.size and len(set(xb.tolist())) == xb.size
        w = {(i, j): v for i, j, v in zip(a.tolist(), b.tolist(), wgt.tolist(), strict=True)}
        got_cost = sum(w[(i, j)] for i, j in zip(xa.tolist(), xb.tolist(), strict=True))
        k_ref, cost_ref = _square_reference(a, b, wgt, n1, n2, ow)
        # same objective sum(w) - ow k (with small ow, ties between k and k+1 are possible)
        assert got_cost - ow * xa.size == cost_ref - ow * k_ref
        if ow > 424 * 60:  # BSDS weight: the optimum is a maximum matching, count fixed
            assert xa.size == k_ref


def test_matcher_reuses_only_unchanged_components():
    """A matcher that saw another map (the threshold before) matches a map exactly as a
    fresh one: solved components are reused only where the machine pixels are the same.

    Keying the stored solutions on anything coarser than the component's machine pixels
    (e.g. their count) gives the right-hand contour of ``second`` the matching of the
    left-hand one of ``first`` (the same length) and fails this test.
    """
    from jaxseg.metrics.boundary import PixelMatcher

    gt = np.zeros((300, 400), dtype=bool)  # tolerance 0.0075 * 500 = 3.75 px
    gt[50:250, 100] = gt[50:250, 300] = gt[150, 150:250] = True  # three human contours
    first = np.zeros_like(gt)
    first[151, 160:240] = True  # in both maps
    second = first.copy()
    first[52:248, 101] = True  # the left contour, 1 px away
    second[52:248, 298] = True  # the right one instead, 2 px away, as long
    shared = PixelMatcher(gt)
    shared.match(first)
    got, fresh = shared.match(second), PixelMatcher(gt).match(second)
    for x, y in zip(got, fresh, strict=True):
        np.testing.assert_array_equal(x, y)
    assert got[0][52:248, 298].all() and got[0][151, 160:240].all() and got[0].sum() == 196 + 80
