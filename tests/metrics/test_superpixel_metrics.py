"""Superpixel metrics on hand-worked cases (expected values derived in the comments)."""

import functools

import numpy as np
import pytest
import scipy.io

from jaxseg.metrics import superpixel as spm

# 2 x 10 image; GT: 6 columns of label 1, 4 of label 2. Superpixels: 5 + 5 columns.
# Per row: n = [[5, 1], [0, 4]] (rows GT 1, 2; columns S0, S1), |S| = 5, 5, |G| = 6, 4.
GT_A = np.array([[1] * 6 + [2] * 4] * 2)
SP_A = np.array([[0] * 5 + [1] * 5] * 2)


@pytest.mark.parametrize(
    "variant, kwargs, expected",
    [
        # sum min(n_ij, |S_j| - n_ij) = 0 + min(1, 4) + min(4, 1) = 2 per row -> 2/10
        ("np", {}, 0.2),
        # sum_j min_i(|S_j| - n_ij) = 0 + 1 -> 1/10 (= 1 - ASA)
        ("asa", {}, 0.1),
        # B = 0.25: G1 covers S0, S1 (10 px), G2 covers S1 (5 px): (15 - 10)/10
        ("achanta", {}, 0.5),
        # B = 1.25: the 1-pixel overlap of G1 and S1 no longer counts: (10 - 10)/10
        ("achanta", {"achanta_overlap": 0.25}, 0.0),
        # G1: (5 + 5 - 6)/6, G2: (5 - 4)/4 -> mean(2/3, 1/4)
        ("levinshtein", {}, (2 / 3 + 1 / 4) / 2),
    ],
)
def test_undersegmentation_variants_hand_worked(variant, kwargs, expected):
    ue = spm.undersegmentation_error(SP_A, [GT_A], variant=variant, **kwargs)
    assert ue == pytest.approx(expected)


def test_asa_hand_worked_and_reduce_over_humans():
    # ASA = (5 + 4)/10 against GT_A; 1 against a human who drew the superpixels.
    assert spm.achievable_segmentation_accuracy(SP_A, [GT_A]) == pytest.approx(0.9)
    humans = [GT_A, SP_A + 1]
    assert spm.achievable_segmentation_accuracy(SP_A, humans) == pytest.approx(0.95)
    assert spm.achievable_segmentation_accuracy(SP_A, humans, reduce="worst") == pytest.approx(0.9)
    assert spm.achievable_segmentation_accuracy(SP_A, humans, reduce="best") == pytest.approx(1.0)
    assert spm.undersegmentation_error(SP_A, humans) == pytest.approx(0.05)
    ue_np = functools.partial(spm.undersegmentation_error, variant="np")
    assert ue_np(SP_A, humans) == pytest.approx(0.1)
    assert ue_np(SP_A, humans, reduce="worst") == pytest.approx(0.2)
    assert ue_np(SP_A, humans, reduce="best") == pytest.approx(0.0)


def test_contingency_table():
    np.testing.assert_array_equal(spm.contingency(SP_A, GT_A), [[10, 2], [0, 8]])


# 6 x 6 GT split between columns 2 and 3: its BSDS boundary is column 2 (6 pixels).
GT_B = np.array([[1, 1, 1, 2, 2, 2]] * 6)
# Superpixel 1 is the block rows 0-2, columns 4-5; inner-4 boundary pixels:
# (0..2, 3), (0..2, 4), (2, 5), (3, 4), (3, 5): 9 pixels.
SP_B = np.zeros((6, 6), np.int32)
SP_B[:3, 4:] = 1


def test_bsds_boundary_of_hand_map():
    expected = np.zeros((6, 6), bool)
    expected[:, 2] = True
    np.testing.assert_array_equal(spm.bsds_boundaries(GT_B), expected)
    inner = np.zeros((6, 6), bool)
    inner[:3, 3:5] = True
    inner[2, 5] = inner[3, 4] = inner[3, 5] = True
    np.testing.assert_array_equal(spm.inner_boundaries(SP_B), inner)


def test_boundary_recall_hand_worked():
    # r = 1, square: GT rows 0-2 touch column 3; row 3 reaches (2, 3) diagonally -> 4/6.
    assert spm.boundary_recall(SP_B, [GT_B], tolerance=1) == pytest.approx(4 / 6)
    # r = 1, disk: the diagonal neighbour is sqrt(2) away -> 3/6.
    assert spm.boundary_recall(SP_B, [GT_B], tolerance=1, window="disk") == pytest.approx(0.5)
    # r = 2 (default), square: row 4 reaches (2, 3) and row 5 reaches (3, 4) at Chebyshev 2.
    assert spm.boundary_recall(SP_B, [GT_B]) == 1.0
    # r = 2, disk: (4, 2) and (5, 2) are sqrt(5) and sqrt(8) from the nearest machine pixel.
    assert spm.boundary_recall(SP_B, [GT_B], window="disk") == pytest.approx(4 / 6)
    # Stutz's 0.0025 * diagonal = 0.021 px rounds to 0: only coincident pixels -> 0.
    assert spm.boundary_recall(SP_B, [GT_B], tolerance=0.0025, tolerance_unit="diagonal") == 0.0


def test_boundary_precision_hand_worked():
    # r = 1 square: TP = 4 (recall side), FP = the 6 machine pixels in columns 4-5.
    assert spm.boundary_precision(SP_B, [GT_B], tolerance=1) == pytest.approx(0.4)


def test_gt_boundaries_argument_and_no_boundary_human():
    flat = np.zeros((6, 6), bool)
    col = np.zeros((6, 6), bool)
    col[:, 3] = True
    br = spm.boundary_recall(SP_B, None, gt_boundaries=[col, flat], tolerance=0)
    # column 3 is on the machine boundary in rows 0-2 -> 0.5; empty GT scores 0.
    assert br == pytest.approx(0.25)
    assert spm.boundary_recall(
        SP_B, None, gt_boundaries=[col, flat], tolerance=0, reduce="best"
    ) == pytest.approx(0.5)


def test_identical_to_gt_is_perfect():
    rng = np.random.default_rng(0)
    gt = np.repeat(np.repeat(rng.integers(1, 5, size=(4, 5)), 3, 0), 3, 1)
    sp = gt - 1
    assert spm.boundary_recall(sp, [gt]) == 1.0
    assert spm.boundary_recall(sp, [gt], boundary="bsds", tolerance=0) == 1.0
    for variant in ("np", "asa", "achanta", "levinshtein"):
        assert spm.undersegmentation_error(sp, [gt], variant=variant) == 0.0
    assert spm.achievable_segmentation_accuracy(sp, [gt]) == 1.0


def test_compactness_hand_worked():
    one = np.zeros((4, 4), np.int32)
    assert spm.compactness(one) == pytest.approx(np.pi / 4)  # 4 pi 16 / 16^2
    assert spm.compactness(one, perimeter="pixels") == pytest.approx(4 * np.pi / 9)  # 12 px
    halves = np.array([[0, 0, 1, 1]] * 4)
    assert spm.compactness(halves) == pytest.approx(2 * np.pi / 9)  # 4 pi 8 / 12^2 each


def test_explained_variation_hand_worked():
    image = np.array([[0.0, 2.0, 4.0, 6.0]])
    # mu = 3, segment means 1 and 5: (2*4 + 2*4) / (9 + 1 + 1 + 9)
    assert spm.explained_variation(np.array([[0, 0, 1, 1]]), image) == pytest.approx(0.8)
    assert spm.explained_variation(np.array([[0, 1, 2, 3]]), image) == pytest.approx(1.0)
    rgb = np.stack([image, 2 * image, image], -1)
    assert spm.explained_variation(np.array([[0, 0, 1, 1]]), rgb) == pytest.approx(0.8)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="reduce must be one of"):
        spm.boundary_recall(SP_A, [GT_A], reduce="median")
    with pytest.raises(ValueError, match="variant must be one of"):
        spm.undersegmentation_error(SP_A, [GT_A], variant="ue")
    with pytest.raises(TypeError, match=r"wrap it in a list: \[gt\]"):
        spm.achievable_segmentation_accuracy(SP_A, GT_A)
    with pytest.raises(ValueError, match=r"gt_segmentations\[0\] has shape \(6, 6\)"):
        spm.undersegmentation_error(SP_A, [GT_B])
    with pytest.raises(TypeError, match="integer dtype"):
        spm.compactness(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="window must be 'square' or 'disk'"):
        spm.boundary_recall(SP_B, [GT_B], window="circle")
    with pytest.raises(ValueError, match="gt_segmentations is empty"):
        spm.undersegmentation_error(SP_A, [])


def test_bsds_boundaries_reproduce_stored_maps(bsds_root):
    gt_dir = bsds_root / "data" / "groundTruth" / "test"
    for path in sorted(gt_dir.glob("*.mat"))[:2]:
        cells = scipy.io.loadmat(path)["groundTruth"]
        for k in range(cells.shape[1]):
            seg = cells[0, k]["Segmentation"][0, 0]
            stored = cells[0, k]["Boundaries"][0, 0].astype(bool)
            np.testing.assert_array_equal(spm.bsds_boundaries(seg), stored, err_msg=str(path))
            # Each human's own segmentation as superpixels is perfect against that human.
            assert spm.boundary_recall(seg, None, gt_boundaries=[stored], tolerance=1) == 1.0
            assert spm.undersegmentation_error(seg, [seg]) == 0.0


def test_compactness_regular_grid_and_ragged():
    grid = np.arange(16).reshape(4, 4).repeat(10, 0).repeat(10, 1)  # 16 squares of 10x10
    assert spm.compactness(grid) == pytest.approx(np.pi / 4)
    ragged = grid.copy()
    ragged[::2, ::2] = (ragged[::2, ::2] + 1) % 16  # checkerboard noise lengthens perimeters
    assert spm.compactness(ragged) < 0.5 * spm.compactness(grid)
