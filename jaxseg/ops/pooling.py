"""Superpixel pooling, unpooling, region adjacency and pair similarity (JAX).

Everything here has fixed output shapes, so it runs under ``jax.jit``,
``jax.vmap`` and ``jax.grad``. The shape-fixing arguments (``num_segments``,
``max_pairs``, ``num_classes``) are static Python ints: under ``jit`` pass them
through ``static_argnames`` or close over them.

Conventions (see ``docs/DESIGN.md``): a label image is ``(H, W)`` integer with
superpixel labels in ``[0, m)``; region features are ``(m, C)``. Labels outside
``[0, m)`` are dropped by the scatter operations (``jax.ops.segment_sum``
semantics); range checks on values cannot run under ``jit`` and are the
caller's job.

The similarity of two adjacent superpixels is wang2020 eq. 6,
``s_ij = 2 / (1 + exp(||v_i - v_j||_1))``, in ``(0, 1]`` and 1 for identical
features. Written as ``2 * sigmoid(-d)`` it never overflows; the pair loss
(wang2020 eq. 7) needs ``log s`` and ``log(1 - s)``, which
:func:`log_similarity` and :func:`log1m_similarity` compute from the distance
``d`` without forming ``s`` (``log s = log 2 - softplus(d)`` and
``1 - s = tanh(d / 2)``).

Example:
  >>> import jax.numpy as jnp
  >>> labels = jnp.array([[0, 0, 1], [2, 2, 1]])
  >>> feats = jnp.arange(6.0).reshape(2, 3, 1)
  >>> segment_mean(feats, labels, 3)[:, 0].tolist()
  [0.5, 3.5, 3.5]
  >>> pairs, valid = adjacent_pairs(labels, 3, max_pairs=4)
  >>> pairs[valid].tolist()
  [[0, 1], [0, 2], [1, 2]]
"""

from __future__ import annotations

import math
import operator

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "MAX_ADJACENCY_SEGMENTS",
    "adjacency",
    "adjacent_pairs",
    "log1m_similarity",
    "log_similarity",
    "pair_distance",
    "pair_similarity",
    "segment_counts",
    "segment_majority",
    "segment_mean",
    "similarity_from_distance",
    "unpool",
]


def _static_int(value, name: str, *, minimum: int = 1) -> int:
    """Checks that a shape-fixing argument is a static Python int >= minimum."""
    if isinstance(value, bool | jax.Array) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"{name} must be a static Python int (it fixes an output shape), got "
            f"{type(value).__name__} {value!r}; pass an int, and mark it static under jax.jit "
            f"(static_argnames=['{name}'])."
        )
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def _check_labels(labels: jax.Array, name: str = "labels") -> None:
    if labels.ndim != 2:
        raise ValueError(f"{name} must be a (H, W) label image, got shape {labels.shape}.")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"{name} must have an integer dtype, got {labels.dtype}; "
            "cast it with .astype(jnp.int32)."
        )


def segment_counts(labels: ArrayLike, num_segments: int) -> jax.Array:
    """Number of pixels of each superpixel.

    Args:
      labels: ``(H, W)`` int label image, labels in ``[0, num_segments)``.
      num_segments: static number of superpixels ``m``.

    Returns:
      ``(m,)`` float32 pixel counts (0 for empty labels).
    """
    labels = jnp.asarray(labels)
    _check_labels(labels)
    m = _static_int(num_segments, "num_segments")
    ones = jnp.ones(labels.size, jnp.float32)
    return jax.ops.segment_sum(ones, labels.reshape(-1), num_segments=m)


def segment_mean(features: ArrayLike, labels: ArrayLike, num_segments: int) -> jax.Array:
    """Superpixel mean pooling (wang2020 eq. 5): ``v_i = mean_{p in S_i} F_p``.

    Args:
      features: ``(H, W, C)`` float pixel features.
      labels: ``(H, W)`` int label image, labels in ``[0, num_segments)``.
      num_segments: static number of superpixels ``m``.

    Returns:
      ``(m, C)`` region features in the dtype of ``features``; empty segments
      give 0. Differentiable with respect to ``features``.
    """
    features = jnp.asarray(features)
    labels = jnp.asarray(labels)
    _check_labels(labels)
    if features.ndim != 3 or features.shape[:2] != labels.shape:
        raise ValueError(
            f"features must be (H, W, C) with (H, W) = labels.shape {labels.shape}, "
            f"got shape {features.shape}."
        )
    m = _static_int(num_segments, "num_segments")
    flat = features.reshape(-1, features.shape[-1])  # (H*W, C)
    seg = labels.reshape(-1)
    sums = jax.ops.segment_sum(flat, seg, num_segments=m)  # (m, C)
    counts = jax.ops.segment_sum(jnp.ones(seg.shape, flat.dtype), seg, num_segments=m)
    return sums / jnp.maximum(counts, 1)[:, None]


def unpool(region_features: ArrayLike, labels: ArrayLike) -> jax.Array:
    """Broadcasts region features back to the pixels: ``out[p] = v[labels[p]]``.

    Args:
      region_features: ``(m, C)`` region features.
      labels: ``(H, W)`` int label image, labels in ``[0, m)`` (out-of-range
        labels are clamped, ``jnp.take`` semantics).

    Returns:
      ``(H, W, C)`` array with the dtype of ``region_features``.
    """
    region_features = jnp.asarray(region_features)
    labels = jnp.asarray(labels)
    _check_labels(labels)
    if region_features.ndim != 2:
        raise ValueError(f"region_features must be (m, C), got shape {region_features.shape}.")
    return jnp.take(region_features, labels, axis=0, mode="clip")


def _neighbour_label_pairs(labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Labels on both sides of every horizontal and vertical 4-neighbour pixel edge."""
    a = jnp.concatenate([labels[:, :-1].reshape(-1), labels[:-1, :].reshape(-1)])
    b = jnp.concatenate([labels[:, 1:].reshape(-1), labels[1:, :].reshape(-1)])
    return a, b


# adjacent_pairs marks pairs in a dense m x m table while m^2 is at most this
# many times the number of pixel edges, and sorts the edges above (measured on
# CPU: the table is 10-50x faster for few superpixels, the sort for many).
_DENSE_PAIRS_PER_EDGE = 8
# m x m matrices above this many superpixels are refused (m^2 > 2^31 - 1 elements,
# 2 GiB of bools): build the adjacency as pairs with `adjacent_pairs` instead.
MAX_ADJACENCY_SEGMENTS = 46340


def adjacency(labels: ArrayLike, num_segments: int) -> jax.Array:
    """Region adjacency matrix of a label image (4-neighbour pixel pairs).

    Superpixels ``i != j`` are adjacent when some pair of 4-neighbouring pixels
    carries labels ``i`` and ``j``. Labels outside ``[0, m)`` make no pairs.

    The result is dense: memory is O(m^2), 400 MB per matrix at ``m = 20000``.
    For many superpixels use :func:`adjacent_pairs`, whose memory is O(pixels).

    Args:
      labels: ``(H, W)`` int label image, labels in ``[0, num_segments)``.
      num_segments: static number of superpixels ``m``, at most
        ``MAX_ADJACENCY_SEGMENTS`` (46340).

    Returns:
      ``(m, m)`` bool, symmetric, False on the diagonal.

    Raises:
      ValueError: for ``num_segments > MAX_ADJACENCY_SEGMENTS``.
    """
    labels = jnp.asarray(labels)
    _check_labels(labels)
    m = _static_int(num_segments, "num_segments")
    if m > MAX_ADJACENCY_SEGMENTS:
        raise ValueError(
            f"adjacency: num_segments={m} would build a {m} x {m} matrix (over 2^31 "
            f"elements); the limit is {MAX_ADJACENCY_SEGMENTS}. Use "
            "adjacent_pairs(labels, num_segments, max_pairs=...), whose memory is O(pixels)."
        )
    a, _ = _neighbour_label_pairs(labels)
    pairs, valid = adjacent_pairs(labels, m, max_pairs=max(a.shape[0], 1))
    upper = jnp.zeros((m, m), bool).at[pairs[:, 0], pairs[:, 1]].max(valid)
    return upper | upper.T


def adjacent_pairs(
    labels: ArrayLike, num_segments: int, *, max_pairs: int
) -> tuple[jax.Array, jax.Array]:
    """Fixed-size list of adjacent superpixel pairs ``(i, j)`` with ``i < j``.

    Computed from the pixels, from the labels ``(lo, hi)`` on both sides of
    every 4-neighbour pixel edge whose labels differ. With few superpixels
    (``m^2`` at most 8 times the number of edges) the pairs are marked in a
    flat ``m^2`` table; with more, the ``(lo, hi)`` pairs are sorted (one
    `jax.lax.sort` with two keys) and the first of each run is kept. The
    result is the same; memory is O(pixels) whatever ``num_segments``, so any
    ``m`` up to the pixel count works (no ``m x m`` matrix, no index overflow).

    Args:
      labels: ``(H, W)`` int label image, labels in ``[0, num_segments)``
        (labels outside the range make no pairs).
      num_segments: static number of superpixels ``m``.
      max_pairs: static length ``P`` of the returned list. Pairs come sorted by
        ``(i, j)``, i.e. in row-major order of the upper triangle of
        :func:`adjacency`; when there are more than ``P`` adjacent pairs the
        rest are dropped (this cannot be reported under ``jit``; compare
        ``valid.sum()`` with ``P`` on the host). For connected superpixels the
        region graph is planar, so ``P = 3 * m`` always suffices; SSN's hard
        labels can be fragmented, so leave some room above that. ``P`` never
        needs to exceed the number of pixel edges, ``H (W - 1) + (H - 1) W``.

    Returns:
      ``pairs``: ``(P, 2)`` int32, ``pairs[k, 0] < pairs[k, 1]`` for valid rows;
      padding rows are ``(0, 0)``.
      ``valid``: ``(P,) bool``, True for the real pairs (a prefix of the list).
    """
    labels = jnp.asarray(labels)
    _check_labels(labels)
    m = _static_int(num_segments, "num_segments")
    p = _static_int(max_pairs, "max_pairs")
    a, b = _neighbour_label_pairs(labels.astype(jnp.int32))  # (E,) each
    if a.shape[0] == 0:  # a single pixel row and column: no edges
        return jnp.zeros((p, 2), jnp.int32), jnp.zeros((p,), bool)
    lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
    keep = (lo != hi) & (lo >= 0) & (hi < m)
    if m * m <= min(_DENSE_PAIRS_PER_EDGE * a.shape[0], np.iinfo(np.int32).max):
        # Few superpixels: mark the pairs in a flat m x m table (no overflow:
        # m^2 fits int32) and list the marks in row-major order. Bounded by
        # the pixels too, and several times faster than the sort at these sizes.
        flat = jnp.where(keep, lo * m + hi, m * m)
        seen = jnp.zeros(m * m, bool).at[flat].set(True, mode="drop")  # (m^2,)
        (index,) = jnp.nonzero(seen, size=p, fill_value=0)  # (P,)
        valid = jnp.arange(p) < jnp.sum(seen)
        pairs = jnp.stack([index // m, index % m], axis=-1)  # (P, 2)
    else:
        # Edges that make no pair sort last, as (m, m).
        lo, hi = jax.lax.sort((jnp.where(keep, lo, m), jnp.where(keep, hi, m)), num_keys=2)
        first = jnp.concatenate([jnp.ones(1, bool), (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])])
        first = first & (lo < m)  # (E,) the first edge of each distinct pair
        (index,) = jnp.nonzero(first, size=p, fill_value=0)  # (P,)
        valid = jnp.arange(p) < jnp.sum(first)
        pairs = jnp.stack([lo[index], hi[index]], axis=-1)  # (P, 2)
    return jnp.where(valid[:, None], pairs, 0).astype(jnp.int32), valid


def _check_pairs(region_features: jax.Array, pairs: jax.Array) -> None:
    if region_features.ndim != 2:
        raise ValueError(f"region_features must be (m, C), got shape {region_features.shape}.")
    if pairs.ndim != 2 or pairs.shape[-1] != 2:
        raise ValueError(f"pairs must be (P, 2), got shape {pairs.shape}.")
    if not jnp.issubdtype(pairs.dtype, jnp.integer):
        raise TypeError(f"pairs must have an integer dtype, got {pairs.dtype}.")


def pair_distance(region_features: ArrayLike, pairs: ArrayLike) -> jax.Array:
    """L1 distance ``d_ij = ||v_i - v_j||_1`` of each pair.

    Args:
      region_features: ``(m, C)`` float region features ``v``.
      pairs: ``(P, 2)`` int pairs of region indices.

    Returns:
      ``(P,)`` float distances (dtype of ``region_features``).
    """
    region_features = jnp.asarray(region_features)
    pairs = jnp.asarray(pairs)
    _check_pairs(region_features, pairs)
    vi = jnp.take(region_features, pairs[:, 0], axis=0, mode="clip")  # (P, C)
    vj = jnp.take(region_features, pairs[:, 1], axis=0, mode="clip")
    return jnp.sum(jnp.abs(vi - vj), axis=-1)


def similarity_from_distance(distance: ArrayLike) -> jax.Array:
    """``s = 2 / (1 + exp(d))`` computed as ``2 * sigmoid(-d)`` (no overflow).

    Args:
      distance: ``(...)`` non-negative float distances ``d``.

    Returns:
      ``(...)`` similarities in ``(0, 1]``; ``s(0) = 1``.
    """
    return 2.0 * jax.nn.sigmoid(-jnp.asarray(distance))


def pair_similarity(region_features: ArrayLike, pairs: ArrayLike) -> jax.Array:
    """Similarity of superpixel pairs (wang2020 eq. 6).

    ``s_ij = 2 / (1 + exp(||v_i - v_j||_1))``, in ``(0, 1]``, 1 when the two
    feature vectors are identical. Stable for any distance.

    Args:
      region_features: ``(m, C)`` float region features ``v``
        (e.g. :func:`segment_mean` of the segmentation head).
      pairs: ``(P, 2)`` int pairs (e.g. from :func:`adjacent_pairs`; the
        padding rows ``(0, 0)`` give ``s = 1``, mask them with ``valid``).

    Returns:
      ``(P,)`` float similarities.
    """
    return similarity_from_distance(pair_distance(region_features, pairs))


def log_similarity(distance: ArrayLike, *, eps: float = 1e-6) -> jax.Array:
    """``log s`` for ``s = 2 / (1 + exp(d))``, clipped below at ``log(eps)``.

    Computed as ``-log1p(expm1(d) / 2)`` for ``d < 1`` and ``log 2 - softplus(d)``
    above (no overflow, no cancellation; gradient ``-sigmoid(d)`` in ``[-1, 0]``).
    The clip at ``s >= eps`` is the "clip s away from 0" of the pair loss
    (METHOD.md A3); it bounds the loss of a very dissimilar positive pair
    at ``-log(eps)`` (and zeroes its gradient).

    Args:
      distance: ``(...)`` non-negative float distances ``d``.
      eps: lower clip of ``s``, in ``(0, 1)``; ``0`` disables the clip.

    Returns:
      ``(...)`` float, ``<= 0``.
    """
    if not 0.0 <= eps < 1.0:
        raise ValueError(f"eps must be in [0, 1), got {eps}.")
    d = jnp.asarray(distance)
    # log 2 - softplus(d) cancels for small d; -log1p(expm1(d) / 2) is exact there.
    small = jnp.minimum(d, 1.0)
    out = jnp.where(d < 1.0, -jnp.log1p(0.5 * jnp.expm1(small)), math.log(2.0) - jax.nn.softplus(d))
    if eps > 0:
        out = jnp.maximum(out, math.log(eps))
    return out


def log1m_similarity(distance: ArrayLike, *, eps: float = 1e-6) -> jax.Array:
    """``log(1 - s)`` for ``s = 2 / (1 + exp(d))``, with ``s`` clipped to ``<= 1 - eps``.

    ``1 - s = tanh(d / 2)``, so ``log(1 - s) = log(1 - exp(-d)) - softplus(-d)``,
    which is accurate for small and large ``d``. At ``d = 0`` it is ``-inf``
    with an infinite gradient, so the distance is clipped below at
    ``2 * artanh(eps)`` (where ``1 - s = eps``), i.e. ``s`` is clipped away from 1
    as the pair loss requires (METHOD.md A3).

    Args:
      distance: ``(...)`` non-negative float distances ``d``.
      eps: in ``(0, 1)``; the result is ``>= log(eps)``.

    Returns:
      ``(...)`` float, ``<= 0``.
    """
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must be in (0, 1) (log(1 - s) is -inf at s = 1), got {eps}.")
    d = jnp.maximum(jnp.asarray(distance), 2.0 * math.atanh(eps))
    # log(1 - exp(-d)) by the usual two-branch log1mexp (accurate for small and large d).
    log1mexp = jnp.where(
        d < math.log(2.0),
        jnp.log(-jnp.expm1(-jnp.minimum(d, math.log(2.0)))),
        jnp.log1p(-jnp.exp(-jnp.maximum(d, math.log(2.0)))),
    )
    return log1mexp - jax.nn.softplus(-d)


def segment_majority(
    labels: ArrayLike, gt: ArrayLike, num_segments: int, num_classes: int
) -> jax.Array:
    """Majority ground-truth segment of each superpixel (for the pair labels ``l_ij``).

    Args:
      labels: ``(H, W)`` int superpixel labels in ``[0, num_segments)``.
      gt: ``(H, W)`` int ground-truth labels in ``[0, num_classes)`` (pixels
        outside the range, e.g. ``-1`` padding, are ignored).
      num_segments: static number of superpixels ``m``.
      num_classes: static number of ground-truth labels ``K``.

    Returns:
      ``(m,)`` int32 majority label (ties go to the smallest label; empty
      superpixels get 0). Not differentiable.
    """
    labels = jnp.asarray(labels)
    gt = jnp.asarray(gt)
    _check_labels(labels)
    _check_labels(gt, "gt")
    if gt.shape != labels.shape:
        raise ValueError(f"gt shape {gt.shape} differs from labels shape {labels.shape}.")
    m = _static_int(num_segments, "num_segments")
    k = _static_int(num_classes, "num_classes")
    seg = labels.reshape(-1).astype(jnp.int32)
    g = gt.reshape(-1).astype(jnp.int32)
    ok = (g >= 0) & (g < k) & (seg >= 0) & (seg < m)
    flat = jnp.where(ok, seg * k + g, m * k)
    hist = jax.ops.segment_sum(ok.astype(jnp.int32), flat, num_segments=m * k)  # (m*K,)
    return jnp.argmax(hist.reshape(m, k), axis=-1).astype(jnp.int32)
