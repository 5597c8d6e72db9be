"""Losses of wang2020: pair loss (eq. 7), SSN label reconstruction and compactness.

All functions are pure and jittable; they take one image (vmap for a batch).
Conventions follow METHOD.md A3:

* ``pair_loss``: balanced binary cross-entropy on the similarities of adjacent
  superpixel pairs, with ``alpha`` the fraction of positive pairs by default.
* ``reconstruction_loss``: SSN's task loss ``CE(R, Qhat Qtilde^T R)`` with ``R`` the
  one-hot ground truth, computed through :func:`jaxseg.ops.slic.soft_pool` and
  :func:`jaxseg.ops.slic.soft_unpool` (O(9n), never a dense ``n x m`` matrix).
* ``compactness_loss``: SSN's compactness term, squared distance between each
  pixel's position and the soft-pooled position of its hard superpixel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxseg.ops import pooling, slic

__all__ = ["pair_loss", "reconstruction_loss", "compactness_loss"]


def pair_loss(
    distance: ArrayLike,
    same: ArrayLike,
    valid: ArrayLike,
    *,
    alpha: float | None = None,
    eps: float = 1e-6,
) -> jax.Array:
    r"""Balanced pair loss of wang2020 eq. 7, averaged over the valid pairs.

    .. math::
        L = -\frac{1}{|Y|}\sum_{(i,j)} (1-\alpha)\, l_{ij} \log s_{ij}
            + \alpha\, (1-l_{ij}) \log(1-s_{ij}),
        \qquad s_{ij} = \frac{2}{1 + e^{d_{ij}}}

    The paper sums over pairs; we divide by the number of valid pairs ``|Y|`` so
    the scale does not depend on the superpixel count. ``log s`` and ``log(1-s)``
    are computed from the distance in closed form
    (:func:`jaxseg.ops.pooling.log_similarity`, :func:`jaxseg.ops.pooling.log1m_similarity`),
    which is what "clip s away from 0 and 1" protects against: ``s`` is clipped
    to ``<= 1 - eps`` (``log(1-s)`` is ``-inf`` at ``d = 0``), while ``log s`` is
    left unclipped because it is finite for every ``d`` and a clip there would
    zero the gradient of very dissimilar positive pairs (common at
    initialisation, where 64-channel L1 distances are large).

    Args:
      distance: ``(P,)`` float L1 feature distances ``d_ij`` of the pairs
        (:func:`jaxseg.ops.pooling.pair_distance`).
      same: ``(P,)`` bool/float ``l_ij``, 1 when both superpixels have the same
        majority ground-truth segment.
      valid: ``(P,)`` bool, False for padding rows (they contribute nothing).
      alpha: weight of the negative pairs (positives get ``1 - alpha``); ``None``
        uses the paper's ``alpha = |Y+| / |Y|``, the fraction of positive valid pairs.
      eps: clip of ``s`` away from 1, in ``(0, 1)``.

    Returns:
      Scalar loss, float32 (float64 for float64 distances); 0 when there is no
      valid pair.

    Example:
      >>> pair_loss(jnp.array([0.1, 5.0]), jnp.array([1, 0]), jnp.array([True, True]))
    """
    d = jnp.asarray(distance)
    d = d.astype(jnp.promote_types(d.dtype, jnp.float32))  # float64 stays float64 (x64)
    l = jnp.asarray(same).astype(jnp.float32)
    v = jnp.asarray(valid).astype(jnp.float32)
    if not (d.shape == l.shape == v.shape and d.ndim == 1):
        raise ValueError(
            f"distance, same, valid must all be (P,); got {d.shape}, {l.shape}, {v.shape}"
        )
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must be in [0, 1] (or None for the positive fraction)")
    num_valid = jnp.sum(v)
    if alpha is None:
        a = jnp.sum(l * v) / jnp.maximum(num_valid, 1.0)
    else:
        a = jnp.float32(alpha)
    log_s = pooling.log_similarity(d, eps=0.0)
    log_1ms = pooling.log1m_similarity(d, eps=eps)
    per_pair = (1.0 - a) * l * log_s + a * (1.0 - l) * log_1ms
    return -jnp.sum(v * per_pair) / jnp.maximum(num_valid, 1.0)


def reconstruction_loss(
    onehot: ArrayLike,
    assoc: ArrayLike,
    candidates: ArrayLike,
    *,
    num_segments: int,
    eps: float = 1e-8,
) -> jax.Array:
    r"""SSN label-reconstruction loss ``CE(R, Qhat Qtilde^T R)``.

    ``R`` is pooled onto the superpixels with the column-normalised soft
    association and unpooled with the row-normalised one; the cross-entropy of
    the reconstruction against ``R`` is averaged over labelled pixels (rows of
    ``onehot`` that are all zero, e.g. ignored segments, do not count).

    Args:
      onehot: ``(H, W, K)`` float one-hot ground truth ``R``.
      assoc: ``(H, W, 9)`` soft association (:class:`jaxseg.ops.slic.SSNOutput`).
      candidates: ``(H, W, 9)`` int candidate cell indices.
      num_segments: static number of superpixels ``m`` (grid cells).
      eps: added inside the log.

    Returns:
      Scalar float32 loss.
    """
    r = jnp.asarray(onehot, jnp.float32)
    pooled = slic.soft_pool(r, assoc, candidates, num_segments)  # (m, K)
    recon = slic.soft_unpool(pooled, assoc, candidates)  # (H, W, K)
    ce = -jnp.sum(r * jnp.log(recon + eps), axis=-1)  # (H, W)
    return jnp.sum(ce) / jnp.maximum(jnp.sum(r), 1.0)


def compactness_loss(
    positions: ArrayLike,
    assoc: ArrayLike,
    candidates: ArrayLike,
    labels: ArrayLike,
    *,
    num_segments: int,
) -> jax.Array:
    r"""SSN compactness loss: ``mean_p ||x_p - c_{H_p}||^2``.

    ``c = Qtilde^T x`` are the soft-pooled superpixel positions and ``H_p`` the
    hard label of pixel ``p``; gradients flow through the soft association.

    Args:
      positions: ``(H, W, 2)`` float pixel positions, in the scaled units of the
        SSN features (the first two channels of :func:`jaxseg.ops.slic.xylab_features`).
      assoc: ``(H, W, 9)`` soft association.
      candidates: ``(H, W, 9)`` int candidate cell indices.
      labels: ``(H, W)`` int hard labels in ``[0, num_segments)``.
      num_segments: static number of superpixels ``m``.

    Returns:
      Scalar float32 loss.
    """
    x = jnp.asarray(positions, jnp.float32)
    centres = slic.soft_pool(x, assoc, candidates, num_segments)  # (m, 2)
    recon = jnp.take(centres, jnp.asarray(labels), axis=0, mode="clip")  # (H, W, 2)
    return jnp.mean(jnp.sum((x - recon) ** 2, axis=-1))
