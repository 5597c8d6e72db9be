"""Deep Superpixel Cut: pieces against hand-made cases, vmap == loop, gradients vs. finite diff."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import ndimage

from jaxseg.nn import dsc
from jaxseg.nn.superae import SuperAE

# Big graphs compiled once: optimisations only cost compile time here.
pytestmark = pytest.mark.usefixtures("fast_compile")


def _blocks(k):
    """Block-diagonal W over 2k superpixels (pairs), and the matching hard P."""
    m = 2 * k
    w = np.zeros((m, m), np.float32)
    p = np.zeros((m, k), np.float32)
    for c in range(k):
        w[2 * c : 2 * c + 2, 2 * c : 2 * c + 2] = 1.0
        p[2 * c : 2 * c + 2, c] = 1.0
    return w, p


def test_soft_cut_zero_for_perfect_partition_and_grows_with_cut_edge():
    soft_cut = jax.jit(dsc.soft_cut)  # one compiled program (same shapes) for every call
    w, p = _blocks(3)
    assert float(soft_cut(w, p)) == pytest.approx(0.0, abs=1e-6)
    values = []
    for strength in (0.1, 0.5, 1.0):
        w2 = w.copy()
        w2[1, 2] = w2[2, 1] = strength  # an edge across classes 0 and 1
        values.append(float(soft_cut(w2, p)))
    assert 0 < values[0] < values[1] < values[2]
    # Closed form for the strongest edge: classes 0 and 1 each lose 1 of assoc 5.
    assert values[2] == pytest.approx(2 * (1 / 5), rel=1e-5)
    # An unused class costs 1 (the limit of a vanishing class), so collapse is not free.
    p_one = np.zeros_like(p)
    p_one[:, 0] = 1.0
    assert float(soft_cut(w, p_one)) == pytest.approx(2.0, abs=1e-6)


def test_similarity_matrix_against_numpy():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((5, 4)).astype(np.float32)
    c = np.array([[0, 0], [0, 3], [10, 0], [1, 1], [50, 50]], np.float32)
    valid = np.array([True, True, True, True, False])
    similarity = jax.jit(functools.partial(dsc.similarity_matrix, sigma=10.0, radius=5.0))
    w = np.asarray(similarity(f, c, valid))
    ref = np.exp(-((f[:, None] - f[None]) ** 2).sum(-1) / 10.0)
    near = np.linalg.norm(c[:, None] - c[None], axis=-1) < 5.0
    ref = np.where(near & valid[:, None] & valid[None], ref, 0.0)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-7)
    assert w[0, 2] == 0 and w[4, 4] == 0 and w[0, 0] == pytest.approx(1.0)


def test_pseudo_labels_hand_case():
    # Two superpixels (left/right halves); the left one has 3 pixels of class 2
    # and 1 of class 0 -> all class 2; the right one ties 1:1 -> smallest class (0).
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.int32)
    cls = np.array([[2, 2, 0, 1], [2, 0, 1, 0]])
    logits = np.eye(3, dtype=np.float32)[cls] * 5.0
    out = np.asarray(jax.jit(dsc.pseudo_labels, static_argnums=2)(logits, labels, 4))
    np.testing.assert_array_equal(out, [[2, 2, 0, 0], [2, 2, 0, 0]])


def _np_dsc_loss(x, labels, cent, valid, pseudo, *, w_features, sigma, radius):
    """Eq. 9 in float64 NumPy: CE to fixed pseudo-labels + soft cut with W built from
    ``w_features`` (the pooled logits themselves, or a constant for W held fixed).
    ``x (..., H, W, K)``: any leading axes are a batch of logits, one loss each."""
    m, k = len(valid), x.shape[-1]
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    pick = np.broadcast_to(pseudo[..., None], (*x.shape[:-1], 1))
    ce = -np.mean(np.take_along_axis(logp, pick, -1), axis=(-3, -2, -1))
    member = labels.reshape(-1)[None, :] == np.arange(m)[:, None]  # (m, P)
    pooled = member @ x.reshape(*x.shape[:-3], -1, k)  # (..., m, K)
    f = pooled / np.maximum(member.sum(1), 1)[:, None]
    soft = np.exp(f) / np.exp(f).sum(-1, keepdims=True) * valid[:, None]
    wf = f if w_features is None else w_features
    near = ((cent[:, None] - cent[None]) ** 2).sum(-1) < radius**2
    near &= valid[:, None] & valid[None, :]
    d2 = ((wf[..., :, None, :] - wf[..., None, :, :]) ** 2).sum(-1)  # (..., m, m)
    w = np.where(near, np.exp(-d2 / sigma), 0.0)
    assoc = (w.sum(-1)[..., None] * soft).sum(-2)  # (..., K)
    within = np.einsum("...ik,...ij,...jk->...k", soft, w, soft)
    return ce + k - np.sum(within / (assoc + 1e-8), -1), f


def test_dsc_loss_gradients_match_float64_finite_differences():
    rng = np.random.default_rng(0)
    labels = np.arange(64).reshape(8, 8) // 16  # 4 stripes (label 4 empty: padding)
    logits = rng.standard_normal((8, 8, 5))
    cent = np.array([[1.5, 3.5], [3.5, 3.5], [5.5, 3.5], [7.5, 3.5], [0, 0]])
    valid = np.array([True, True, True, True, False])
    pseudo = np.asarray(dsc.pseudo_labels(logits.astype(np.float32), labels, 5))
    kw = dict(sigma=10.0, radius=3.0)

    def loss(x, wg):
        out = dsc.dsc_loss(x, labels, cent, valid, num_segments=5, w_gradient=wg, **kw)
        return out[0]

    _, f0 = _np_dsc_loss(logits, labels, cent, valid, pseudo, w_features=None, **kw)
    grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    for wg in (False, True):
        w_features = None if wg else f0  # W constant: built from the unperturbed logits

        def ref(x, w_features=w_features):
            return _np_dsc_loss(x, labels, cent, valid, pseudo, w_features=w_features, **kw)[0]

        value, g = grad(jnp.asarray(logits, jnp.float32), wg)
        assert float(value) == pytest.approx(ref(logits), rel=1e-5)
        # Central differences along every coordinate, all in one batched evaluation.
        eps = 1e-6
        steps = eps * np.eye(logits.size).reshape(-1, *logits.shape)
        fd = ((ref(logits + steps) - ref(logits - steps)) / (2 * eps)).reshape(logits.shape)
        np.testing.assert_allclose(g, fd, rtol=1e-3, atol=1e-4 * np.abs(fd).max())
    # The two modes differ: the W path carries gradient of its own.
    x32 = jnp.asarray(logits, jnp.float32)
    g_const, g_w = grad(x32, False)[1], grad(x32, True)[1]
    assert float(jnp.abs(g_w - g_const).max()) > 1e-3 * float(jnp.abs(g_const).max())


# One DSC configuration for every optimisation in this file and in test_dsc_sweep.py, on
# 8 x 8 images: the same shapes and static options compile once and are reused (in
# memory here, through the persistent compilation cache across files). Two iterations
# run a real trajectory (the second loss row and the final features follow updates, with
# momentum); the image is small because the encoder-training runs cost in proportion to
# its pixels.
DSC_KW = dict(num_classes=6, max_segments=16, num_iters=2)


@functools.cache
def _model():
    """The untrained SuperAE of every test here (DSC clones it, never changes it), built once
    and as one compiled program (eagerly, its initialisation compiles once per array shape)."""
    return nnx.jit(lambda: SuperAE(rngs=nnx.Rngs(0)))()


def _tiny_problem(b=2, h=8, w=8):
    rng = np.random.default_rng(0)
    images = rng.random((b, h, w, 3), dtype=np.float32)
    y, x = np.arange(h)[:, None], np.arange(w)[None, :]
    sps = np.stack(
        [
            (y // 4) * (w // 2) + x // 2,  # 8 blocks of 4 x 2
            (y // 4) * (w // 4) + x // 4,  # 4 blocks of 4 x 4 (more padding, larger radius)
        ][:b]
    ).astype(np.int32)
    return _model(), images, sps


@pytest.mark.parametrize("train_encoder", [False, True])
def test_vmapped_batch_equals_per_image_loop(train_encoder):
    model, images, sps = _tiny_problem()
    keys = jax.random.split(jax.random.key(3), 2)
    kw = DSC_KW | dict(train_encoder=train_encoder)
    batch = dsc.dsc_optimize_batch(model, images, sps, keys=keys, **kw)
    for i in range(2):
        one = dsc.dsc_optimize(model, images[i], sps[i], key=keys[i], **kw)
        np.testing.assert_allclose(batch.sp_features[i], one.sp_features, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(batch.losses[i], one.losses, rtol=2e-4, atol=2e-5)
        np.testing.assert_array_equal(
            batch.sp_class[i][: sps[i].max() + 1], one.sp_class[: sps[i].max() + 1]
        )
    assert bool(jnp.all(jnp.isfinite(batch.losses)))


def test_unvectorized_batch_gives_each_image_the_same_bits_in_any_batch():
    """vectorize=False: an image's optimisation is bit for bit the same alone and in a
    batch, so the 128-step DSC cannot drift with the batch it lands in. (Under
    vectorize=True the same bitwise check fails: losses differ by ~5e-7. With a plain
    ``jax.lax.map`` it fails too in this run's compile mode, XLA's optimisations off: the
    loop of one image is simplified and rounds differently; ``map_each`` runs it as a loop
    of two.)"""
    model, images, sps = _tiny_problem()
    keys = jax.random.split(jax.random.key(3), 2)
    kw = DSC_KW | dict(vectorize=False)
    pair = dsc.dsc_optimize_batch(model, images, sps, keys=keys, **kw)
    for i in range(2):
        alone = dsc.dsc_optimize_batch(
            model, images[i : i + 1], sps[i : i + 1], keys=keys[i : i + 1], **kw
        )
        np.testing.assert_array_equal(pair.sp_features[i], alone.sp_features[0])
        np.testing.assert_array_equal(pair.losses[i], alone.losses[0])
    vmapped = dsc.dsc_optimize_batch(model, images, sps, keys=keys, **(kw | {"vectorize": True}))
    np.testing.assert_allclose(vmapped.losses, pair.losses, rtol=2e-4, atol=2e-5)


def test_segment_connected_and_merge_to_counts():
    model, images, sps = _tiny_problem(b=1)
    res = dsc.dsc_segment(model, images[0], sps[0], key=jax.random.key(0), **DSC_KW)
    lab = res.labels
    k = int(lab.max()) + 1
    assert lab.shape == sps[0].shape and res.region_features.shape == (k, 6)
    assert res.losses.shape == (DSC_KW["num_iters"], 3)
    assert k >= 3  # the merge below goes from k regions to 3 and 1
    for j in range(k):
        assert ndimage.label(lab == j)[1] == 1
        # Regions are unions of superpixels.
        assert len(np.unique(lab[sps[0] == np.unique(sps[0][lab == j])[0]])) == 1
    counts = [k, 3, 1]
    segs = dsc.merge_to_counts(lab, res.region_features, counts)
    assert [int(s.max()) + 1 for s in segs] == counts
    for s in segs:  # coarser levels are unions of finer regions
        for j in range(k):
            assert len(np.unique(s[lab == j])) == 1


def test_merge_to_counts_merges_the_most_similar_pair_first():
    lab = np.repeat(np.arange(3)[None], 2, 0).repeat(2, 1)  # regions 0|1|2 left to right
    feats = np.array([[0.0], [10.0], [10.5]])
    (two,) = dsc.merge_to_counts(lab, feats, [2])
    assert two[0, 2] == two[0, 4] != two[0, 0]


def test_errors_name_the_value_and_fix():
    model, images, sps = _tiny_problem(b=1)
    with pytest.raises(ValueError, match="raise max_segments"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), max_segments=4)
    with pytest.raises(TypeError, match="unknown DSC option"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), iters=3)
    with pytest.raises(ValueError, match="logit_norm must be one of"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), logit_norm="bn")
    with pytest.raises(ValueError, match="same-size images only"):
        dsc.dsc_optimize_batch(
            model, images[0], sps[0], keys=jax.random.split(jax.random.key(0), 1)
        )
    with pytest.raises(TypeError, match="SuperAE"):
        dsc.dsc_optimize(object(), images[0], sps[0], key=jax.random.key(0))


@pytest.mark.parametrize("logit_norm", dsc.LOGIT_NORMS)
def test_frozen_encoder_logits_and_gradient_equal_autodiff_of_the_plain_head(logit_norm):
    """With the encoder frozen, DSC folds the standardisation into the head and writes the
    head's gradient by hand; value and gradient must equal the plain per-pixel graph's."""
    rng = np.random.default_rng(4)
    image = jnp.asarray(rng.random((13, 18, 3), dtype=np.float32))  # padded to 16 x 20
    feats = [f[0] for f in nnx.jit(lambda m, x: m.encode(x))(_model(), image[None])]
    head = dsc.init_head(jax.random.key(1), 5)
    head["b"] = jnp.asarray(rng.standard_normal(5), jnp.float32)
    weights = jnp.asarray(rng.standard_normal((13, 18, 5)), jnp.float32)
    frozen = dsc._frozen(image, *feats)

    def plain(hd):
        logits = dsc._normalize_logits(dsc._head_logits(hd, image, *feats), logit_norm)
        return jnp.sum(weights * jnp.tanh(logits)), logits

    def fast(hd):
        logits = dsc._frozen_logits(hd, frozen, logit_norm, 13, 18)
        return jnp.sum(weights * jnp.tanh(logits)), logits

    (v0, l0), g0 = jax.jit(jax.value_and_grad(plain, has_aux=True))(head)
    (v1, l1), g1 = jax.jit(jax.value_and_grad(fast, has_aux=True))(head)
    np.testing.assert_allclose(l1, l0, rtol=1e-4, atol=1e-4 * float(jnp.abs(l0).max()))
    assert float(v1) == pytest.approx(float(v0), rel=1e-4)
    scale = float(jnp.abs(g0["w"]).max())  # standardised, the bias gradient is 0 (rounding)
    for name in ("w", "b"):
        np.testing.assert_allclose(g1[name], g0[name], rtol=1e-3, atol=1e-4 * scale)
    if logit_norm == "standardize":  # per-class zero mean, unit variance over the pixels
        np.testing.assert_allclose(jnp.mean(l1, axis=(0, 1)), 0.0, atol=1e-4)
        np.testing.assert_allclose(jnp.var(l1, axis=(0, 1)), 1.0, rtol=1e-3)
