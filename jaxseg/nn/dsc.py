"""Deep Superpixel Cut (lin2021 stage 2): per-image segmentation by back-propagation.

Given an image, its superpixels and a trained SuperAE (:mod:`jaxseg.nn.superae`),
DSC optimises, for that one image, a K-way pixel classifier and reads the
segmentation off its final superpixel classes (METHOD.md B2):

* Embedding: the encoder's three outputs ``e1, e2, e3`` (strides 1, 2, 4),
  bilinearly upsampled to full size and concatenated with the image (451
  channels), then a 1x1 conv to ``K`` logits. A 1x1 conv and bilinear
  upsampling are both linear and per-channel/per-pixel, so they commute: we
  apply the 1x1 conv's row-blocks to each source at its own resolution and
  upsample the ``K``-channel results. This is exactly the paper's head with
  4-8x less memory (``(H, W, K)`` instead of ``(H, W, 451)``).
* Pseudo-labels (eq. 4): per pixel argmax, per superpixel the majority class
  (:func:`jaxseg.ops.pooling.segment_majority`), broadcast to its pixels.
* Superpixel features (eq. 5): ``f_j`` = mean logits over superpixel ``j``;
  association ``P_j = softmax(f_j)`` (eq. 6).
* Similarity (eq. 7, our reading): ``W_ij = exp(-||f_i - f_j||^2 / sigma) *
  [||c_i - c_j|| < r]``, ``c`` the superpixel centroids in pixels. The radius
  ``r`` was lost from the paper's text; the default is two superpixel
  spacings, ``r = 2 sqrt(H W / m)`` with ``m`` the image's superpixel count.
  ``W`` is treated as a constant in the gradient (``w_gradient=False``, the
  chain rule of eq. 10-11 differentiates only through ``P``).
* Soft cut (eq. 8, our reading, a K-way soft normalised cut)::

      J = sum_k  sum_ij W_ij P_ik (1 - P_jk)  /  sum_ij W_ij P_ik

* Loss (eq. 9): ``alpha * CE(softmax(logits), pseudo) + beta * J``, SGD with
  momentum 0.9, lr 5e-2, 128 iterations. ``beta`` was lost from the text
  (``alpha = 1``); the default here is ``beta = 1``.
* Output: per superpixel the argmax of ``f_j``, broadcast to pixels and split
  into 4-connected regions (:func:`jaxseg.regions.connectivity.enforce_connectivity`).

Parameters optimised per image: the 1x1 head always; the encoder too when
``train_encoder=True`` (the paper). ``train_encoder=False`` computes the
encoder features once and only fits the head: about 100x cheaper on CPU, a
documented budget deviation. With the features constant, the head's logits are affine in
them, so ``"standardize"`` folds into the head's columns (per-class mean and variance
from the features' mean and covariance, :func:`_standardized_head`), and the head's and
the per-pixel terms' gradients are written out (:func:`_frozen_head_logits`,
:func:`_pixel_terms`): the same values as autodiff up to float rounding, about 1.8x
faster per iteration on CPU. Encoder BatchNorm uses the running statistics
(``bn_batch_stats=False``) or the image's own statistics (``True``, what a
PyTorch ``model.train()`` per-image loop does).

Shapes are fixed (``max_segments`` pads the superpixel count; empty segments
are masked out of ``W`` and ``P``), so :func:`dsc_optimize` jits once per
image size and the batched :func:`dsc_optimize_batch` runs several images of
the same size under ``jax.vmap`` with results equal to the per-image loop.
:func:`dsc_optimize_sweep` optimises one image once per loss weight ``beta``,
``jax.vmap``-ed over the betas in one jitted call (an evaluation sweep).

Hierarchy for ODS/OIS: :func:`merge_to_counts` (:func:`jaxseg.regions.merge.merge_to_counts`,
re-exported here) merges the final regions greedily (most similar adjacent pair first,
similarity = distance of the mean region logits) and returns one segmentation per
requested region count, so a benchmark can sweep over them (segs). The paper instead
sweeps its settings (superpixel counts, Table II; ``K``, Table III);
:mod:`jaxseg.experiments.lin2021` supports both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.typing import ArrayLike

from jaxseg.nn.superae import SuperAE, embedding_moments, upsample_features
from jaxseg.ops import pooling
from jaxseg.ops.batching import map_each
from jaxseg.regions.labels import region_means
from jaxseg.regions.merge import merge_to_counts

__all__ = [
    "DSCOutput",
    "DSCResult",
    "default_radius",
    "dsc_loss",
    "dsc_optimize",
    "dsc_optimize_batch",
    "dsc_optimize_sweep",
    "dsc_segment",
    "dsc_segment_batch",
    "init_head",
    "merge_to_counts",
    "pseudo_labels",
    "similarity_matrix",
    "soft_cut",
]

LOGIT_NORMS = ("standardize", "none")
_NORM_EPS = 1e-5  # added to the logits' variance by "standardize"

#: Input channels of the 1x1 head: image + e1 + e2 + e3.
HEAD_SPLITS = (3, 64, 128, 256)


class DSCOutput(NamedTuple):
    """Device result of the per-image optimisation (batched: leading ``B``).

    Attributes:
      sp_class: ``(m,) int32`` final class of each (padded) superpixel.
      sp_features: ``(m, K) float32`` final mean logits ``f``.
      losses: ``(num_iters, 3) float32`` rows ``[loss, ce, J]`` per iteration.
    """

    sp_class: jax.Array
    sp_features: jax.Array
    losses: jax.Array


class DSCResult(NamedTuple):
    """Host result of :func:`dsc_segment`.

    Attributes:
      labels: ``(H, W) int32`` connected regions ``0..k-1``.
      region_features: ``(k, K) float32`` mean logits of each region.
      losses: ``(num_iters, 3)`` ``[loss, ce, J]`` history.
    """

    labels: np.ndarray
    region_features: np.ndarray
    losses: np.ndarray


# ----------------------------------------------------------------------------- pieces


def soft_cut(w: ArrayLike, p: ArrayLike, *, eps: float = 1e-8) -> jax.Array:
    """K-way soft normalised cut (eq. 8, our reading).

    ``J = sum_k cut_k / assoc_k = K - sum_k (P^T W P)_kk / assoc_k`` with
    ``assoc_k = sum_ij W_ij P_ik`` and ``cut_k = sum_ij W_ij P_ik (1 - P_jk)``.
    We evaluate the right-hand form (W-Net's soft N-cut), whose value for a
    class with vanishing mass is its limit, 1. The left-hand form with an
    ``eps`` in the denominator would give 0 for a class whose softmax mass has
    underflowed to exactly 0, and the optimisation exploits that: it drives
    the logits up until all classes but one are exactly empty (measured: J
    from 31 to 1e-23 in 48 iterations, one region left).

    Args:
      w: ``(m, m)`` symmetric non-negative similarities.
      p: ``(m, K)`` soft assignments (rows sum to 1; zero rows are ignored).
      eps: guards classes with no mass.

    Returns:
      scalar float32 in ``[0, K]``; 0 when ``P`` is a hard partition into
      ``K`` non-empty classes that ``W`` does not connect across; each unused
      class adds 1.
    """
    w = jnp.asarray(w, jnp.float32)
    p = jnp.asarray(p, jnp.float32)
    assoc = jnp.sum(w.sum(axis=1)[:, None] * p, axis=0)  # (K,)
    within = jnp.einsum("ik,ij,jk->k", p, w, p)  # (K,)
    return p.shape[-1] - jnp.sum(within / (assoc + eps))


def similarity_matrix(
    features: ArrayLike,
    centroids: ArrayLike,
    valid: ArrayLike,
    *,
    sigma: float,
    radius: ArrayLike,
) -> jax.Array:
    """Eq. 7: ``W_ij = exp(-||f_i - f_j||^2 / sigma) [||c_i - c_j|| < r] v_i v_j``.

    Args:
      features: ``(m, D)`` superpixel features ``f``.
      centroids: ``(m, 2)`` superpixel centroids (pixels).
      valid: ``(m,)`` bool, False for padding (empty) superpixels.
      sigma: scale (paper: 10).
      radius: distance constant ``r`` in pixels (may be traced).

    Returns:
      ``(m, m)`` float32, symmetric, diagonal 1 on valid superpixels.
    """
    f = jnp.asarray(features, jnp.float32)
    c = jnp.asarray(centroids, jnp.float32)
    v = jnp.asarray(valid, bool)
    d2f = jnp.sum((f[:, None, :] - f[None, :, :]) ** 2, axis=-1)  # (m, m)
    d2c = jnp.sum((c[:, None, :] - c[None, :, :]) ** 2, axis=-1)  # (m, m)
    near = (d2c < jnp.square(radius)) & v[:, None] & v[None, :]
    return jnp.where(near, jnp.exp(-d2f / sigma), 0.0)


def pseudo_labels(logits: ArrayLike, labels: ArrayLike, num_segments: int) -> jax.Array:
    """Eq. 4: per-superpixel majority of the per-pixel argmax, broadcast to pixels.

    Args:
      logits: ``(H, W, K)`` pixel logits.
      labels: ``(H, W)`` int superpixels in ``[0, num_segments)``.
      num_segments: static superpixel count ``m`` (may include empty padding).

    Returns:
      ``(H, W) int32`` pseudo-labels in ``[0, K)`` (ties: smallest class).
    """
    logits = jnp.asarray(logits)
    k = logits.shape[-1]
    pix = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    sp = pooling.segment_majority(labels, pix, num_segments, k)  # (m,)
    return sp[labels]


def default_radius(height: int, width: int, num_superpixels: int) -> float:
    """Default ``r``: two superpixel spacings, ``2 sqrt(H W / m)`` pixels."""
    return 2.0 * math.sqrt(height * width / max(int(num_superpixels), 1))


def init_head(key: jax.Array, num_classes: int) -> dict[str, jax.Array]:
    """1x1 conv ``(451 -> K)`` with PyTorch-like fan-in scaled normal init, zero bias."""
    fan_in = sum(HEAD_SPLITS)
    w = jax.random.normal(key, (fan_in, num_classes), jnp.float32) / math.sqrt(fan_in)
    return {"w": w, "b": jnp.zeros((num_classes,), jnp.float32)}


_FULL_PAD = 4  # zero channels that make the full-resolution source 72 wide (alignment)


def _head_sources(image, e1, e2, e3) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The head's inputs per resolution: ``[image, 1, e1, 0]`` on the padded grid, ``e2``,
    ``e3``.

    The image is zero-padded to the encoder's grid and stacked with a channel of ones (the
    bias), ``e1`` and ``_FULL_PAD`` zero channels (``3 + 1 + 64 + 4 = 72``), so the
    full-resolution part of the head, bias included, is one aligned matrix product.
    """
    h, w = image.shape[:2]
    hp, wp = e1.shape[:2]
    img = jnp.pad(image, ((0, hp - h), (0, wp - w), (0, 0)))
    ones = jnp.ones((hp, wp, 1), e1.dtype)
    zeros = jnp.zeros((hp, wp, _FULL_PAD), e1.dtype)
    return jnp.concatenate([img, ones, e1, zeros], axis=-1), e2, e3


def _source_weights(head) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``head``'s rows for each of :func:`_head_sources`' sources (bias row and zero rows
    in place for the first)."""
    w_img, w1, w2, w3 = jnp.split(head["w"], np.cumsum(HEAD_SPLITS)[:-1], axis=0)
    zeros = jnp.zeros((_FULL_PAD, w1.shape[-1]), w1.dtype)
    return jnp.concatenate([w_img, head["b"][None], w1, zeros], axis=0), w2, w3


def _head_apply(head, sources, height: int, width: int) -> jax.Array:
    """1x1 conv of the upsampled, concatenated sources, applied per resolution.

    Each source is multiplied by its rows of the head (:func:`_source_weights`) at its own
    resolution and the ``K``-channel result is upsampled (:func:`upsample_features`) to
    the first source's grid, then cropped to ``(height, width)``.
    """
    hp, wp = sources[0].shape[:2]
    ws = _source_weights(head)
    acc = sources[0] @ ws[0]
    for src, w in zip(sources[1:], ws[1:], strict=True):
        acc = acc + upsample_features(src @ w, hp, wp)
    return acc[:height, :width]


def _head_logits(head, image, e1, e2, e3) -> jax.Array:
    """1x1 conv of ``[image, up(e1), up(e2), up(e3)]`` applied per resolution."""
    return _head_apply(head, _head_sources(image, e1, e2, e3), *image.shape[:2])


class _Frozen(NamedTuple):
    """Constant head inputs of one image (the encoder frozen).

    Attributes:
      sources: :func:`_head_sources`.
      flat_t: each source as ``(C, n)``, the layout of the weight gradient's product.
      mean, cov: ``(451,)`` mean and ``(451, 451)`` covariance over the image's pixels of
        the head's full-resolution input (:func:`jaxseg.nn.superae.embedding_moments`),
        for :func:`_standardized_head`.
    """

    sources: tuple[jax.Array, ...]
    flat_t: tuple[jax.Array, ...]
    mean: jax.Array
    cov: jax.Array


def _frozen(image, e1, e2, e3) -> _Frozen:
    image, e1, e2, e3 = jax.lax.stop_gradient((image, e1, e2, e3))
    sources = _head_sources(image, e1, e2, e3)
    mean, cov = embedding_moments(image, e1, e2, e3)
    return _Frozen(sources, tuple(s.reshape(-1, s.shape[-1]).T for s in sources), mean, cov)


@functools.partial(jax.jit, static_argnames="graphdef")
def _frozen_jit(enc_state, image, *, graphdef) -> _Frozen:
    """:func:`_frozen` of one image's encoder outputs, as a compiled call of its own.

    Kept out of the optimisation's program so that XLA rounds it the same way for every
    image, alone or in a batch (see :func:`jaxseg.nn.superae.embedding_moments`).
    """
    return _frozen(image, *_encode(graphdef, enc_state, image))


def _frozen_input(graphdef, enc_state, image, train_encoder: bool) -> _Frozen | None:
    """:func:`_frozen_jit` of ``image`` ``(H, W, 3)``; ``None`` when the encoder is trained
    (its features then change every step)."""
    return None if train_encoder else _frozen_jit(enc_state, image, graphdef=graphdef)


def _frozen_inputs(graphdef, enc_state, images, train_encoder: bool) -> _Frozen | None:
    """:func:`_frozen_input` of each of ``images`` ``(B, H, W, 3)``, stacked."""
    if train_encoder:
        return None
    parts = [_frozen_input(graphdef, enc_state, img, False) for img in images]
    return jax.tree.map(lambda *xs: jnp.stack(xs), *parts)


def _standardized_head(head, frozen: _Frozen) -> dict[str, jax.Array]:
    """The head whose logits are :func:`_normalize_logits` ``"standardize"`` of ``head``'s.

    The logits are affine in the constant inputs ``x``: ``l = x W + b``. So their per-class
    mean over the pixels is ``mean(x) W + b`` and their variance ``diag(W^T cov(x) W)``,
    and standardising them is rescaling the head's columns: ``W r``, ``(b - mean(l)) r``
    with ``r = rsqrt(var + eps)``. Equal to standardising the ``(H, W, K)`` logits up to
    float rounding, without the passes over them (nor those of the gradient).
    """
    w, b = head["w"], head["b"]
    mean = frozen.mean @ w + b
    var = jnp.einsum("ck,cd,dk->k", w, frozen.cov, w)
    r = jax.lax.rsqrt(var + _NORM_EPS)
    return {"w": w * r, "b": (b - mean) * r}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _frozen_head_logits(head, frozen: _Frozen, height: int, width: int) -> jax.Array:
    """:func:`_head_apply` on constant sources, with a hand-written gradient for ``head``.

    Autodiff of :func:`_head_apply` gives the same gradient, but XLA:CPU fuses the
    backward pass into each of the three weight-gradient products and transposes the
    ``(n, K)`` cotangent for each: about 1.5x slower per DSC iteration. Here the cotangent
    is padded once, taken back through each upsampling, and contracted with the sources'
    stored ``(C, n)`` layout. The sources get no gradient (they are constants).
    """
    return jax.lax.optimization_barrier(_head_apply(head, frozen.sources, height, width))


def _frozen_head_fwd(head, frozen, height, width):
    return _frozen_head_logits(head, frozen, height, width), frozen


def _frozen_head_bwd(height, width, frozen, g):
    hp, wp = frozen.sources[0].shape[:2]
    k = g.shape[-1]
    gp = jnp.pad(g, ((0, hp - height), (0, wp - width), (0, 0)))
    dw = []
    for src, flat_t in zip(frozen.sources, frozen.flat_t, strict=True):
        gs = gp
        if src.shape[:2] != (hp, wp):
            zeros = jnp.zeros((*src.shape[:2], k), g.dtype)
            gs = jax.vjp(lambda y: upsample_features(y, hp, wp), zeros)[1](gp)[0]
        dw.append(flat_t @ gs.reshape(-1, k))
    n_img = HEAD_SPLITS[0]
    full = dw[0]  # rows [image, bias, e1, zero padding]
    w = jnp.concatenate([full[:n_img], full[n_img + 1 : n_img + 1 + HEAD_SPLITS[1]], *dw[1:]])
    return {"w": w, "b": full[n_img]}, jax.tree.map(jnp.zeros_like, frozen)


_frozen_head_logits.defvjp(_frozen_head_fwd, _frozen_head_bwd)


def _frozen_logits(head, frozen: _Frozen, logit_norm: str, height: int, width: int):
    """``_normalize_logits(_head_logits(head, ...), logit_norm)`` on constant encoder
    features, the fast way (:func:`_standardized_head`, :func:`_frozen_head_logits`)."""
    if logit_norm == "standardize":
        head = _standardized_head(head, frozen)
    return _frozen_head_logits(head, frozen, height, width)


def _normalize_logits(logits: jax.Array, mode: str) -> jax.Array:
    """``"standardize"``: per-class zero mean, unit variance over the pixels."""
    if mode == "none":
        return logits
    mean = jnp.mean(logits, axis=(0, 1))
    var = jnp.var(logits, axis=(0, 1))
    return (logits - mean) * jax.lax.rsqrt(var + _NORM_EPS)


def _encode(graphdef, enc_state, image):
    model = nnx.merge(graphdef, *enc_state)
    e1, e2, e3 = model.encode(image[None])
    return e1[0], e2[0], e3[0]


class _Geometry(NamedTuple):
    centroids: jax.Array  # (m, 2)
    valid: jax.Array  # (m,) bool


def _geometry(labels: jax.Array, m: int) -> _Geometry:
    h, w = labels.shape
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32))
    coords = jnp.stack([yy.T, xx.T], axis=-1)  # (H, W, 2)
    cent = pooling.segment_mean(coords, labels, m)
    valid = pooling.segment_counts(labels, m) > 0
    return _Geometry(cent, valid)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _pixel_terms(logits, labels, num_segments: int) -> tuple[jax.Array, jax.Array]:
    """The per-pixel part of eq. 9: ``CE(softmax(logits), pseudo)`` and ``f`` (eq. 5).

    The gradient with respect to ``logits`` is written out, ``(softmax - onehot(pseudo)) /
    n`` times the CE cotangent plus each superpixel's ``f`` cotangent over its pixel
    count: the same value autodiff gives, in two passes over the ``(H, W, K)`` pixels
    instead of the many that XLA:CPU emits for the autodiff graph (about 1.3x per DSC
    iteration). The pseudo-labels are constants, as in eq. 4.
    """
    return _pixel_terms_fwd(logits, labels, num_segments)[0]


def _pixel_terms_fwd(logits, labels, num_segments):
    pseudo = pseudo_labels(logits, labels, num_segments)
    logp = jax.nn.log_softmax(logits, axis=-1)
    onehot = jax.nn.one_hot(pseudo, logits.shape[-1], dtype=logits.dtype)
    ce = -jnp.mean(jnp.sum(logp * onehot, axis=-1))
    f = pooling.segment_mean(logits, labels, num_segments)
    counts = pooling.segment_counts(labels, num_segments)
    return (ce, f), (logp, onehot, labels, counts)


def _pixel_terms_bwd(num_segments, res, cotangents):
    logp, onehot, labels, counts = res
    g_ce, g_f = cotangents
    per_pixel = (g_f / jnp.maximum(counts, 1)[:, None])[labels]  # (H, W, K)
    d_logits = (jnp.exp(logp) - onehot) * (g_ce / labels.size) + per_pixel
    return d_logits, None


_pixel_terms.defvjp(_pixel_terms_fwd, _pixel_terms_bwd)


def dsc_loss(
    logits: ArrayLike,
    labels: ArrayLike,
    centroids: ArrayLike,
    valid: ArrayLike,
    *,
    num_segments: int,
    sigma: float = 10.0,
    radius: ArrayLike = 80.0,
    alpha: float = 1.0,
    beta: ArrayLike = 1.0,
    w_gradient: bool = False,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    """Eq. 9 for one image: ``alpha * CE(logits, pseudo) + beta * J``.

    Args:
      logits: ``(H, W, K)`` pixel logits.
      labels: ``(H, W)`` int superpixels in ``[0, num_segments)``.
      centroids, valid: ``(m, 2)`` centroids and ``(m,)`` bool non-empty mask.
      num_segments: static ``m``.
      sigma, radius: eq. 7 constants.
      alpha, beta: loss weights (``beta`` may be a traced scalar, as in
        :func:`dsc_optimize_sweep`).
      w_gradient: differentiate through ``W`` too (default: ``W`` constant).

    Returns:
      ``(loss, (ce, J, f))`` with ``f (m, K)`` the superpixel mean logits.
    """
    logits = jnp.asarray(logits, jnp.float32)
    ce, f = _pixel_terms(logits, jnp.asarray(labels), num_segments)
    p = jax.nn.softmax(f, axis=-1) * valid[:, None]
    f_w = f if w_gradient else jax.lax.stop_gradient(f)
    w = similarity_matrix(f_w, centroids, valid, sigma=sigma, radius=radius)
    j = soft_cut(w, p)
    return alpha * ce + beta * j, (ce, j, f)


# ----------------------------------------------------------------------------- optimisation

# Static arguments of the compiled optimisers. ``beta`` is not one: it is traced (a scalar,
# or vmapped over in the sweep), so runs that differ only in beta share one program.
_STATIC = (
    "graphdef",
    "num_segments",
    "num_iters",
    "learning_rate",
    "momentum",
    "sigma",
    "alpha",
    "train_encoder",
    "w_gradient",
    "logit_norm",
)


def _optimize_one(
    enc_state,
    head,
    image,
    labels,
    radius,
    frozen: _Frozen | None,
    *,
    graphdef,
    num_segments,
    num_iters,
    learning_rate,
    momentum,
    sigma,
    alpha,
    beta,
    train_encoder,
    w_gradient,
    logit_norm,
) -> DSCOutput:
    m = num_segments
    geo = _geometry(labels, m)
    tx = optax.sgd(learning_rate, momentum=momentum)

    if train_encoder:
        enc_params, rest = enc_state
        params = {"enc": enc_params, "head": head}

        def logits_fn(prm):
            feats = _encode(graphdef, (prm["enc"], rest), image)
            return _normalize_logits(_head_logits(prm["head"], image, *feats), logit_norm)

    else:
        params = {"head": head}

        def logits_fn(prm):
            return _frozen_logits(prm["head"], frozen, logit_norm, *image.shape[:2])

    def loss_fn(prm):
        loss, (ce, j, _) = dsc_loss(
            logits_fn(prm),
            labels,
            geo.centroids,
            geo.valid,
            num_segments=m,
            sigma=sigma,
            radius=radius,
            alpha=alpha,
            beta=beta,
            w_gradient=w_gradient,
        )
        return loss, jnp.stack([loss, ce, j])

    def step(carry, _):
        prm, opt = carry
        grads, row = jax.grad(loss_fn, has_aux=True)(prm)
        updates, opt = tx.update(grads, opt, prm)
        return (optax.apply_updates(prm, updates), opt), row

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), None, length=num_iters)
    f = pooling.segment_mean(logits_fn(params), labels, m)  # (m, K)
    return DSCOutput(jnp.argmax(f, axis=-1).astype(jnp.int32), f, losses)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _optimize_jit(enc_state, head, image, labels, radius, frozen, **kw) -> DSCOutput:
    return _optimize_one(enc_state, head, image, labels, radius, frozen, **kw)


@functools.partial(jax.jit, static_argnames=(*_STATIC, "vectorize"))
def _optimize_batch_jit(
    enc_state, heads, images, labels, radii, frozen, *, vectorize: bool = True, **kw
) -> DSCOutput:
    one = functools.partial(_optimize_one, **kw)
    xs = (heads, images, labels, radii, frozen)
    if vectorize:
        return jax.vmap(one, in_axes=(None, 0, 0, 0, 0, 0))(enc_state, *xs)
    # One image at a time inside the compiled call: every image runs the same compiled
    # body whatever the batch size, so its labels do not depend on its batch.
    return map_each(lambda x: one(enc_state, *x), xs)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _optimize_sweep_jit(enc_state, head, image, labels, radius, frozen, betas, **kw) -> DSCOutput:
    def one(beta):
        return _optimize_one(enc_state, head, image, labels, radius, frozen, beta=beta, **kw)

    # Only the beta-dependent part is batched: with ``train_encoder=False`` the
    # encoder features (``frozen``) do not depend on beta and are computed once.
    return jax.vmap(one)(betas)


def _split_encoder(model: SuperAE, bn_batch_stats: bool):
    if not isinstance(model, SuperAE):
        raise TypeError(f"model must be a jaxseg.nn.superae.SuperAE, got {type(model).__name__}.")
    model = nnx.clone(model)
    if bn_batch_stats:
        model.train()
    else:
        model.eval()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    return graphdef, (params, rest)


def _check_pair(image, labels, max_segments):
    image = np.asarray(image, np.float32)
    labels = np.asarray(labels)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) float in [0, 1], got shape {image.shape}.")
    if labels.shape != image.shape[:2]:
        raise ValueError(
            f"superpixels shape {labels.shape} differs from image shape {image.shape[:2]}."
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("superpixels must be a non-negative integer label image (0..m-1).")
    if labels.max() >= max_segments:
        raise ValueError(
            f"superpixels has label {labels.max()} >= max_segments={max_segments}; "
            "raise max_segments (it pads the superpixel count)."
        )
    return image, labels.astype(np.int32)


def _options(kw):
    out = dict(
        num_iters=128,
        learning_rate=5e-2,
        momentum=0.9,
        sigma=10.0,
        alpha=1.0,
        beta=1.0,
        train_encoder=False,
        w_gradient=False,
        logit_norm="standardize",
    )
    unknown = set(kw) - set(out)
    if unknown:
        raise TypeError(f"unknown DSC option(s) {sorted(unknown)}; valid: {sorted(out)}.")
    out.update(kw)
    if int(out["num_iters"]) < 1:
        raise ValueError(f"num_iters must be >= 1, got {out['num_iters']}.")
    for name in ("sigma",):
        if not out[name] > 0:
            raise ValueError(f"{name} must be > 0, got {out[name]}.")
    if out["logit_norm"] not in LOGIT_NORMS:
        raise ValueError(f"logit_norm must be one of {LOGIT_NORMS}, got {out['logit_norm']!r}.")
    out["num_iters"] = int(out["num_iters"])
    for name in ("learning_rate", "momentum", "sigma", "alpha", "beta"):
        out[name] = float(out[name])
    return out


def _max_segments(labels_list, max_segments):
    if max_segments is None:
        top = max(int(lab.max()) + 1 for lab in labels_list)
        return 64 * math.ceil(top / 64)  # round up to limit recompiles
    return int(max_segments)


def _prepare_one(model, image, superpixels, key, num_classes, max_segments, radius, bn_batch_stats):
    """Checked inputs of a one-image DSC run: encoder split, fresh head, padded count."""
    m = _max_segments([np.asarray(superpixels)], max_segments)
    image, labels = _check_pair(image, superpixels, m)
    if radius is None:
        radius = default_radius(*labels.shape, int(labels.max()) + 1)
    graphdef, enc_state = _split_encoder(model, bn_batch_stats)
    head = init_head(key, int(num_classes))
    return graphdef, enc_state, head, image, labels, radius, m


def dsc_optimize(
    model: SuperAE,
    image: ArrayLike,
    superpixels: ArrayLike,
    *,
    key: jax.Array,
    num_classes: int = 32,
    max_segments: int | None = None,
    radius: float | None = None,
    bn_batch_stats: bool = False,
    **options,
) -> DSCOutput:
    """Runs the DSC optimisation on one image (jitted, fixed shapes).

    Args:
      model: trained SuperAE (its encoder is used; the model is not modified).
      image: ``(H, W, 3)`` float in ``[0, 1]``.
      superpixels: ``(H, W)`` int labels ``0..m-1``.
      key: PRNG key for the head initialisation.
      num_classes: ``K`` (paper: 32).
      max_segments: static padded superpixel count (default: ``m`` rounded up to 64).
      radius: ``r`` in pixels (default :func:`default_radius`).
      bn_batch_stats: encoder BatchNorm on the image's statistics.
      **options: ``num_iters`` (128), ``learning_rate`` (5e-2), ``momentum``
        (0.9), ``sigma`` (10), ``alpha`` (1), ``beta`` (1), ``train_encoder``
        (False), ``w_gradient`` (False).

    Returns:
      :class:`DSCOutput` on device (padding rows of ``sp_class`` are meaningless).
    """
    opts = _options(options)
    graphdef, enc_state, head, image, labels, radius, m = _prepare_one(
        model, image, superpixels, key, num_classes, max_segments, radius, bn_batch_stats
    )
    image = jnp.asarray(image)
    frozen = _frozen_input(graphdef, enc_state, image, opts["train_encoder"])
    return _optimize_jit(
        enc_state,
        head,
        image,
        jnp.asarray(labels),
        jnp.float32(radius),
        frozen,
        graphdef=graphdef,
        num_segments=m,
        **opts,
    )


def dsc_optimize_batch(
    model: SuperAE,
    images: ArrayLike,
    superpixels: ArrayLike,
    *,
    keys: jax.Array,
    num_classes: int = 32,
    max_segments: int | None = None,
    radius: float | None = None,
    bn_batch_stats: bool = False,
    vectorize: bool = True,
    **options,
) -> DSCOutput:
    """Optimises ``B`` images of the same size in one compiled call.

    Same arguments as :func:`dsc_optimize` with a leading batch axis:
    ``images (B, H, W, 3)``, ``superpixels (B, H, W)``, ``keys (B, ...)``;
    superpixel counts are padded to one ``max_segments``. Equal to calling
    :func:`dsc_optimize` on each image with the same ``max_segments`` and key, up to
    float rounding.

    ``vectorize=True`` runs the images side by side under ``jax.vmap`` (the throughput
    an accelerator needs); the float rounding then depends on the batch size, and the
    128-step optimisation can turn those last-bit differences into different labels for
    some images. ``vectorize=False`` runs them one after another inside the call
    (``jax.lax.map``): an image's result is then the same in any batch.
    """
    opts = _options(options)
    images = np.asarray(images, np.float32)
    sps = np.asarray(superpixels)
    if images.ndim != 4 or sps.ndim != 3:
        raise ValueError(
            f"images must be (B, H, W, 3) and superpixels (B, H, W) (same-size images only; "
            f"group images by shape), got {images.shape} and {sps.shape}."
        )
    m = _max_segments(list(sps), max_segments)
    pairs = [_check_pair(i, s, m) for i, s in zip(images, sps, strict=True)]
    if radius is None:
        radii = [default_radius(*s.shape, int(s.max()) + 1) for _, s in pairs]
    else:
        radii = [radius] * len(pairs)
    graphdef, enc_state = _split_encoder(model, bn_batch_stats)
    heads = jax.vmap(lambda k: init_head(k, int(num_classes)))(keys)
    images = jnp.asarray(np.stack([p[0] for p in pairs]))
    return _optimize_batch_jit(
        enc_state,
        heads,
        images,
        jnp.asarray(np.stack([p[1] for p in pairs])),
        jnp.asarray(radii, jnp.float32),
        _frozen_inputs(graphdef, enc_state, images, opts["train_encoder"]),
        graphdef=graphdef,
        num_segments=m,
        vectorize=bool(vectorize),
        **opts,
    )


def dsc_optimize_sweep(
    model: SuperAE,
    image: ArrayLike,
    superpixels: ArrayLike,
    *,
    betas: Sequence[float] | ArrayLike,
    key: jax.Array,
    num_classes: int = 32,
    max_segments: int | None = None,
    radius: float | None = None,
    bn_batch_stats: bool = False,
    **options,
) -> DSCOutput:
    """Optimises one image once per cut weight ``beta``, in one vmapped call.

    An evaluation sweep over eq. 9's ``beta`` (lost from the paper's text):
    the per-image optimisation of :func:`dsc_optimize` runs under ``jax.vmap``
    over a ``(S,)`` array of betas, jitted once per image size and ``S``
    (``beta`` is a traced array here, not a static option). Every member
    starts from the same head (``key``); with ``train_encoder=False`` the
    encoder features are computed once for all members. Entry ``s`` equals
    ``dsc_optimize(model, image, superpixels, key=key, beta=betas[s], ...)``
    (same ``max_segments``) up to float rounding.

    Args:
      model, image, superpixels, key, num_classes, max_segments, radius,
        bn_batch_stats: as for :func:`dsc_optimize` (``image (H, W, 3)``,
        ``superpixels (H, W)``).
      betas: ``(S,)`` non-empty 1-D sequence of finite cut weights ``beta``.
      **options: as for :func:`dsc_optimize`, except ``beta``.

    Returns:
      :class:`DSCOutput` on device with a leading ``S`` axis:
      ``sp_class (S, m)``, ``sp_features (S, m, K)``, ``losses (S, num_iters, 3)``.

    Raises:
      ValueError: ``betas`` empty, not 1-D or not finite; the errors of
        :func:`dsc_optimize`.
      TypeError: ``beta`` given as an option (use ``betas``).

    Example:
      >>> out = dsc_optimize_sweep(model, image, sp, betas=[0.0, 1.0, 4.0],
      ...                          key=jax.random.key(0), num_classes=8)
      >>> out.sp_class.shape  # (3, max_segments)
      >>> out.losses[:, -1]  # final [loss, ce, J] per beta
    """
    if "beta" in options:
        raise TypeError("dsc_optimize_sweep takes betas=[...], not beta=; drop beta.")
    bs = np.asarray(betas, np.float32)
    if bs.ndim != 1 or bs.shape[0] < 1:
        raise ValueError(f"betas must be a non-empty 1-D sequence of floats, got shape {bs.shape}.")
    if not np.all(np.isfinite(bs)):
        raise ValueError(f"betas must be finite, got {bs.tolist()}.")
    opts = _options(options)
    del opts["beta"]
    graphdef, enc_state, head, image, labels, radius, m = _prepare_one(
        model, image, superpixels, key, num_classes, max_segments, radius, bn_batch_stats
    )
    image = jnp.asarray(image)
    frozen = _frozen_input(graphdef, enc_state, image, opts["train_encoder"])
    return _optimize_sweep_jit(
        enc_state,
        head,
        image,
        jnp.asarray(labels),
        jnp.float32(radius),
        frozen,
        jnp.asarray(bs),
        graphdef=graphdef,
        num_segments=m,
        **opts,
    )


# ----------------------------------------------------------------------------- host side


def _finish(out_sp_class, out_f, superpixels) -> tuple[np.ndarray, np.ndarray]:
    from jaxseg.regions.connectivity import enforce_connectivity

    sp = np.asarray(superpixels)
    cls = np.asarray(out_sp_class)[sp]
    labels = enforce_connectivity(cls, min_size=1)
    feats = region_means(labels, np.asarray(out_f)[sp])  # mean superpixel features
    return labels.astype(np.int32), feats.astype(np.float32)


def dsc_segment(model: SuperAE, image, superpixels, *, key, **kw) -> DSCResult:
    """:func:`dsc_optimize` + connected final regions on the host."""
    out = jax.device_get(dsc_optimize(model, image, superpixels, key=key, **kw))
    labels, feats = _finish(out.sp_class, out.sp_features, superpixels)
    return DSCResult(labels, feats, np.asarray(out.losses))


def dsc_segment_batch(model: SuperAE, images, superpixels, *, keys, **kw) -> list[DSCResult]:
    """:func:`dsc_optimize_batch` + connected final regions, one result per image."""
    out = jax.device_get(dsc_optimize_batch(model, images, superpixels, keys=keys, **kw))
    results = []
    for b, sp in enumerate(np.asarray(superpixels)):
        labels, feats = _finish(out.sp_class[b], out.sp_features[b], sp)
        results.append(DSCResult(labels, feats, np.asarray(out.losses[b])))
    return results
