"""SuperAE (lin2021 stage 1): model shapes, loss against NumPy, task functions, training."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxseg.nn import superae
from jaxseg.nn.superae import SuperAE, superae_loss, template_smoothness
from jaxseg.train.tasks import superae as task

# Big graphs compiled once: optimisations only cost compile time here.
pytestmark = pytest.mark.usefixtures("fast_compile")


def _np_loss(x, r, lab, lam, target, norm):
    mse = np.mean(np.sum((x - r) ** 2, -1))
    temps = []
    for b in range(x.shape[0]):
        src = r[b] if target == "reconstruction" else x[b]
        dev = np.zeros(lab[b].shape)
        per = []
        for j in np.unique(lab[b]):
            mask = lab[b] == j
            mu = src[mask].mean(0)
            d = np.sum((r[b][mask] - mu) ** 2, -1)
            dev[mask] = d
            per.append(d.mean())
        temps.append(dev.mean() if norm == "pixels" else np.mean(per))
    t = np.mean(temps)
    return mse + lam * t, mse, t


def test_shapes_any_size_and_param_count():
    model = SuperAE(rngs=nnx.Rngs(0))
    x = jnp.full((2, 10, 14, 3), 0.5)
    out, (e1, e2, e3) = nnx.jit(lambda m, x: (m(x), m.encode(x)))(model, x)
    assert out.shape == (2, 10, 14, 3)
    assert (e1.shape, e2.shape, e3.shape) == ((2, 12, 16, 64), (2, 6, 8, 128), (2, 3, 4, 256))
    assert np.all((np.asarray(out) > 0) & (np.asarray(out) < 1))
    params = nnx.state(model, nnx.Param)
    n = sum(p.size for p in jax.tree.leaves(params))
    # convs 3x3: 3*64 + 64*128 + 128*256 + 256*128 + 128*64 + 64*3 (+ biases, BN scale/bias)
    convs = 9 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 128 + 128 * 64 + 64 * 3)
    biases = 64 + 128 + 256 + 128 + 64 + 3
    bn = 2 * (64 + 128 + 256 + 128 + 64)
    assert n == convs + biases + bn


@pytest.mark.parametrize("target,norm", [("reconstruction", "pixels"), ("input", "superpixels")])
def test_loss_matches_numpy(target, norm):
    rng = np.random.default_rng(0)
    x = rng.random((2, 12, 10, 3), dtype=np.float32)
    r = rng.random((2, 12, 10, 3), dtype=np.float32)
    lab = rng.integers(0, 7, (2, 12, 10)).astype(np.int32)
    loss_fn = jax.jit(
        superae_loss, static_argnames=("num_segments", "template_target", "template_norm")
    )
    loss, m = loss_fn(
        x, r, lab, num_segments=16, lam=0.7, template_target=target, template_norm=norm
    )
    ref, mse, t = _np_loss(x, r, lab, 0.7, target, norm)
    np.testing.assert_allclose(float(loss), ref, rtol=1e-5)
    np.testing.assert_allclose(float(m["mse"]), mse, rtol=1e-5)
    np.testing.assert_allclose(float(m["template"]), t, rtol=1e-5)


def test_template_zero_on_piecewise_constant():
    lab = np.repeat(np.repeat(np.arange(6).reshape(2, 3), 5, 0), 4, 1)  # (10, 12)
    colours = np.random.default_rng(1).random((6, 3), dtype=np.float32)
    recon = colours[lab]
    smoothness = jax.jit(template_smoothness, static_argnames="num_segments")  # one compile
    t = smoothness(recon, lab, num_segments=8)
    assert float(t) == pytest.approx(0.0, abs=1e-7)
    noisy = recon + 0.1 * np.random.default_rng(2).standard_normal(recon.shape).astype(np.float32)
    assert float(smoothness(noisy, lab, num_segments=8)) > 1e-3


def test_loss_gradients_by_hand_and_bad_options():
    model = SuperAE(rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32))
    lab = jnp.asarray(np.arange(64).reshape(1, 8, 8) // 8, jnp.int32)

    lam = 0.7

    def f(m):
        return superae_loss(x, m(x), lab, num_segments=8, lam=lam)[0]

    @nnx.jit
    def grads_and_features(m):
        hidden = m.dec2(m.dec1(m.encode(x)[2]))  # (1, 8, 8, 32): the output conv's input
        return nnx.grad(f)(m), hidden, m(x)

    grads, hidden, recon = grads_and_features(model)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # The output layer's gradient by hand (float64): recon = sigmoid(z), z = conv(hidden) + b;
    # dL/dr = 2/P ((r - x) + lam (r - mu)) with mu the superpixel mean of r (its own
    # derivative cancels: deviations from a mean sum to 0), dL/dz = dL/dr r (1 - r).
    r, h = np.asarray(recon, np.float64)[0], np.asarray(hidden, np.float64)[0]
    mu = np.zeros_like(r)
    for j in range(8):
        mu[lab[0] == j] = r[lab[0] == j].mean(axis=0)
    dz = 2 / 64 * ((r - np.asarray(x[0], np.float64)) + lam * (r - mu)) * r * (1 - r)
    np.testing.assert_allclose(grads.out.bias.value, dz.sum(axis=(0, 1)), rtol=1e-4)
    padded = np.pad(h, ((1, 1), (1, 1), (0, 0)))  # SAME 3x3 convolution
    kernel = np.zeros((3, 3, h.shape[-1], 3))
    for dy in range(3):
        for dx in range(3):
            kernel[dy, dx] = np.einsum("yxc,yxk->ck", padded[dy : dy + 8, dx : dx + 8], dz)
    np.testing.assert_allclose(
        grads.out.kernel.value, kernel, rtol=1e-4, atol=1e-4 * np.abs(kernel).max()
    )
    with pytest.raises(ValueError, match="template_target must be one of"):
        superae_loss(x, x, lab, num_segments=8, template_target="mean")
    with pytest.raises(ValueError, match="template_norm must be one of"):
        superae_loss(x, x, lab, num_segments=8, template_norm="sum")
    with pytest.raises(ValueError, match="labels"):
        superae_loss(x, x, lab[:, :4], num_segments=8)


def _config():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
    from configs import superae_tiny

    return superae_tiny.get_config()


def test_make_batch_deterministic_and_cropped():
    config = _config()
    # Channel 0 encodes the pixel index, so crops/flips can be traced back exactly.
    idx = np.arange(40 * 50).reshape(40, 50)
    img = np.zeros((40, 50, 3), np.float32)
    img[..., 0] = idx / 2000.0
    imgs = [img.copy() for _ in range(3)]
    labs = [(idx % 200).astype(np.int32) for _ in range(3)]
    data = task.SuperAEData(imgs, labs, imgs[:1], labs[:1], ["a", "b", "c"])
    b1, b2 = task.make_batch(config, data, 5), task.make_batch(config, data, 5)
    c = config.crop_size
    assert b1["image"].shape == (config.batch_size, c, c, 3)
    assert b1["labels"].shape == (config.batch_size, c, c) and b1["labels"].dtype == np.int32
    np.testing.assert_array_equal(b1["image"], b2["image"])
    assert not np.array_equal(b1["image"], task.make_batch(config, data, 6)["image"])
    # The labels travel with the pixels (same crop and flip).
    src = np.round(b1["image"][..., 0] * 2000).astype(int)
    np.testing.assert_array_equal(b1["labels"], src % 200)


def test_train_tiny_resume_and_restore(bsds_root, tmp_path):
    import json

    from jaxseg.train import checkpointing
    from jaxseg.train.trainer import train_and_evaluate

    config = _config()
    config.num_steps = 2
    config.eval_every = 2
    config.checkpoint_every = 1
    config.crop_size = 16  # the training steps cost in proportion to the crop's pixels
    straight = train_and_evaluate(config, tmp_path / "straight", data_dir=bsds_root)
    assert straight["step"] == 2 and np.isfinite(straight["eval"]["score"])
    # Interrupted after step 1, then rerun: the same run as the straight one.
    first = train_and_evaluate(config, tmp_path / "resumed", data_dir=bsds_root, stop_at=1)
    assert first["step"] == 1 and first["eval"] == {}
    resumed = train_and_evaluate(config, tmp_path / "resumed", data_dir=bsds_root)
    assert resumed["step"] == 2 and resumed["eval"] == straight["eval"]
    a, _ = checkpointing.restore_model(tmp_path / "straight", which="latest")
    model, cfg = checkpointing.restore_model(tmp_path / "resumed", which="latest")
    state_a = jax.tree.leaves(nnx.to_pure_dict(nnx.state(a)))  # parameters and BN statistics
    state_b = jax.tree.leaves(nnx.to_pure_dict(nnx.state(model)))
    assert len(state_a) == len(state_b) > 0
    for x, y in zip(state_a, state_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    init = jax.tree.leaves(nnx.to_pure_dict(nnx.state(SuperAE(rngs=nnx.Rngs(config.seed)))))
    assert any(not np.array_equal(x, y) for x, y in zip(init, state_b, strict=True))

    def train_losses(workdir):
        rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]

    assert train_losses(tmp_path / "resumed") == train_losses(tmp_path / "straight")
    assert [step for step, _ in train_losses(tmp_path / "resumed")] == [1, 2]
    assert isinstance(model, SuperAE) and cfg.task == "superae"
    img = np.random.default_rng(0).random((20, 24, 3), dtype=np.float32)
    rec = superae.reconstruct(model, img)
    assert rec.shape == img.shape and np.all(np.isfinite(rec))


def test_template_too_many_segments_message():
    config = _config()
    config.template.max_segments = 4
    img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="raise template.max_segments"):
        task._template(config, img)


def test_pad_to_multiple():
    x = jnp.arange(2 * 5 * 6 * 1.0).reshape(2, 5, 6, 1)
    y = superae.pad_to_multiple(x)
    assert y.shape == (2, 8, 8, 1)
    np.testing.assert_array_equal(y[:, :5, :6], x)
    np.testing.assert_array_equal(y[:, 7, :6], x[:, 4])


# One image shape and one compiled eval-mode encoder for the two embedding tests: an
# image size that is not a multiple of the stride (4), so both pad and crop.
EMBED_SHAPE = (10, 13, 3)
_encode = nnx.jit(lambda model, x: model.encode(x))


@pytest.mark.parametrize(
    "shape, size",
    [((5, 6, 3), (10, 24)), ((3, 4, 2), (12, 4)), ((1, 1, 2), (4, 8)), ((2, 7, 1), (6, 7))],
)
def test_upsample_features_and_its_gradient_equal_jax_image_resize(shape, size):
    """The two-tap upsampling and its hand-written transpose against ``jax.image.resize``
    (factors 2, 3, 4 and 1, a single source sample)."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    g = jnp.asarray(rng.standard_normal((*size, shape[-1])), jnp.float32)

    def resize(v):
        return jax.image.resize(v, (*size, shape[-1]), "bilinear")

    def ours(v):
        return superae.upsample_features(v, *size)

    out, vjp = jax.vjp(ours, x)
    want, want_vjp = jax.vjp(resize, x)
    np.testing.assert_allclose(out, want, atol=1e-6)
    np.testing.assert_allclose(vjp(g)[0], want_vjp(g)[0], atol=1e-5)
    if shape[0] > 1:  # a size that is not a multiple takes resize itself
        np.testing.assert_array_equal(
            superae.upsample_features(x, size[0] + 1, size[1]),
            jax.image.resize(x, (size[0] + 1, size[1], shape[-1]), "bilinear"),
        )


def test_embed_is_image_and_upsampled_encoder_outputs():
    model = SuperAE(rngs=nnx.Rngs(0))
    img = np.random.default_rng(1).random(EMBED_SHAPE, dtype=np.float32)  # padded to 12 x 16
    emb = superae.embed(model, img)  # sets the model to eval mode
    assert emb.shape == (10, 13, 3 + 64 + 128 + 256) and emb.dtype == np.float32
    e1, e2, e3 = (np.asarray(e[0]) for e in _encode(model, img[None]))
    np.testing.assert_array_equal(emb[..., :3], img)
    np.testing.assert_allclose(emb[..., 3:67], e1[:10, :13], atol=1e-6)
    # e2 (stride 2) on the 12 x 16 grid: half-pixel bilinear, so the centre of output
    # pixel (2r + 1/2 ± 1/4) interpolates e2 rows r - 1/4 .. r + 1/4 with weights 3/4, 1/4
    r, c = 2, 3  # output pixel (2r+1, 2c+1) lies 1/4 past e2 pixel (r, c) in each axis
    want = (9 * e2[r, c] + 3 * e2[r + 1, c] + 3 * e2[r, c + 1] + e2[r + 1, c + 1]) / 16.0
    np.testing.assert_allclose(emb[2 * r + 1, 2 * c + 1, 67:195], want, rtol=1e-5, atol=1e-5)
    # e3 (stride 4): the resize of e3 alone, cropped
    resize = jax.jit(jax.image.resize, static_argnums=(1, 2))
    up3 = np.asarray(resize(e3, (12, 16, 256), "bilinear"))[:10, :13]
    np.testing.assert_allclose(emb[..., 195:], up3, atol=1e-6)


def test_embedding_moments_equal_those_of_the_embedding():
    """Mean and covariance from the sources at their own resolutions against the float64
    moments of the full (H, W, 451) embedding; 13 x 18 pads to 16 x 20 (the cut matters)."""
    model = SuperAE(rngs=nnx.Rngs(0))
    model.eval()
    img = jnp.asarray(np.random.default_rng(6).random((13, 18, 3), dtype=np.float32))
    feats = [e[0] for e in _encode(model, img[None])]
    mean, cov = superae.embedding_moments(img, *feats)
    x = np.asarray(superae.embedding(img, *feats), np.float64).reshape(-1, 451)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5, atol=1e-6)
    want = np.cov(x.T, bias=True)
    np.testing.assert_allclose(cov, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ValueError, match="integer strides"):
        superae.embedding_moments(img, feats[0], feats[1][:-1], feats[2])


def test_dsc_head_on_embed_equals_the_per_resolution_head():
    """DSC applies its 1x1 head per source resolution; it must equal the head on embed."""
    from jaxseg.nn import dsc

    model = SuperAE(rngs=nnx.Rngs(0))
    model.eval()
    img = np.random.default_rng(2).random(EMBED_SHAPE, dtype=np.float32)
    head = dsc.init_head(jax.random.key(0), 5)
    feats = (e[0] for e in _encode(model, img[None]))
    per_res = np.asarray(jax.jit(dsc._head_logits)(head, jnp.asarray(img), *feats))
    full = superae.embed(model, img) @ np.asarray(head["w"]) + np.asarray(head["b"])
    np.testing.assert_allclose(per_res, full, rtol=1e-4, atol=1e-4)


def test_prepare_input_scales_and_rescales():
    u8 = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    same = superae.prepare_input(u8)
    assert same.dtype == np.float32
    np.testing.assert_allclose(same, u8 / 255.0, atol=1e-7)
    half = superae.prepare_input(u8, 0.5)
    assert half.shape == (10, 15, 3) and half.min() >= 0.0 and half.max() <= 1.0
    # anti-aliased: a 2x2 block average is close to the rescaled pixel
    blocks = (u8 / 255.0).reshape(10, 2, 15, 2, 3).mean(axis=(1, 3))
    assert np.abs(half - blocks).mean() < 0.1
    with pytest.raises(ValueError, match="scale must be > 0, got 0"):
        superae.prepare_input(u8, 0)
    with pytest.raises(ValueError, match=r"\(20, 30\)"):
        superae.prepare_input(u8[..., 0])
