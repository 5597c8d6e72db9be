"""Library API on bad input and at large superpixel counts.

* `jaxseg.ssn`, `jaxseg.xylab_features` and `wang2020.predict` check their
  input on the host (NaN/inf, range, channels) with errors that name the value;
  under `jit`/`vmap` (tracers) only the shape checks run and the traced
  computation is unchanged.
* `pooling.adjacent_pairs` works from the pixels: O(pixels) memory for any
  number of superpixels, the same pairs as the former m x m matrix.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from configs import wang2020_tiny
from jaxseg.ops import pooling, slic
from jaxseg.regions.merge import adjacent_pairs_np
from jaxseg.train.tasks import wang2020

pytestmark = pytest.mark.usefixtures("fast_compile")


def _image(h=12, w=16, seed=0):
    return np.random.default_rng(seed).uniform(size=(h, w, 3)).astype(np.float32)


def _features_with_nan():
    feats = np.random.default_rng(0).normal(size=(12, 16, 5)).astype(np.float32)
    feats[3, 4, 2] = np.nan
    return feats


# ------------------------------------------------------------------- ssn / xylab


def test_ssn_rejects_nan_features_naming_the_pixel():
    with pytest.raises(
        ValueError,
        match=r"features contains NaN or inf values \(1; the first, nan, at pixel \(3, 4\), "
        r"channel 2\); clean or mask them first \(e\.g\. np\.nan_to_num\(features\)\)",
    ):
        slic.ssn(_features_with_nan(), n_segments=4, num_iters=2)
    inf = np.zeros((6, 8, 3), np.float32)
    inf[5, 7, 0] = -np.inf
    inf = jnp.asarray(inf)  # a device array too
    with pytest.raises(ValueError, match=r"first, -inf, at pixel \(5, 7\), channel 0"):
        slic.ssn(inf, n_segments=4, num_iters=1)


def test_ssn_rejects_zero_channels():
    with pytest.raises(ValueError, match=r"features has no channels \(shape \(12, 16, 0\)\)"):
        slic.ssn(np.zeros((12, 16, 0), np.float32), n_segments=4, num_iters=2)


def test_ssn_under_jit_and_vmap_skips_value_checks_and_keeps_labels_in_range():
    feats = _features_with_nan()
    m = int(np.prod(slic.grid_shape(12, 16, 4)))
    out = jax.jit(lambda f: slic.ssn(f, n_segments=4, num_iters=2))(feats)
    batched = jax.vmap(lambda f: slic.ssn(f, n_segments=4, num_iters=2).labels)(feats[None])
    for labels in (np.asarray(out.labels), np.asarray(batched[0])):
        assert labels.min() >= 0 and labels.max() < m
    # Shape checks still run on tracers.
    with pytest.raises(ValueError, match="features has no channels"):
        jax.jit(lambda f: slic.ssn(f, n_segments=4, num_iters=1))(np.zeros((4, 4, 0), np.float32))


def test_ssn_checks_add_nothing_to_the_traced_computation():
    feats = np.zeros((12, 16, 5), np.float32)
    public = jax.make_jaxpr(lambda f: slic.ssn(f, n_segments=4, num_iters=2))(feats)
    core = jax.make_jaxpr(lambda f: slic._ssn(f, 4, 2))(feats)
    assert str(public) == str(core)
    assert "is_finite" not in str(public)


def test_xylab_features_rejects_0_255_floats_nan_and_bad_scales():
    image = _image()
    with pytest.raises(
        ValueError,
        match=r"float image values must lie in \[0, 1\]; got range \[0\.07\d*, 254\.8\d*\]\. "
        r"Divide by 255",
    ):
        slic.xylab_features(image * 255, n_segments=4)
    bad = image.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match=r"image contains NaN .*nan, at pixel \(1, 2\), channel 0"):
        slic.xylab_features(bad, n_segments=4)
    with pytest.raises(ValueError, match="pos_scale must be a finite number; got nan"):
        slic.xylab_features(image, n_segments=4, pos_scale=float("nan"))
    with pytest.raises(TypeError, match="uint8 or floating point.*got int32"):
        slic.xylab_features(image.astype(np.int32), n_segments=4)
    with pytest.raises(
        ValueError, match=r"shape \(H, W, 3\); got shape \(12, 16, 4\).*\[\.\.\., :3\]"
    ):
        slic.xylab_features(np.concatenate([image, image[..., :1]], -1), n_segments=4)
    # uint8 is read as value / 255 (compared jitted: one program per dtype, not one per
    # operation); under jit the value checks are skipped.
    features = jax.jit(lambda x: slic.xylab_features(x, n_segments=4))
    u8 = (image * 255).astype(np.uint8)
    np.testing.assert_allclose(features(u8), features(u8 / np.float32(255)), atol=1e-4)
    traced = features(image * 255)
    assert traced.shape == (12, 16, 5)


# ----------------------------------------------------------------------- adjacency


# One compilation per case instead of one per operation.
_jit_pairs = jax.jit(pooling.adjacent_pairs, static_argnums=1, static_argnames="max_pairs")


@jax.jit(static_argnums=(1, 2))
def _pairs_and_matrix(labels, m, p):
    """`adjacent_pairs` and `adjacency` as one program."""
    return pooling.adjacent_pairs(labels, m, max_pairs=p), pooling.adjacency(labels, m)


def _matrix_pairs(labels, m, p):
    """The former m x m implementation of adjacent_pairs (the reference order)."""
    labels = np.asarray(labels)
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = (a != b) & (lo >= 0) & (hi < m)
    upper = np.zeros((m, m), bool)
    upper[lo[keep], hi[keep]] = True
    rows, cols = np.nonzero(upper)
    n = len(rows)
    pairs = np.zeros((p, 2), np.int32)
    pairs[: min(n, p)] = np.stack([rows, cols], -1)[:p]
    return pairs, np.arange(p) < n


@pytest.mark.parametrize(
    "h, w, m, p",
    [
        (9, 11, 6, 40),  # few labels: the dense table
        (9, 11, 60, 200),  # many labels: the sort
        (7, 5, 300, 100),  # labels up to 300 on 35 pixels: the sort
        (8, 8, 20, 5),  # more pairs than slots: truncated, same prefix
        (1, 9, 4, 8),  # one row
    ],
)
def test_adjacent_pairs_equal_the_matrix_result(h, w, m, p):
    rng = np.random.default_rng(h * 100 + m)
    labels = rng.integers(-1, m + 2, size=(h, w)).astype(np.int32)  # some out of range
    want_pairs, want_valid = _matrix_pairs(labels, m, p)
    (pairs, valid), adj = jax.device_get(_pairs_and_matrix(labels, m, p))
    np.testing.assert_array_equal(pairs, want_pairs)
    np.testing.assert_array_equal(valid, want_valid)
    # The matrix itself, from the same pairs.
    full, _ = _matrix_pairs(labels, m, m * m)
    expected = np.zeros((m, m), bool)
    expected[full[:, 0], full[:, 1]] = True
    expected[0, 0] = False  # the padding rows
    np.testing.assert_array_equal(adj, expected | expected.T)


def test_adjacent_pairs_vmapped_equal_a_loop_in_both_regimes():
    labels = np.random.default_rng(1).integers(0, 50, size=(3, 6, 7)).astype(np.int32)
    for m in (8, 50):  # 64 <= 8 * 71 edges: dense; 2500 > 568: sorted
        batched = jax.jit(jax.vmap(lambda lab, m=m: _jit_pairs(lab, m, max_pairs=90)))
        pairs, valid = jax.device_get(batched(labels))  # indexed on the host
        for k in range(3):
            want_pairs, want_valid = _matrix_pairs(labels[k], m, 90)
            np.testing.assert_array_equal(pairs[k], want_pairs)
            np.testing.assert_array_equal(valid[k], want_valid)


def test_adjacent_pairs_at_100000_segments_do_not_overflow():
    labels = np.random.default_rng(2).integers(0, 100_000, size=(6, 7)).astype(np.int32)
    pairs, valid = _jit_pairs(labels, 100_000, max_pairs=80)
    np.testing.assert_array_equal(np.asarray(pairs)[np.asarray(valid)], adjacent_pairs_np(labels))


def test_adjacent_pairs_memory_is_bounded_by_the_pixels():
    # A BSDS500-size image at n = 20000: the m x m matrix took gigabytes.
    h, w, m = 321, 481, 20_000
    labels = jax.ShapeDtypeStruct((h, w), jnp.int32)
    fn = jax.jit(lambda lab: pooling.adjacent_pairs(lab, m, max_pairs=wang2020.max_pairs_for(m)))
    stats = fn.lower(labels).compile().memory_analysis()
    assert stats is not None
    assert stats.temp_size_in_bytes < 200 * h * w  # measured ~60 bytes per pixel


def test_adjacency_refuses_a_huge_matrix_with_a_clear_error():
    labels = np.zeros((4, 4), np.int32)
    with pytest.raises(
        ValueError, match=r"num_segments=50000 would build a 50000 x 50000 matrix.*adjacent_pairs"
    ):
        pooling.adjacency(labels, 50_000)
    assert pooling.MAX_ADJACENCY_SEGMENTS**2 < 2**31 < (pooling.MAX_ADJACENCY_SEGMENTS + 1) ** 2


# ----------------------------------------------------------------- wang2020 predict


@pytest.fixture
def tiny_model(fast_compile):  # per test: made again from the compiled initialisers
    model = wang2020.create_model(wang2020_tiny.get_config(), nnx.Rngs(0))
    model.eval()
    return model


def test_predict_at_100000_segments_clamps_to_the_pixels(tiny_model):
    # 216 x 216 = 46656 pixels: one cell per pixel; the m x m matrix overflowed int32.
    image = (_image(216, 216, seed=3) * 255).astype(np.uint8)
    pred = wang2020.predict(tiny_model, image, n_segments=100_000, num_iters=0)
    labels = np.asarray(pred.labels)
    m = pred.region_features.shape[0]
    assert m == 216 * 216
    assert labels.min() >= 0 and labels.max() < m
    pairs = np.asarray(pred.pairs)[np.asarray(pred.valid)]
    np.testing.assert_array_equal(pairs, adjacent_pairs_np(labels))
    # uint8 is read as value / 255 (it was passed on as 0..255 floats).
    same = wang2020.predict(tiny_model, image / np.float32(255), n_segments=100_000, num_iters=0)
    np.testing.assert_array_equal(same.labels, labels)
    np.testing.assert_allclose(same.similarity, pred.similarity, rtol=1e-4)


def test_predict_rejects_bad_values(tiny_model):
    image = _image()
    with pytest.raises(ValueError, match=r"float image values must lie in \[0, 1\]"):
        wang2020.predict(tiny_model, image * 255, n_segments=4, num_iters=1)
    image[2, 3, 1] = np.inf
    with pytest.raises(ValueError, match=r"image contains NaN or inf .*at pixel \(2, 3\)"):
        wang2020.predict(tiny_model, image, n_segments=4, num_iters=1)
    with pytest.raises(ValueError, match=r"image must be \(H, W, 3\)"):
        wang2020.predict(tiny_model, image[..., 0], n_segments=4, num_iters=1)
