"""Tests for jaxseg.ops.losses against plain NumPy references, with gradient checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.ops import losses, slic

# Each check as one compiled program: op by op, every operation compiles for every shape.
_pair_loss = jax.jit(losses.pair_loss, static_argnames=("alpha", "eps"))
_reconstruction_loss = jax.jit(losses.reconstruction_loss, static_argnames="num_segments")
_compactness_loss = jax.jit(losses.compactness_loss, static_argnames="num_segments")

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
    got = _pair_loss(d, same, valid, alpha=alpha)
    np.testing.assert_allclose(got, pair_loss_ref(d, same, valid, alpha), rtol=1e-5)


def test_pair_loss_ignores_padding_and_default_alpha_is_positive_fraction():
    d, same, valid = pair_data()
    base = _pair_loss(d, same, valid)
    d2 = d.copy()
    d2[~valid] = 1e3  # garbage in padded rows changes nothing
    assert float(_pair_loss(d2, ~same, valid)) != float(base)  # labels matter...
    np.testing.assert_allclose(_pair_loss(d2, same, valid), base, rtol=1e-6)
    frac = float(same[valid].mean())
    np.testing.assert_allclose(base, _pair_loss(d, same, valid, alpha=frac), rtol=1e-6)
    assert float(_pair_loss(d, same, np.zeros_like(valid))) == 0.0


def test_pair_loss_clips_identical_negative_pair_and_stays_finite():
    # One compiled program: the loss (eps = 1e-6, the default) and its gradient.
    two = np.array([True, True])
    loss_and_grad = jax.jit(
        jax.value_and_grad(lambda d, same: losses.pair_loss(d, same, two, eps=1e-6))
    )
    # s = 1 for a negative pair: log(1 - s) = -inf without the clip.
    got, g = loss_and_grad(np.zeros(2, np.float32), np.array([0, 1]))
    assert np.isfinite(float(got))
    np.testing.assert_allclose(got, -0.5 * np.log(1e-6) / 2, rtol=1e-3)
    assert np.all(np.isfinite(np.asarray(g)))
    # A very dissimilar positive pair still gets a gradient (log s is not clipped);
    # with alpha = 1/2 its weight is 1/2, d(-log s)/dd = sigmoid(d) ~ 1, over 2 pairs.
    _, gpos = loss_and_grad(np.array([40.0, 1.0], np.float32), np.array([1, 0]))
    np.testing.assert_allclose(gpos[0], 0.25, rtol=1e-4)


def test_pair_loss_gradient_matches_numpy_derivative():
    d, same, valid = pair_data(seed=1)
    got = jax.jit(jax.grad(losses.pair_loss))(d, same, valid)
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
    """A soft association in the form of `slic.ssn`'s output on the ``(H, W)`` grid for
    N_SEG: a softmax of random logits over each pixel's in-grid candidates (the others
    0), hard labels at its argmax. Made in NumPy: compiling the SSN itself (tested in
    test_slic) cost more here than all the losses, and the losses take any association."""
    gh, gw = slic.grid_shape(H, W, N_SEG)
    g = slic._grid(H, W, gh, gw)
    candidates = slic._candidate_image(g)  # (H, W, 9)
    in_grid = np.moveaxis(g.cand_valid.reshape(9, -1)[:, g.cell], 0, -1)  # (H, W, 9)
    logits = np.random.default_rng(0).normal(scale=2.0, size=(H, W, 9))
    q = np.where(in_grid, np.exp(logits), 0.0)
    assoc = (q / q.sum(-1, keepdims=True)).astype(np.float32)
    labels = np.take_along_axis(candidates, assoc.argmax(-1)[..., None], -1)[..., 0]
    return slic.SSNOutput(assoc, np.zeros((gh * gw, 5), np.float32), labels, candidates)


@pytest.fixture(scope="module")
def positions():
    """``(H, W, 2) float32``: the position channels of the SSN features."""
    features = jax.jit(lambda im: slic.xylab_features(im, n_segments=N_SEG))  # one program
    return np.asarray(features(np.zeros((H, W, 3), np.float32)))[..., :2]


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
    return gt, (gt[..., None] == np.arange(k)).astype(np.float32)  # -1: a zero row


def test_reconstruction_loss_matches_dense_numpy(ssn_out):
    m = ssn_out.centres.shape[0]
    _, onehot = gt_onehot()
    got = _reconstruction_loss(onehot, ssn_out.assoc, ssn_out.candidates, num_segments=m)
    np.testing.assert_allclose(
        got, recon_ref(onehot, ssn_out.assoc, ssn_out.candidates, m), rtol=1e-4
    )


def test_reconstruction_loss_is_zero_for_pure_hard_superpixels(ssn_out):
    # Hard association to each pixel's own cell, ground truth constant per cell: exact.
    # (The candidates depend on the grid only: those of the shared SSN output.)
    m = len(ssn_out.centres)
    hard = np.zeros((H, W, 9), np.float32)
    hard[..., 4] = 1.0  # candidate 4 is the pixel's own cell
    own = np.asarray(ssn_out.candidates)[..., 4]
    onehot = np.eye(m, dtype=np.float32)[own]
    loss = _reconstruction_loss(onehot, hard, ssn_out.candidates, num_segments=m)
    assert abs(float(loss)) < 1e-6


def compact_ref(pos, assoc, candidates, labels, m):
    x = np.asarray(pos, np.float64).reshape(-1, 2)
    q = dense_q(assoc, candidates, m)
    centres = (q.T @ x) / np.maximum(q.sum(0)[:, None], 1e-30)
    return ((x - centres[np.asarray(labels).ravel()]) ** 2).sum(1).mean()


def test_compactness_loss_matches_dense_numpy(ssn_out, positions):
    m = ssn_out.centres.shape[0]
    pos = positions
    got = _compactness_loss(pos, ssn_out.assoc, ssn_out.candidates, ssn_out.labels, num_segments=m)
    want = compact_ref(pos, ssn_out.assoc, ssn_out.candidates, ssn_out.labels, m)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def directional_fd(f, grad, x, rng, h=1e-3):
    """Central difference of f along a random unit direction vs the autodiff one."""
    v = rng.normal(size=x.shape).astype(x.dtype)
    v /= np.linalg.norm(v)
    num = (float(f(x + h * v)) - float(f(x - h * v))) / (2 * h)
    return num, float(np.vdot(grad, v))


def test_reconstruction_and_compactness_gradients_through_ssn(fast_compile, positions):
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
            pos = positions.astype(np.float64)

            def both(f):  # (2,): reconstruction and compactness loss
                out = slic.ssn(jnp.concatenate([f, pos], -1), n_segments=N_SEG, num_iters=2)
                m = out.centres.shape[0]
                rec = losses.reconstruction_loss(onehot, out.assoc, out.candidates, num_segments=m)
                cmp = losses.compactness_loss(
                    pos, out.assoc, out.candidates, out.labels, num_segments=m
                )
                return jnp.stack([rec, cmp])

            @jax.jit
            def losses_and_grad(f, cotangent):
                # One compiled function: both losses and the gradient of one of them (a
                # one-hot cotangent), run once per loss; the finite differences below
                # run it again rather than compiling the losses alone. (A Jacobian of
                # both, one batched backward pass, compiled slower.)
                values, pullback = jax.vjp(both, f)
                return values, pullback(cotangent)[0]

            for i, e in enumerate(np.eye(2)):
                g = np.asarray(losses_and_grad(feats, e)[1])  # (H, W, 4)
                assert g.dtype == np.float64
                assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
                num, ad = directional_fd(
                    lambda x, i=i, e=e: losses_and_grad(x, e)[0][i], g, feats, rng, h=1e-5
                )
                np.testing.assert_allclose(ad, num, rtol=1e-5, atol=1e-9)
    finally:
        slic._ssn.clear_cache()
