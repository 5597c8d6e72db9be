"""Tests for jaxseg.ops.losses against plain NumPy references, with gradient checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.ops import losses, slic

# ------------------------------------------------------------------------- pair loss


def pair_loss_ref(d, same, valid, alpha=None, eps=1e-6):
    d, same, valid = (np.asarray(a, np.float64) for a in (d, same, valid))
    s = 2.0 / (1.0 + np.exp(d))
    if alpha is None:
        alpha = (same * valid).sum() / max(valid.sum(), 1)
    one_minus_s = np.maximum(1.0 - s, eps)
    per = (1 - alpha) * same * np.log(s) + alpha * (1 - same) * np.log(one_minus_s)
    return -(valid * per).sum() / max(valid.sum(), 1)


def pair_data(p=40, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.05, 6.0, p).astype(np.float32)
    same = rng.random(p) < 0.6
    valid = np.arange(p) < p - 7  # padding at the end
    return d, same, valid


@pytest.mark.parametrize("alpha", [None, 0.3])
def test_pair_loss_matches_numpy(alpha):
    d, same, valid = pair_data()
    got = jax.jit(lambda *a: losses.pair_loss(*a, alpha=alpha))(d, same, valid)
    np.testing.assert_allclose(got, pair_loss_ref(d, same, valid, alpha), rtol=1e-5)


def test_pair_loss_ignores_padding_and_default_alpha_is_positive_fraction():
    d, same, valid = pair_data()
    base = losses.pair_loss(d, same, valid)
    d2 = d.copy()
    d2[~valid] = 1e3  # garbage in padded rows changes nothing
    assert float(losses.pair_loss(d2, ~same, valid)) != float(base)  # labels matter...
    np.testing.assert_allclose(losses.pair_loss(d2, same, valid), base, rtol=1e-6)
    frac = same[valid].mean()
    np.testing.assert_allclose(base, losses.pair_loss(d, same, valid, alpha=frac), rtol=1e-6)
    assert float(losses.pair_loss(d, same, np.zeros_like(valid))) == 0.0


def test_pair_loss_clips_identical_negative_pair_and_stays_finite():
    # s = 1 for a negative pair: log(1 - s) = -inf without the clip.
    got = losses.pair_loss(jnp.zeros(2), jnp.array([0, 1]), jnp.array([True, True]), eps=1e-6)
    assert np.isfinite(float(got))
    np.testing.assert_allclose(got, -0.5 * np.log(1e-6) / 2, rtol=1e-3)
    g = jax.grad(lambda d: losses.pair_loss(d, jnp.array([0, 1]), jnp.array([True, True])))
    assert bool(jnp.all(jnp.isfinite(g(jnp.zeros(2)))))
    # A very dissimilar positive pair still gets a gradient (log s is not clipped);
    # with alpha = 1/2 its weight is 1/2, d(-log s)/dd = sigmoid(d) ~ 1, over 2 pairs.
    two = jnp.array([True, True])
    gpos = jax.grad(lambda d: losses.pair_loss(d, jnp.array([1, 0]), two))(jnp.array([40.0, 1.0]))
    np.testing.assert_allclose(gpos[0], 0.25, rtol=1e-4)


def test_pair_loss_gradient_matches_numpy_derivative():
    d, same, valid = pair_data(seed=1)
    got = jax.grad(losses.pair_loss)(d, same, valid)
    h = 1e-4
    num = np.array(
        [
            (
                pair_loss_ref(d + h * e, same, valid, same[valid].mean())
                - pair_loss_ref(d - h * e, same, valid, same[valid].mean())
            )
            / (2 * h)
            for e in np.eye(len(d))
        ]
    )
    np.testing.assert_allclose(got, num, rtol=1e-3, atol=1e-6)


def test_pair_loss_rejects_bad_input():
    d, same, valid = pair_data()
    with pytest.raises(ValueError, match="alpha=1.5 must be in"):
        losses.pair_loss(d, same, valid, alpha=1.5)
    with pytest.raises(ValueError, match=r"must all be \(P,\)"):
        losses.pair_loss(d[:-1], same, valid)


# ------------------------------------------------- reconstruction and compactness

H, W, N_SEG = 12, 16, 6


@pytest.fixture(scope="module")
def ssn_out():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(H, W, 5)).astype(np.float32)
    return slic.ssn(feats, n_segments=N_SEG, num_iters=2)


def dense_q(assoc, candidates, m):
    """``(n, m)`` association matrix from the 9-candidate form."""
    a = np.asarray(assoc, np.float64).reshape(-1, 9)
    c = np.asarray(candidates).reshape(-1, 9)
    q = np.zeros((a.shape[0], m))
    for k in range(9):
        np.add.at(q, (np.arange(a.shape[0]), c[:, k]), a[:, k])
    return q


def recon_ref(onehot, assoc, candidates, m, eps=1e-8):
    r = np.asarray(onehot, np.float64).reshape(-1, onehot.shape[-1])
    q = dense_q(assoc, candidates, m)
    qt = q / np.maximum(q.sum(0, keepdims=True), 1e-30)  # column-normalised
    recon = q @ (qt.T @ r)
    return -(r * np.log(recon + eps)).sum() / max(r.sum(), 1)


def gt_onehot(k=4, ignore=True):
    rng = np.random.default_rng(1)
    gt = np.repeat(np.repeat(rng.integers(0, k, (3, 4)), 4, 0), 4, 1)  # (12, 16) blocks
    if ignore:
        gt[0, :5] = -1  # ignored pixels
    return gt, np.asarray(jax.nn.one_hot(gt, k))


def test_reconstruction_loss_matches_dense_numpy(ssn_out):
    m = ssn_out.centres.shape[0]
    _, onehot = gt_onehot()
    got = jax.jit(losses.reconstruction_loss, static_argnames="num_segments")(
        onehot, ssn_out.assoc, ssn_out.candidates, num_segments=m
    )
    np.testing.assert_allclose(
        got, recon_ref(onehot, ssn_out.assoc, ssn_out.candidates, m), rtol=1e-4
    )


def test_reconstruction_loss_is_zero_for_pure_hard_superpixels():
    # Hard association to each pixel's own cell, ground truth constant per cell: exact.
    out = slic.ssn(np.zeros((H, W, 2), np.float32), n_segments=N_SEG, num_iters=0)
    hard = np.zeros((H, W, 9), np.float32)
    hard[..., 4] = 1.0  # candidate 4 is the pixel's own cell
    own = np.asarray(out.candidates)[..., 4]
    onehot = np.asarray(jax.nn.one_hot(own, out.centres.shape[0]))
    loss = losses.reconstruction_loss(onehot, hard, out.candidates, num_segments=len(out.centres))
    assert abs(float(loss)) < 1e-6


def compact_ref(pos, assoc, candidates, labels, m):
    x = np.asarray(pos, np.float64).reshape(-1, 2)
    q = dense_q(assoc, candidates, m)
    centres = (q.T @ x) / np.maximum(q.sum(0)[:, None], 1e-30)
    return ((x - centres[np.asarray(labels).ravel()]) ** 2).sum(1).mean()


def test_compactness_loss_matches_dense_numpy(ssn_out):
    m = ssn_out.centres.shape[0]
    pos = np.asarray(slic.xylab_features(np.zeros((H, W, 3)), n_segments=N_SEG))[..., :2]
    got = losses.compactness_loss(
        pos, ssn_out.assoc, ssn_out.candidates, ssn_out.labels, num_segments=m
    )
    want = compact_ref(pos, ssn_out.assoc, ssn_out.candidates, ssn_out.labels, m)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def directional_fd(f, grad, x, rng, h=1e-3):
    """Central difference of f along a random unit direction vs the autodiff one."""
    v = rng.normal(size=x.shape).astype(x.dtype)
    v /= np.linalg.norm(v)
    num = (float(f(x + h * v)) - float(f(x - h * v))) / (2 * h)
    return num, float(jnp.vdot(grad, v))


def test_reconstruction_and_compactness_gradients_through_ssn(fast_compile):
    """Autodiff through SSN + both losses against finite differences, in float64
    (in float32 the central difference sits at the edge of the precision)."""
    rng = np.random.default_rng(3)
    # JAX (0.10) reuses the trace of the jitted SSN core made in float32 mode inside
    # enable_x64 (and the other way round), which then fails to lower (int32 vs int64
    # indices): that one function's cache is cleared on the way in and out.
    slic._ssn.clear_cache()
    try:
        with jax.enable_x64(True):
            feats = rng.normal(size=(H, W, 4))  # float64
            _, onehot = gt_onehot()
            onehot = np.asarray(onehot, np.float64)
            pos = np.asarray(slic.xylab_features(np.zeros((H, W, 3)), n_segments=N_SEG))[..., :2]
            pos = pos.astype(np.float64)

            def both(f):  # (2,): reconstruction and compactness loss
                out = slic.ssn(jnp.concatenate([f, pos], -1), n_segments=N_SEG, num_iters=2)
                m = out.centres.shape[0]
                rec = losses.reconstruction_loss(onehot, out.assoc, out.candidates, num_segments=m)
                cmp = losses.compactness_loss(
                    pos, out.assoc, out.candidates, out.labels, num_segments=m
                )
                return jnp.stack([rec, cmp])

            # One compiled function: both losses and their gradients; the finite
            # differences below run it again rather than compiling the losses alone.
            losses_and_grads = jax.jit(lambda f: (both(f), jax.jacrev(both)(f)))
            grads = losses_and_grads(feats)[1]  # (2, H, W, 4)
            assert grads.dtype == jnp.float64
            for i, g in enumerate(grads):
                assert bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).max()) > 0
                num, ad = directional_fd(
                    lambda x, i=i: losses_and_grads(x)[0][i], g, feats, rng, h=1e-5
                )
                np.testing.assert_allclose(ad, num, rtol=1e-5, atol=1e-9)
    finally:
        slic._ssn.clear_cache()
