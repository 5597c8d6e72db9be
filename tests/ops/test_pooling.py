"""Tests for jaxseg.ops.pooling against NumPy references and hand-made label maps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import check_grads_compiled

from jaxseg.ops import pooling

# Small graphs compiled once each: XLA's optimisations cost more than they save.
pytestmark = pytest.mark.usefixtures("fast_compile")

# A hand-made 4x5 label map:
#   0 0 1 1 1
#   0 0 1 3 3
#   2 2 2 3 3
#   2 2 2 3 3
# 4-adjacencies: 0-1, 0-2, 1-2, 1-3, 2-3 (0 and 3 touch only diagonally).
HAND = np.array(
    [[0, 0, 1, 1, 1], [0, 0, 1, 3, 3], [2, 2, 2, 3, 3], [2, 2, 2, 3, 3]], dtype=np.int32
)
HAND_PAIRS = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]

# One compiled program per call (op by op, every operation compiles for every shape).
_adjacency = jax.jit(pooling.adjacency, static_argnums=1)


def _random_case(seed, h=7, w=9, c=3, m=6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, m - 1, size=(h, w)).astype(np.int32)  # label m-1 stays empty
    feats = rng.normal(size=(h, w, c)).astype(np.float32)
    return feats, labels, m


def _np_mean(feats, labels, m):
    out = np.zeros((m, feats.shape[-1]))
    for i in range(m):
        mask = labels == i
        if mask.any():
            out[i] = feats[mask].mean(axis=0)
    return out


def _np_adjacency(labels, m):
    adj = np.zeros((m, m), bool)
    h, w = labels.shape
    for r in range(h):
        for c in range(w):
            for dr, dc in ((0, 1), (1, 0)):
                rr, cc = r + dr, c + dc
                if rr < h and cc < w and labels[r, c] != labels[rr, cc]:
                    adj[labels[r, c], labels[rr, cc]] = adj[labels[rr, cc], labels[r, c]] = True
    return adj


def test_segment_mean_and_counts_match_numpy():
    feats, labels, m = _random_case(0)
    np.testing.assert_allclose(
        pooling.segment_mean(feats, labels, m), _np_mean(feats, labels, m), rtol=1e-5, atol=1e-6
    )
    counts = np.bincount(labels.ravel(), minlength=m)
    np.testing.assert_array_equal(pooling.segment_counts(labels, m), counts)
    assert counts[-1] == 0  # the empty segment gives a zero mean, not NaN
    np.testing.assert_array_equal(pooling.segment_mean(feats, labels, m)[-1], 0.0)


def test_segment_mean_jit_equals_plain_and_does_not_retrace():
    feats, labels, m = _random_case(1)
    traces = []

    @functools.partial(jax.jit, static_argnames="num_segments")
    def f(x, lab, num_segments):
        traces.append(1)
        return pooling.segment_mean(x, lab, num_segments)

    np.testing.assert_allclose(
        f(feats, labels, num_segments=m), pooling.segment_mean(feats, labels, m), rtol=1e-6
    )
    f(feats + 1, labels, num_segments=m)
    assert len(traces) == 1


def test_unpool_inverts_pool_on_constant_regions():
    region = np.arange(8.0, dtype=np.float32).reshape(4, 2)
    out = pooling.unpool(region, HAND)
    assert out.shape == (4, 5, 2)
    np.testing.assert_array_equal(out, region[HAND])
    np.testing.assert_allclose(pooling.segment_mean(out, HAND, 4), region)


def test_segment_mean_gradients():
    # Both maps are linear, so their Jacobians are known exactly, at every point and in
    # both modes: pooling is the averaging matrix A (A[i, p] = 1/|S_i| for p in S_i, a
    # zero row for the empty segment), unpooling the membership matrix (A's pattern)^T.
    h, w, c = 4, 5, 2
    feats, labels, m = _random_case(2, h=h, w=w, c=c)
    member = (labels.reshape(-1)[None, :] == np.arange(m)[:, None]).astype(np.float64)  # (m, P)
    average = member / np.maximum(member.sum(axis=1, keepdims=True), 1)
    eye = np.eye(c)
    pool_jac = np.einsum("ip,cd->icpd", average, eye).reshape(m, c, h, w, c)
    unpool_jac = np.einsum("ip,cd->pcid", member, eye).reshape(h, w, c, m, c)
    region = np.random.default_rng(3).normal(size=(m, c)).astype(np.float32)
    for jacobian in (jax.jacfwd, jax.jacrev):  # each Jacobian one compiled program
        pool = jax.jit(jacobian(lambda x: pooling.segment_mean(x, labels, m)))
        for x in (feats, 3.0 * feats - 1.0):
            np.testing.assert_allclose(pool(x), pool_jac, rtol=1e-6, atol=1e-7)
        spread = jax.jit(jacobian(lambda v: pooling.unpool(v, labels)))
        for v in (region, -2.0 * region):
            np.testing.assert_array_equal(spread(v), unpool_jac)


def test_segment_mean_vmap_equals_loop():
    cases = [_random_case(s) for s in range(3)]
    feats = np.stack([c[0] for c in cases])
    labels = np.stack([c[1] for c in cases])
    out = jax.jit(jax.vmap(lambda x, lab: pooling.segment_mean(x, lab, 6)))(feats, labels)
    for k in range(3):  # op by op, as test_segment_mean_and_counts_match_numpy (same shapes)
        np.testing.assert_allclose(out[k], pooling.segment_mean(feats[k], labels[k], 6), rtol=1e-6)


def test_adjacency_hand_made():
    adj = np.asarray(_adjacency(HAND, 4))
    expected = np.zeros((4, 4), bool)
    for i, j in HAND_PAIRS:
        expected[i, j] = expected[j, i] = True
    np.testing.assert_array_equal(adj, expected)
    assert not adj[0, 3]  # diagonal contact only


def test_adjacency_random_matches_numpy_and_vmap():
    cases = [_random_case(s, m=7) for s in range(3)]
    labels = np.stack([c[1] for c in cases])
    batched = jax.jit(jax.vmap(lambda lab: pooling.adjacency(lab, 7)))(labels)
    for k in range(3):
        np.testing.assert_array_equal(batched[k], _np_adjacency(labels[k], 7))


def test_adjacent_pairs_hand_made_and_padding():
    pairs, valid = pooling.adjacent_pairs(HAND, 4, max_pairs=8)
    assert pairs.shape == (8, 2) and pairs.dtype == jnp.int32 and valid.shape == (8,)
    assert [tuple(p) for p in np.asarray(pairs)[np.asarray(valid)]] == HAND_PAIRS
    np.testing.assert_array_equal(np.asarray(pairs)[~np.asarray(valid)], 0)
    np.testing.assert_array_equal(valid, [True] * 5 + [False] * 3)
    jitted = jax.jit(pooling.adjacent_pairs, static_argnums=1, static_argnames="max_pairs")
    p2, v2 = jitted(HAND, 4, max_pairs=8)
    np.testing.assert_array_equal(p2, pairs)
    np.testing.assert_array_equal(v2, valid)


def test_adjacent_pairs_truncates_when_too_small():
    pairs, valid = jax.jit(lambda lab: pooling.adjacent_pairs(lab, 4, max_pairs=3))(HAND)
    assert bool(valid.all())
    assert [tuple(p) for p in np.asarray(pairs)] == HAND_PAIRS[:3]


def test_pair_similarity_reference_and_extremes():
    rng = np.random.default_rng(3)
    v = rng.normal(size=(5, 4)).astype(np.float32)
    pairs = np.array([[0, 1], [1, 2], [3, 4], [2, 2]], np.int32)
    d = np.abs(v[pairs[:, 0]] - v[pairs[:, 1]]).sum(-1).astype(np.float64)
    similarity = jax.jit(pooling.pair_similarity)  # one program per shape
    got = np.asarray(similarity(v, pairs))
    np.testing.assert_allclose(got, 2 / (1 + np.exp(d)), rtol=1e-5)
    assert float(got[-1]) == 1.0
    far = np.array([[0.0], [1e4]], np.float32)
    s = similarity(far, np.array([[0, 1]], np.int32))
    assert np.isfinite(s).all() and float(s[0]) == 0.0


def test_log_helpers_match_direct_formula_and_clip():
    d = np.array([1e-3, 0.1, 1.0, 5.0, 30.0], np.float64)
    s = 2 / (1 + np.exp(d))
    # One compiled program per function and eps (op by op, each operation compiles).
    log_s = jax.jit(pooling.log_similarity, static_argnames="eps")
    log_1ms = jax.jit(pooling.log1m_similarity, static_argnames="eps")
    np.testing.assert_allclose(log_s(d, eps=0.0), np.log(s), rtol=1e-5)
    np.testing.assert_allclose(log_1ms(d, eps=1e-6), np.log1p(-s), rtol=1e-4)
    big = log_s(np.float32(1e4), eps=1e-6)
    np.testing.assert_allclose(big, np.log(1e-6), rtol=1e-5)
    at0 = log_1ms(np.float32(0.0), eps=1e-6)
    np.testing.assert_allclose(at0, np.log(1e-6), rtol=1e-4)
    g = jax.jit(jax.grad(lambda x: pooling.log1m_similarity(x, eps=1e-6)))(0.0)
    assert np.isfinite(g)


def test_similarity_gradients():
    rng = np.random.default_rng(4)
    v = rng.normal(size=(4, 3))
    pairs = np.array([[0, 1], [1, 2], [2, 3]], np.int32)
    check_grads_compiled(lambda x: pooling.pair_similarity(x, pairs), (v,), order=2, modes=["rev"])
    d = np.array([0.3, 1.7, 4.0])
    check_grads_compiled(lambda x: pooling.log_similarity(x, eps=0.0), (d,), order=1)
    check_grads_compiled(lambda x: pooling.log1m_similarity(x, eps=1e-6), (d,), order=1)


def test_segment_majority():
    gt = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [2, 2, 2, 2, 2], [2, 2, 2, -1, -1]], np.int32)
    maj = jax.jit(pooling.segment_majority, static_argnums=(2, 3))(HAND, gt, 4, 3)
    # seg 0: {0,0,0,1} -> 0; seg 1: all 1; seg 2: all 2; seg 3: {1,1,2,2,-1,-1} -> tie 1 vs 2 -> 1
    np.testing.assert_array_equal(maj, [0, 1, 2, 1])


def test_bad_arguments_are_reported():
    with pytest.raises(TypeError, match="num_segments must be a static Python int"):
        pooling.segment_mean(np.zeros((2, 2, 1)), np.zeros((2, 2), np.int32), 4.0)
    with pytest.raises(ValueError, match="num_segments must be >= 1, got 0"):
        pooling.segment_counts(np.zeros((2, 2), np.int32), 0)
    with pytest.raises(TypeError, match="integer dtype"):
        pooling.adjacency(np.zeros((2, 2), np.float32), 3)
    with pytest.raises(ValueError, match=r"features must be \(H, W, C\)"):
        pooling.segment_mean(np.zeros((3, 2, 1)), np.zeros((2, 2), np.int32), 2)
    with pytest.raises(ValueError, match=r"pairs must be \(P, 2\)"):
        pooling.pair_similarity(np.zeros((3, 2)), np.zeros((4, 3), np.int32))
    with pytest.raises(ValueError, match="eps must be in"):
        pooling.log1m_similarity(1.0, eps=0.0)
    with pytest.raises(TypeError, match="max_pairs"):
        pooling.adjacent_pairs(HAND, 4, max_pairs=jnp.int32(3))


def test_out_of_range_labels_are_dropped_not_aliased():
    # label 4 is outside [0, 4): it must not count for any segment or create a pair
    labels = HAND.copy()
    labels[3, 4] = 4
    counts = np.asarray(jax.jit(pooling.segment_counts, static_argnums=1)(labels, 4))
    np.testing.assert_array_equal(counts, np.bincount(HAND.ravel(), minlength=4) - [0, 0, 0, 1])
    adj = np.asarray(_adjacency(labels, 4))
    np.testing.assert_array_equal(adj, np.asarray(_adjacency(HAND, 4)))
