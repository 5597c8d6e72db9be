"""SuperAE: the superpixel-wise autoencoder of lin2021 (Deep Superpixel Cut, stage 1).

The network (METHOD.md B1) is a small convolutional autoencoder::

    encoder: conv3x3(64)          -> BN -> ReLU   = e1  (H,   W,   64)
             conv3x3(128, stride 2) -> BN -> ReLU = e2  (H/2, W/2, 128)
             conv3x3(256, stride 2) -> BN -> ReLU = e3  (H/4, W/4, 256)
    decoder: convT3x3(128, stride 2) -> BN -> ReLU      (H/2, W/2, 128)
             convT3x3(64, stride 2)  -> BN -> ReLU      (H,   W,   64)
             conv3x3(3) -> sigmoid                      (H,   W,   3)  = xhat

The paper's third decoder module ends in "the sigmoid layer"; we read it as
conv -> sigmoid (a ReLU before the sigmoid would confine the output to
``[0.5, 1)``, and BN right before the output only rescales it). Images whose
sides are not multiples of 4 are edge-padded to the next multiple before the
encoder and the reconstruction is cropped back, so any ``(H, W)`` works.

The loss (our reading of eq. 1-2) is::

    L = mean_p ||x_p - xhat_p||^2 + lambda * T,
    T = mean_p ||xhat_p - mu_{S(p)}||^2            (template_norm="pixels")
      = mean_j mean_{p in S_j} ||xhat_p - mu_j||^2  (template_norm="superpixels")

with ``S`` a superpixel template of the input image and ``mu_j`` the mean of
``xhat`` over superpixel ``j`` (``template_target="reconstruction"``) or of the
input ``x`` (``template_target="input"``, the other reading of eq. 2). Both
readings are switchable in the config (``configs/superae.py``).

Example:
  >>> import jax, jax.numpy as jnp
  >>> from flax import nnx
  >>> model = SuperAE(rngs=nnx.Rngs(0))
  >>> x = jnp.zeros((2, 30, 42, 3))
  >>> model(x).shape
  (2, 30, 42, 3)
  >>> [f.shape for f in model.encode(x)]
  [(2, 32, 44, 64), (2, 16, 22, 128), (2, 8, 11, 256)]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from jaxseg.nn.models import unoptimised_init
from jaxseg.ops import pooling

__all__ = [
    "SuperAE",
    "TEMPLATE_NORMS",
    "TEMPLATE_TARGETS",
    "embed",
    "embedding",
    "embedding_moments",
    "pad_to_multiple",
    "prepare_input",
    "reconstruct",
    "superae_loss",
    "template_smoothness",
    "upsample_features",
]

TEMPLATE_TARGETS = ("reconstruction", "input")
TEMPLATE_NORMS = ("pixels", "superpixels")

ENCODER_CHANNELS = (64, 128, 256)
#: Hidden decoder channels; the last module outputs ``in_channels`` (3).
DECODER_CHANNELS = (128, 64)
#: Total stride of the encoder; inputs are padded to a multiple of it.
STRIDE = 4


def pad_to_multiple(x: jax.Array, multiple: int = STRIDE) -> jax.Array:
    """Edge-pads ``(..., H, W, C)`` at the bottom/right so H and W are multiples."""
    h, w = x.shape[-3], x.shape[-2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 3) + [(0, ph), (0, pw), (0, 0)]
    return jnp.pad(x, pad, mode="edge")


class _ConvBNReLU(nnx.Module):
    def __init__(self, cin: int, cout: int, *, stride: int, transpose: bool, rngs: nnx.Rngs):
        conv = nnx.ConvTranspose if transpose else nnx.Conv
        self.conv = conv(cin, cout, (3, 3), strides=(stride, stride), padding="SAME", rngs=rngs)
        # momentum 0.9 == PyTorch's default BN momentum of 0.1.
        self.bn = nnx.BatchNorm(cout, momentum=0.9, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.bn(self.conv(x)))


class SuperAE(nnx.Module):
    """The SuperAE autoencoder (lin2021 Sec. III-A).

    Args:
      in_channels: input channels (3 for RGB).
      rngs: NNX random streams for the initialisation.

    Call ``model(x)`` with ``x (B, H, W, C)`` float in ``[0, 1]`` for the
    reconstruction ``(B, H, W, C)`` in ``(0, 1)``; ``model.encode(x)`` gives the
    three encoder outputs on the padded grid (see module docstring), which DSC
    upsamples. Batch statistics follow ``model.train()`` / ``model.eval()``.
    """

    @unoptimised_init
    def __init__(self, in_channels: int = 3, *, rngs: nnx.Rngs):
        c1, c2, c3 = ENCODER_CHANNELS
        d1, d2 = DECODER_CHANNELS
        self.in_channels = in_channels
        self.enc1 = _ConvBNReLU(in_channels, c1, stride=1, transpose=False, rngs=rngs)
        self.enc2 = _ConvBNReLU(c1, c2, stride=2, transpose=False, rngs=rngs)
        self.enc3 = _ConvBNReLU(c2, c3, stride=2, transpose=False, rngs=rngs)
        self.dec1 = _ConvBNReLU(c3, d1, stride=2, transpose=True, rngs=rngs)
        self.dec2 = _ConvBNReLU(d1, d2, stride=2, transpose=True, rngs=rngs)
        self.out = nnx.Conv(d2, in_channels, (3, 3), padding="SAME", rngs=rngs)

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Encoder outputs ``(e1, e2, e3)`` of the padded input (strides 1, 2, 4)."""
        x = pad_to_multiple(jnp.asarray(x, jnp.float32))
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        return e1, e2, e3

    def decode(self, e3: jax.Array) -> jax.Array:
        """Reconstruction on the padded grid from the deepest encoder output."""
        return jax.nn.sigmoid(self.out(self.dec2(self.dec1(e3))))

    def __call__(self, x: jax.Array) -> jax.Array:
        h, w = x.shape[-3], x.shape[-2]
        _, _, e3 = self.encode(x)
        return self.decode(e3)[..., :h, :w, :]


def template_smoothness(
    recon: ArrayLike,
    labels: ArrayLike,
    *,
    num_segments: int,
    target: ArrayLike | None = None,
    norm: str = "pixels",
) -> jax.Array:
    """Superpixel-template term of the SuperAE loss for one image.

    Args:
      recon: ``(H, W, C)`` reconstruction ``xhat``.
      labels: ``(H, W)`` int template labels in ``[0, num_segments)``.
      num_segments: static maximum number of template superpixels.
      target: ``(H, W, C)`` image whose superpixel means are ``mu``; defaults
        to ``recon`` (within-superpixel variance of the reconstruction).
      norm: ``"pixels"`` (mean over pixels) or ``"superpixels"`` (mean over
        non-empty superpixels of the per-superpixel mean squared deviation).

    Returns:
      scalar float32. Zero when ``recon`` is constant on every superpixel.
    """
    recon = jnp.asarray(recon, jnp.float32)
    target = recon if target is None else jnp.asarray(target, jnp.float32)
    mu = pooling.segment_mean(target, labels, num_segments)  # (m, C)
    dev = jnp.sum((recon - pooling.unpool(mu, labels)) ** 2, axis=-1)  # (H, W)
    if norm == "pixels":
        return jnp.mean(dev)
    if norm == "superpixels":
        counts = pooling.segment_counts(labels, num_segments)  # (m,)
        per_sp = jax.ops.segment_sum(dev.reshape(-1), labels.reshape(-1), num_segments=num_segments)
        per_sp = per_sp / jnp.maximum(counts, 1.0)
        nonempty = counts > 0
        return jnp.sum(jnp.where(nonempty, per_sp, 0.0)) / jnp.maximum(jnp.sum(nonempty), 1)
    raise ValueError(f"norm must be one of {TEMPLATE_NORMS}, got {norm!r}.")


def superae_loss(
    image: ArrayLike,
    recon: ArrayLike,
    labels: ArrayLike,
    *,
    num_segments: int,
    lam: float = 1.0,
    template_target: str = "reconstruction",
    template_norm: str = "pixels",
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """SuperAE loss (eq. 1, our reading) on a batch.

    Args:
      image: ``(B, H, W, C)`` input ``x`` in ``[0, 1]``.
      recon: ``(B, H, W, C)`` reconstruction ``xhat``.
      labels: ``(B, H, W)`` int template superpixels in ``[0, num_segments)``.
      num_segments: static maximum template size (labels are padded to it).
      lam: weight ``lambda`` of the template term (paper: 1).
      template_target: ``"reconstruction"`` (``mu`` = superpixel mean of
        ``xhat``) or ``"input"`` (``mu`` = superpixel mean of ``x``).
      template_norm: see :func:`template_smoothness`.

    Returns:
      ``(loss, {"mse", "template", "loss"})`` scalars; the batch mean of the
      per-image loss ``mean_p ||x_p - xhat_p||^2 + lam * T``.
    """
    if template_target not in TEMPLATE_TARGETS:
        raise ValueError(
            f"template_target must be one of {TEMPLATE_TARGETS}, got {template_target!r}."
        )
    if template_norm not in TEMPLATE_NORMS:
        raise ValueError(f"template_norm must be one of {TEMPLATE_NORMS}, got {template_norm!r}.")
    image = jnp.asarray(image, jnp.float32)
    recon = jnp.asarray(recon, jnp.float32)
    labels = jnp.asarray(labels)
    if image.shape != recon.shape or image.ndim != 4 or labels.shape != image.shape[:3]:
        raise ValueError(
            f"expected image and recon (B, H, W, C) and labels (B, H, W); got image "
            f"{image.shape}, recon {recon.shape}, labels {labels.shape}."
        )
    mse = jnp.mean(jnp.sum((image - recon) ** 2, axis=-1))
    tgt = recon if template_target == "reconstruction" else image

    def one(r, lab, t):
        return template_smoothness(r, lab, num_segments=num_segments, target=t, norm=template_norm)

    template = jnp.mean(jax.vmap(one)(recon, labels, tgt))
    loss = mse + lam * template
    return loss, {"loss": loss, "mse": mse, "template": template}


# ----------------------------------------------------------------------------- inference


def prepare_input(image: ArrayLike, scale: float = 1.0) -> np.ndarray:
    """The SuperAE input of an RGB image: ``float32 (h, w, 3)`` in ``[0, 1]``.

    ``uint8`` images are divided by 255; ``scale != 1`` rescales with anti-aliasing
    (:func:`skimage.transform.rescale`), the result clipped to ``[0, 1]``.

    Args:
      image: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
      scale: resize factor ``> 0`` (``h = round(H * scale)``).

    Returns:
      ``(h, w, 3) float32`` in ``[0, 1]``.
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {img.shape}.")
    if not float(scale) > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}.")
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if float(scale) != 1.0:
        from skimage import transform

        img = transform.rescale(img, float(scale), channel_axis=-1, anti_aliasing=True)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


@nnx.jit
def _recon(model, image):
    return model(image[None])[0]


def reconstruct(model: SuperAE, image: ArrayLike) -> np.ndarray:
    """Smoothed image ``xhat (H, W, 3) float32`` of one image (eval-mode BN)."""
    model.eval()
    return np.asarray(_recon(model, jnp.asarray(image, jnp.float32)))


def _phase_offsets(factor: int) -> list[float]:
    """Source offset ``o_r = (r + 1/2) / factor - 1/2`` of each output phase ``r``."""
    return [(r + 0.5) / factor - 0.5 for r in range(factor)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _upsample_axis(x: jax.Array, factor: int, axis: int) -> jax.Array:
    """Bilinear upsampling of ``x`` by an integer ``factor`` along ``axis``.

    Half-pixel centres with the border sample repeated, as :func:`jax.image.resize`: output
    sample ``factor * j + r`` lies at source position ``j + o_r`` (:func:`_phase_offsets`),
    between ``x[j]`` and its neighbour on that side. Two taps per output, as slices and
    one interleave, instead of ``resize``'s dense ``(n * factor, n)`` weight matrix; the
    gradient is its hand-written transpose (:func:`_upsample_axis_t`), one pass where
    autodiff of the slices makes several. About 4x faster than ``resize`` on CPU.
    """
    if factor == 1:
        return x
    n = x.shape[axis]
    part = functools.partial(jax.lax.slice_in_dim, x, axis=axis)
    prev = jnp.concatenate([part(0, 1), part(0, n - 1)], axis=axis)  # x[j - 1], clamped
    nxt = jnp.concatenate([part(1, n), part(n - 1, n)], axis=axis)  # x[j + 1], clamped
    phases = [
        (1 + o) * x - o * prev if o < 0 else (1 - o) * x + o * nxt for o in _phase_offsets(factor)
    ]
    shape = list(x.shape)
    shape[axis] = n * factor
    return jnp.stack(phases, axis=axis + 1).reshape(shape)


def _upsample_axis_t(g: jax.Array, factor: int, axis: int) -> jax.Array:
    """The transpose of :func:`_upsample_axis`: ``g`` with ``n * factor`` samples on ``axis``
    back to ``n``, each output phase's weight returned to its two source samples."""
    if factor == 1:
        return g
    n = g.shape[axis] // factor
    shape = list(g.shape)
    shape[axis : axis + 1] = [n, factor]
    g = g.reshape(shape)
    own, to_prev, to_next = 0.0, 0.0, 0.0
    for r, o in enumerate(_phase_offsets(factor)):
        g_r = jax.lax.index_in_dim(g, r, axis=axis + 1, keepdims=False)
        own = own + (1 - abs(o)) * g_r
        if o < 0:
            to_prev = to_prev + (-o) * g_r  # reaches x[j - 1], x[0] at the border
        else:
            to_next = to_next + o * g_r  # reaches x[j + 1], x[n - 1] at the border
    if n == 1:
        return own + to_prev + to_next
    take = functools.partial(jax.lax.slice_in_dim, axis=axis)
    zero = jnp.zeros_like(take(own, 0, 1))
    first = take(to_prev, 0, 1) + take(to_prev, 1, 2)  # x[0] gets phases j = 0 and 1
    back = jnp.concatenate([first, take(to_prev, 2, n), zero], axis)
    last = take(to_next, n - 2, n - 1) + take(to_next, n - 1, n)  # x[n - 1]: j = n - 2, n - 1
    fwd = jnp.concatenate([zero, take(to_next, 0, n - 2), last], axis)
    return own + back + fwd


_upsample_axis.defvjp(
    lambda x, factor, axis: (_upsample_axis(x, factor, axis), None),
    lambda factor, axis, _, g: (_upsample_axis_t(g, factor, axis),),
)


def upsample_features(x: jax.Array, height: int, width: int) -> jax.Array:
    """Bilinear resize of encoder features ``(h, w, C)`` to ``(height, width, C)``.

    Equal to ``jax.image.resize(x, (height, width, C), "bilinear")`` up to float rounding
    (the weights are the same). Integer upscaling factors, as between the encoder's
    outputs on the padded grid, take a two-tap path (:func:`_upsample_axis`); other sizes
    go through ``jax.image.resize``.
    """
    h, w = x.shape[:2]
    if height % h or width % w or height < h or width < w:
        return jax.image.resize(x, (height, width, x.shape[-1]), method="bilinear")
    return _upsample_axis(_upsample_axis(x, height // h, 0), width // w, 1)


def embedding(image: jax.Array, e1: jax.Array, e2: jax.Array, e3: jax.Array) -> jax.Array:
    """``(H, W, 451)``: ``image`` and its encoder outputs (:meth:`SuperAE.encode`, no batch
    axis) upsampled to the padded grid and cropped to the image, stacked on channels."""
    hp, wp = e1.shape[:2]
    h, w = image.shape[:2]
    up = [upsample_features(e, hp, wp)[:h, :w] for e in (e2, e3)]
    return jnp.concatenate([image, e1[:h, :w], *up], axis=-1)


def _upsample_t(g: jax.Array, factor: int) -> jax.Array:
    """The transpose of :func:`upsample_features` by an integer ``factor`` on both axes."""
    return _upsample_axis_t(_upsample_axis_t(g, factor, 1), factor, 0)


def embedding_moments(
    image: jax.Array, e1: jax.Array, e2: jax.Array, e3: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Mean ``(451,)`` and covariance ``(451, 451)`` over the pixels of :func:`embedding`.

    Computed block by block at the sources' own resolutions instead of as one product of
    the ``(H * W, 451)`` matrix with itself (about 8x fewer multiplications). With ``y_k``
    the centred, upsampled and cropped source ``k`` (zero outside the image) and ``U_k``
    its upsampling, ``y_j^T y_k = (U_k^T y_j)^T (e_k - mean_k)``: the full-resolution side
    is taken back to source ``k``'s grid by the upsampling's transpose, then multiplied
    there. (Upsampling commutes with subtracting a constant: its weights sum to one.)

    Inside a larger program XLA:CPU may round these blocks differently depending on the
    surrounding operations; DSC therefore computes them in a compiled call of their own
    per image, so that an image's result does not depend on its batch.
    """
    hp, wp = e1.shape[:2]
    h, w = image.shape[:2]
    n = h * w
    full = jnp.concatenate([jnp.pad(image, ((0, hp - h), (0, wp - w), (0, 0))), e1], axis=-1)
    inside = (jnp.arange(hp) < h)[:, None, None] & (jnp.arange(wp) < w)[None, :, None]
    coarse = (e2, e3)
    ups = [upsample_features(e, hp, wp) for e in coarse]
    means = [jnp.mean(x[:h, :w], axis=(0, 1)) for x in (full, *ups)]
    ys = [jnp.where(inside, x - m, 0.0) for x, m in zip((full, *ups), means, strict=True)]
    centred = [e - m for e, m in zip(coarse, means[1:], strict=True)]
    factors = [hp // e.shape[0] for e in coarse]
    if any(
        f * e.shape[0] != hp or f * e.shape[1] != wp for f, e in zip(factors, coarse, strict=True)
    ):
        raise ValueError(
            f"encoder outputs {[e.shape for e in (e1, *coarse)]} are not on one grid with "
            "integer strides; pass the outputs of SuperAE.encode"
        )

    def block(j: int, k: int) -> jax.Array:  # y_j^T y_k, k >= 1 a coarse source
        t, c = _upsample_t(ys[j], factors[k - 1]), centred[k - 1]
        return t.reshape(-1, t.shape[-1]).T @ c.reshape(-1, c.shape[-1])

    f0 = ys[0][:h, :w].reshape(n, -1)
    b = {(0, 0): f0.T @ f0}
    for j, k in ((0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):
        b[j, k] = block(j, k)
    for j, k in ((0, 1), (0, 2), (1, 2)):
        b[k, j] = b[j, k].T
    for j in (1, 2):
        b[j, j] = 0.5 * (b[j, j] + b[j, j].T)
    cov = jnp.block([[b[j, k] for k in range(3)] for j in range(3)]) / n
    return jnp.concatenate(means), cov


@nnx.jit
def _embed(model, image):
    return embedding(image, *(e[0] for e in model.encode(image[None])))


def embed(model: SuperAE, image: ArrayLike) -> np.ndarray:
    """The SuperAE embedding of one image: ``(H, W, 451)`` float32 (eval-mode BN).

    The image (3 channels) and the encoder outputs ``e1`` (64), ``e2`` (128) and ``e3``
    (256) bilinearly upsampled to the padded grid and cropped to ``(H, W)``.
    """
    model.eval()
    return np.asarray(_embed(model, jnp.asarray(image, jnp.float32)))
