"""The wang2020 method's merging settings: ``scales``, ``linkage`` and ``edge_weights``."""

import numpy as np
import pytest

from jaxseg import pipeline
from jaxseg.pipeline import wang2020 as w2020
from jaxseg.regions.merge import combine_levels, hierarchy_levels


@pytest.fixture(scope="module")
def image(bsds_root):
    """A 96x128 crop of the first val image (small: the network runs on CPU)."""
    from jaxseg.data import bsds500

    image_id = bsds500.list_ids(bsds_root, "val")[0]
    image = bsds500.read_image(bsds500.image_path(bsds_root, "val", image_id))
    return np.asarray(image[:96, :128], np.float32)


def run(image, **settings):
    base = {"n_segments": 40, "scales": None, "linkage": None, "edge_weights": None}
    method = w2020.Wang2020(**{**base, **settings})
    return method, method(image[None])[0]


def test_one_scale_is_the_plain_method(image, fast_compile):
    _, plain = run(image)
    _, one = run(image, scales=[40])
    np.testing.assert_array_equal(one.superpixels, plain.superpixels)
    np.testing.assert_array_equal(one.pairs, plain.pairs)
    np.testing.assert_array_equal(one.levels, plain.levels)


def test_scales_average_onto_the_finest_superpixels(image, fast_compile):
    method, multi = run(image, n_segments=20, scales=[40, 20])
    assert method.settings["scales"] == [20, 40]
    _, coarse = run(image, n_segments=20)
    _, fine = run(image, n_segments=40)
    np.testing.assert_array_equal(multi.superpixels, fine.superpixels)
    pairs, levels = combine_levels(
        fine.superpixels,
        [(h.superpixels, h.pairs, h.levels) for h in (coarse, fine)],
    )
    np.testing.assert_array_equal(multi.pairs, pairs)
    np.testing.assert_array_equal(multi.levels, levels)
    assert not np.allclose(multi.levels, fine.levels)


def test_edge_weights_reorder_the_merges_as_designed(image, fast_compile):
    method, plain = run(image)
    # sigmoid(4 * level - 2) is increasing in the level: the same single-linkage order
    _, same = run(image, edge_weights=[-2.0, 4.0, 0.0, 0.0])
    levels = 0.5 * (1 + np.tanh(0.5 * (4 * plain.levels - 2)))
    np.testing.assert_allclose(same.levels, levels, rtol=1e-12)
    # gradient alone: the pairs' levels are their boundaries' mean gradient
    ((labels, region),) = method.predictions(image[None])[0]
    gradient = w2020._gradient(image)
    pairs, evidence = w2020.edge_evidence(labels, region, gradient)
    _, grad_only = run(image, edge_weights=[0.0, 0.0, 8.0, 0.0])
    sig = 0.5 * (1 + np.tanh(0.5 * 8.0 * evidence[:, 2]))
    _, expected = hierarchy_levels(labels, region, linkage="single", pair_distances=sig)
    np.testing.assert_array_equal(grad_only.pairs, pairs)
    np.testing.assert_allclose(grad_only.levels, expected)
    assert np.corrcoef(grad_only.levels, plain.levels)[0, 1] < 0.99
    # the boundary linkage on the same pair levels
    _, boundary = run(image, edge_weights=[0.0, 0.0, 8.0, 0.0], linkage="boundary")
    _, expected = hierarchy_levels(labels, region, linkage="boundary", pair_distances=sig)
    np.testing.assert_allclose(boundary.levels, expected)


def test_edge_evidence_columns(image, fast_compile):
    method, _ = run(image)
    ((labels, region),) = method.predictions(image[None])[0]
    flat = np.full(image.shape[:2], 0.5)
    pairs, evidence = w2020.edge_evidence(labels, region, flat)
    assert evidence.shape == (len(pairs), len(w2020.EDGE_FEATURES))
    np.testing.assert_array_equal(evidence[:, 0], 1.0)
    _, levels = hierarchy_levels(labels, region, recompute=False)
    dist = np.abs(region[pairs[:, 0]] - region[pairs[:, 1]]).sum(axis=1)
    np.testing.assert_allclose(evidence[:, 1], np.tanh(dist / 2))
    np.testing.assert_array_equal(evidence[:, 2], 0.5)
    assert np.all(evidence[:, 3] >= 0) and evidence[:, 3].max() > np.log(4)


def test_empty_edge_weights_switch_recorded_ones_off():
    # the CLI drops null values (they mean "the default"), so [] is the way to say "none"
    method = pipeline.Segmenter("wang2020", edge_weights=[], linkage="single")
    assert method.settings["edge_weights"] is None


def test_lever_settings_errors():
    with pytest.raises(ValueError, match=r"n_segments=100 is not one of scales=\[300, 600\]"):
        pipeline.Segmenter("wang2020", n_segments=100, scales=[300, 600])
    with pytest.raises(ValueError, match="scales must be a non-empty list"):
        pipeline.Segmenter("wang2020", scales=[])
    with pytest.raises(ValueError, match="linkage must be one of"):
        pipeline.Segmenter("wang2020", linkage="complete")
    with pytest.raises(ValueError, match="conflicts with linkage='boundary'"):
        pipeline.Segmenter("wang2020", recompute=True, linkage="boundary")
    with pytest.raises(ValueError, match="edge_weights must be 4 finite numbers"):
        pipeline.Segmenter("wang2020", edge_weights=[1, 2])
    with pytest.raises(ValueError, match="do not use: pick linkage 'single' or 'boundary'"):
        pipeline.Segmenter("wang2020", linkage="upgma", edge_weights=[0, 1, 0, 0])
    with pytest.raises(ValueError, match="vectorize must be true or false"):
        pipeline.Segmenter("wang2020", vectorize="yes")
    with pytest.raises(ValueError, match="vectorize must be true or false"):
        pipeline.Segmenter("dsc", vectorize=1)


def test_an_image_gets_the_same_bits_in_any_batch():
    """The default (vectorize false, lax.map): each image of a batch of 2 equals its run
    alone, bit for bit; the vmapped batch (vectorize true) agrees up to float rounding."""
    rng = np.random.default_rng(4)
    images = [rng.random((1, 1, 3)) * 0.3 + rng.random((40, 56, 3)) * 0.7 for _ in range(2)]
    images = [im.astype(np.float32) for im in images]
    seg = pipeline.Segmenter("wang2020", n_segments=24)
    pair = seg(images)
    for im, res in zip(images, pair, strict=True):
        alone = seg([im])[0]
        np.testing.assert_array_equal(res.superpixels, alone.superpixels)
        np.testing.assert_array_equal(res.ucm2, alone.ucm2)
    vmapped = pipeline.Segmenter("wang2020", n_segments=24, vectorize=True)(images)
    for res, vec in zip(pair, vmapped, strict=True):
        assert np.mean(res.superpixels == vec.superpixels) > 0.99


def test_fit_edge_weights_separates_the_annotated_boundary(image, fast_compile):
    """Two copies of the crop side by side, one darkened, annotated as two segments: the
    fitted levels are higher across the seam than inside the halves."""
    half = image[:, :64]
    pair = np.concatenate([half, 0.3 * half], axis=1)  # 96x128, as the fixture
    gt = np.ones(pair.shape[:2], np.int32)
    gt[:, 64:] = 2
    weights = w2020.fit_edge_weights([pair], [[gt]], n_segments=40, iters=20)
    assert len(weights) == len(w2020.EDGE_FEATURES) and np.all(np.isfinite(weights))
    method = w2020.Wang2020(n_segments=40, scales=None, edge_weights=None, linkage=None)
    ((labels, region),) = method.predictions(pair[None])[0]
    pairs, evidence = w2020.edge_evidence(labels, region, w2020._gradient(pair))
    levels = w2020._weighted_levels(evidence, weights)
    side = np.bincount(labels.ravel(), weights=(gt.ravel() == 2)) > 0.5 * np.bincount(
        labels.ravel()
    )
    across = side[pairs[:, 0]] != side[pairs[:, 1]]
    assert across.any() and (~across).any()
    assert levels[across].mean() > levels[~across].mean() + 0.05
