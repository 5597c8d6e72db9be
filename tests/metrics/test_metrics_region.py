"""Unit tests of the region benchmark on tiny hand-made label maps (answers worked by hand)."""

import numpy as np
import pytest

from jaxseg.metrics.region import (
    RegionImageResult,
    collect_region,
    contingency_table,
    evaluate_image_region,
    global_consistency_error,
    local_consistency_error,
    probabilistic_rand_index,
    rand_index,
    segmentation_covering,
    ucm2_segmentations,
    ucm2_to_segmentation,
    variation_of_information,
)

# 1 x 4 images: pixels p0..p3.
A = np.array([[1, 1, 2, 2]])  # A1 = {p0, p1}, A2 = {p2, p3}
B = np.array([[1, 1, 1, 2]])  # B1 = {p0, p1, p2}, B2 = {p3}


def test_contingency_table():
    n = contingency_table(A, B)
    # rows A (0, 1, 2), columns B (0, 1, 2); label 0 empty
    np.testing.assert_array_equal(n, [[0, 0, 0], [0, 2, 0], [0, 1, 1]])


def test_rand_index_by_hand():
    # 6 pixel pairs: (0,1) same/same agree; (0,2) diff/same no; (0,3) diff/diff agree;
    # (1,2) no; (1,3) agree; (2,3) same/diff no -> 3/6
    assert rand_index(A, B) == pytest.approx(0.5)
    # quarters: a = rows, b = columns of a 2x2 image; only the 2 pairs split by both agree
    a = np.array([[1, 1], [2, 2]])
    b = np.array([[1, 2], [1, 2]])
    assert rand_index(a, b) == pytest.approx(1 / 3)


def test_variation_of_information_by_hand():
    # H(A) = 1, H(B) = -(3/4 log2 3/4 + 1/4 log2 1/4) = 0.811278,
    # H(A, B) = -(1/2 log2 1/2 + 2 * 1/4 log2 1/4) = 1.5, VI = 2 H(A,B) - H(A) - H(B)
    assert variation_of_information(A, B) == pytest.approx(3 - 1 - 0.8112781245, abs=1e-9)
    a = np.array([[1, 1], [2, 2]])
    b = np.array([[1, 2], [1, 2]])
    assert variation_of_information(a, b) == pytest.approx(2.0)  # independent, 1 bit each


def test_gce_lce_by_hand():
    # E(A,B,p) = |R(A,p) \ R(B,p)| / |R(A,p)|: p0 0, p1 0, p2 1/2, p3 1/2 -> sum 1
    # E(B,A,p): p0 1/3, p1 1/3, p2 2/3, p3 0 -> sum 4/3
    # GCE = min(1, 4/3) / 4 = 0.25; LCE = (0 + 0 + min(1/2, 2/3) + min(1/2, 0)) / 4 = 0.125
    assert global_consistency_error(A, B) == pytest.approx(0.25)
    assert local_consistency_error(A, B) == pytest.approx(0.125)


def test_refinement_gives_zero_gce():
    one = np.ones((2, 2), dtype=int)
    four = np.array([[1, 2], [3, 4]])
    assert global_consistency_error(one, four) == 0.0
    assert local_consistency_error(one, four) == 0.0
    assert rand_index(one, four) == 0.0  # every pair together in one, apart in the other
    assert variation_of_information(one, four) == pytest.approx(2.0)  # H(four) = 2 bits


def test_covering_by_hand():
    # humans B: B1 (3 px) best IoU with A1 = 2/3 (A2: 1/4); B2 (1 px) with A2 = 1/2
    # C = (3 * 2/3 + 1 * 1/2) / 4 = 0.625; with two humans B and A the mean is (0.625 + 1)/2
    assert segmentation_covering(A, [B]) == pytest.approx(0.625)
    assert segmentation_covering(A, [B, A]) == pytest.approx(0.8125)
    assert probabilistic_rand_index(A, [B, A]) == pytest.approx(0.75)


def test_identical_is_perfect():
    rng = np.random.default_rng(0)
    seg = rng.integers(1, 6, size=(12, 9))
    assert rand_index(seg, seg) == 1.0
    assert variation_of_information(seg, seg) == pytest.approx(0.0, abs=1e-12)
    assert global_consistency_error(seg, seg) == 0.0
    assert local_consistency_error(seg, seg) == 0.0
    assert segmentation_covering(seg, [seg, seg]) == pytest.approx(1.0)


def test_symmetric_metrics():
    rng = np.random.default_rng(1)
    a = rng.integers(1, 5, size=(10, 13))
    b = rng.integers(1, 8, size=(10, 13))
    for fn in (rand_index, variation_of_information, global_consistency_error):
        assert fn(a, b) == pytest.approx(fn(b, a), rel=1e-12)
    assert local_consistency_error(a, b) == pytest.approx(local_consistency_error(b, a))
    assert local_consistency_error(a, b) <= global_consistency_error(a, b)


def test_sparse_label_numbers():
    # label values do not matter, only the partition (huge numbers are renumbered)
    assert rand_index(A * 10**7, B * 10**7 + 5) == pytest.approx(0.5)
    assert variation_of_information(A * 10**7, B) == pytest.approx(3 - 1 - 0.8112781245)


def test_label_errors():
    with pytest.raises(ValueError, match="has label 0; labels must be >= 1"):
        rand_index(A - 1, B)
    with pytest.raises(ValueError, match=r"equal shape, got \(1, 4\) and \(2, 2\)"):
        rand_index(A, np.ones((2, 2), dtype=int))
    with pytest.raises(TypeError, match="must be integer"):
        variation_of_information(A.astype(float), B)


def _ucm_two_columns():
    # 2x2 image, a vertical contour of strength 0.5 between columns 0 and 1
    ucm2 = np.zeros((5, 5))
    ucm2[:, 2] = 0.5
    return ucm2


def test_ucm2_to_segmentation():
    ucm2 = _ucm_two_columns()
    np.testing.assert_array_equal(ucm2_to_segmentation(ucm2, 0.3), [[1, 2], [1, 2]])
    # regions are components of ucm2 <= t, so a contour equal to t is crossed
    np.testing.assert_array_equal(ucm2_to_segmentation(ucm2, 0.5), [[1, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"\(2H\+1, 2W\+1\)"):
        ucm2_to_segmentation(np.zeros((4, 5)), 0.5)


def test_ucm2_segmentations_equal_labelling_each_threshold():
    # the incremental labelling gives scipy's labels, numbering included, at every
    # threshold: on true ucm2 (pixel centres 0), on maps with lit centres and ties
    rng = np.random.default_rng(1)
    for case in range(120):
        h, w = rng.integers(1, 12, 2)
        ucm2 = rng.random((2 * h + 1, 2 * w + 1))
        if case % 3 == 0:
            ucm2[1::2, 1::2] = 0
        if case % 4 == 0:
            ucm2 = np.round(ucm2 * 4) / 4  # many pixels turn on at one threshold
        thresholds = np.sort(rng.choice(np.linspace(0.01, 0.99, 99), 12, replace=False))
        seg = None
        for t, new in zip(thresholds, ucm2_segmentations(ucm2, thresholds), strict=True):
            seg = seg if new is None else new
            np.testing.assert_array_equal(seg, ucm2_to_segmentation(ucm2, t), err_msg=case)


@pytest.mark.parametrize("size", [(9, 13), (40, 40)])
def test_ucm2_region_numbers_equal_those_of_its_segmentations(size):
    # a ucm2 is evaluated from tables summed over the first threshold's regions; the same
    # partitions given as segs (counted pixel by pixel) must give the same numbers. At
    # 40 x 40 a human of one label per pixel makes the tables compact (labels present
    # only), for all humans alike.
    rng = np.random.default_rng(2)
    h, w = size
    ucm2 = np.round(rng.random((2 * h + 1, 2 * w + 1)) * 50) / 50
    ucm2[1::2, 1::2] = 0
    gts = [rng.integers(1, 6, size), np.arange(1, h * w + 1).reshape(size)]
    thresholds = np.linspace(0.02, 0.98, 17)
    got = evaluate_image_region(ucm2, gts, thresholds=thresholds)
    segs = np.stack([ucm2_to_segmentation(ucm2, t) for t in thresholds])
    ref = evaluate_image_region(segs, gts)
    for a, b in ((got.ev2, ref.ev2), (got.ev4, ref.ev4), (got.ev5, ref.ev5)):
        np.testing.assert_array_equal(a[:, 1:], b[:, 1:])
    assert got.cnt_r_best == ref.cnt_r_best


def test_evaluate_image_region_ucm():
    ucm2 = _ucm_two_columns()
    gt = np.array([[1, 2], [1, 2]])
    res = evaluate_image_region(ucm2, [gt], nthresh=3)  # t = 0.25 (2 regions), 0.5, 0.75 (1)
    # t=0.25 is perfect; at 0.5 and 0.75 one region: covering of gt = (2*1/2 + 2*1/2)/4
    np.testing.assert_allclose(res.ev2[:, 1] / res.ev2[:, 2], [1, 0.5, 0.5])
    # machine covered by the humans: one 4-px region, best IoU 1/2
    np.testing.assert_allclose(res.ev2[:, 3] / res.ev2[:, 4], [1, 0.5, 0.5])
    np.testing.assert_allclose(res.ev4[:, 1], [1, 1 / 3, 1 / 3])  # RI: 2 of 6 pairs agree
    np.testing.assert_allclose(res.ev4[:, 2], [0, 1, 1], atol=1e-12)  # VI = H(gt) = 1 bit
    np.testing.assert_allclose(res.ev5[:, 1], [0, 0, 0])  # one region refines nothing: 0
    assert res.cnt_r_best == 4.0  # each gt region perfectly covered at t = 0.25


def test_evaluate_image_region_errors():
    gt = np.array([[1, 2], [1, 2]])
    with pytest.raises(ValueError, match="labels >= 1"):
        evaluate_image_region(np.zeros((1, 2, 2), dtype=int), [gt])
    with pytest.raises(ValueError, match="human labels must be >= 1"):
        evaluate_image_region(np.ones((1, 2, 2), dtype=int), [gt - 1])
    with pytest.raises(ValueError, match="empty"):
        evaluate_image_region(np.ones((1, 2, 2), dtype=int), [])
    with pytest.raises(ValueError, match=r"fits neither a ucm2 \(5, 5\)"):
        evaluate_image_region(np.zeros((7, 5)), [gt])
    with pytest.raises(ValueError, match="not a boundary map"):
        evaluate_image_region(np.zeros((2, 2)), [gt])
    with pytest.raises(ValueError, match=r"ground truth 1 has shape \(2, 3\)"):
        evaluate_image_region(np.ones((1, 2, 2), dtype=int), [gt, np.ones((2, 3), dtype=int)])


def test_collect_region_by_hand():
    t = np.array([1.0, 2.0])
    img1 = RegionImageResult(
        ev2=np.array([[1, 6, 10, 3, 5], [2, 8, 10, 4, 5]], float),
        cnt_r_best=9.0,
        ev4=np.array([[1, 0.8, 1.0], [2, 0.7, 1.5]]),
        ev5=np.array([[1, 0.1, 0.05], [2, 0.3, 0.1]]),
    )
    img2 = RegionImageResult(
        ev2=np.array([[1, 20, 40, 10, 20], [2, 20, 40, 5, 20]], float),
        cnt_r_best=30.0,
        ev4=np.array([[1, 0.6, 2.0], [2, 0.9, 1.2]]),
        ev5=np.array([[1, 0.2, 0.1], [2, 0.1, 0.0]]),
    )
    out = collect_region(t, [img1, img2])
    # per image best covering (first maximiser): img1 R = .6, .8 -> T 2, P 4/5;
    # img2 R = .5, .5 (tie) -> T 1, P 10/20
    np.testing.assert_allclose(out["cover_img"], [[1, 2, 0.8, 0.8], [2, 1, 0.5, 0.5]])
    # pooled: 26/50, 28/50 -> ODS .56 at T 2; OIS (last maximiser) (8 + 20)/(10 + 40) = .56;
    # Best (9 + 30)/(10 + 40) = .78
    np.testing.assert_allclose(out["cover_th"][:, 1], [0.52, 0.56])
    np.testing.assert_allclose(out["cover"], [2, 0.56, 0.56, 0.78])
    # PRI means .7, .8 -> ODS .8 at T 2, OIS (.8 + .9)/2; VOI means 1.5, 1.35 -> ODS 1.35
    # at T 2, OIS (1.0 + 1.2)/2
    np.testing.assert_allclose(out["ri_voi"], [2, 0.8, 0.85, 2, 1.35, 1.1])
    # GCE reported at the PRI ODS threshold (T 2): (0.3 + 0.1)/2
    assert out["gce_at_pri_ods"] == pytest.approx(0.2)
    assert out["gce_at_cover_ods"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="same number of thresholds"):
        collect_region(np.array([1.0]), [img1])
