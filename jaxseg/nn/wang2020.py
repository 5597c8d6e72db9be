"""Inference of the wang2020 network (METHOD.md part A): superpixels and pair similarities.

:func:`predict` runs, for one image, the network (:mod:`jaxseg.nn.models`), SSN
clustering (:func:`jaxseg.ops.slic.ssn`) on ``[head-1 features, scaled XYLab]``
(:func:`clustering_features`), pools the head-2 features over the hard superpixels and
returns the similarity ``s_ij`` (eq. 6) of every adjacent superpixel pair. Training
(:mod:`jaxseg.train.tasks.wang2020`) uses the same clustering features and pair list
length (:func:`max_pairs_for`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import ArrayLike

from jaxseg.nn import models
from jaxseg.ops import pooling, slic

__all__ = [
    "Prediction",
    "check_counts",
    "clustering_features",
    "max_pairs_for",
    "predict",
    "predict_from_features",
]


def max_pairs_for(num_segments: int) -> int:
    """Static pair-list length for ``m`` superpixels (room above the planar ``3m``)."""
    return 6 * num_segments + 16


def clustering_features(
    image, spix, n_segments: int, *, pos_scale, color_scale
) -> tuple[jax.Array, jax.Array]:
    """SSN input of one image and its XYLab part.

    Args:
      image: ``(H, W, 3)`` float RGB in ``[0, 1]``.
      spix: ``(H, W, Cs)`` head-1 features of ``image``.
      n_segments: requested superpixels (sets the position scale).
      pos_scale, color_scale: the XYLab scales (the model's ``pos_scale`` and
        ``color_scale``; may be traced).

    Returns:
      ``[spix, scaled XYLab]`` ``(H, W, Cs + 5)`` and the scaled XYLab ``(H, W, 5)``.
    """
    xylab = slic.xylab_features(
        image, n_segments=n_segments, pos_scale=pos_scale, color_scale=color_scale
    )
    return jnp.concatenate([spix, xylab], axis=-1), xylab


class Prediction(NamedTuple):
    """Output of :func:`predict` for one image (``m`` grid cells, ``P`` pair slots).

    Attributes:
      labels: ``(H, W) int32`` hard superpixels in ``[0, m)`` (not made connected).
      pairs: ``(P, 2) int32`` adjacent superpixel pairs, ``i < j``.
      valid: ``(P,) bool`` real pairs (a prefix).
      similarity: ``(P,) float32`` ``s_ij`` (eq. 6) of the head-2 features.
      region_features: ``(m, C) float32`` head-2 features pooled on ``labels``.
    """

    labels: jax.Array
    pairs: jax.Array
    valid: jax.Array
    similarity: jax.Array
    region_features: jax.Array


def predict_from_features(
    image, spix, seg, *, n_segments: int, num_iters: int, pos_scale, color_scale
) -> Prediction:
    """:func:`predict` after the network: SSN superpixels, pooled head-2 features, pairs.

    Traced code (``jax.vmap`` it over scales for an evaluation sweep).

    Args:
      image: ``(H, W, 3)`` float RGB in ``[0, 1]``.
      spix: ``(H, W, Cs)`` head-1 features; seg: ``(H, W, C)`` head-2 features.
      n_segments, num_iters: static, as for :func:`predict`.
      pos_scale, color_scale: XYLab scales (:func:`clustering_features`).

    Returns:
      :class:`Prediction`.
    """
    f, _ = clustering_features(
        image, spix, n_segments, pos_scale=pos_scale, color_scale=color_scale
    )
    out = slic.ssn(f, n_segments=n_segments, num_iters=num_iters)
    m = out.centres.shape[0]
    region = pooling.segment_mean(seg, out.labels, m)
    pairs, valid = pooling.adjacent_pairs(out.labels, m, max_pairs=max_pairs_for(m))
    sim = pooling.pair_similarity(region, pairs)
    return Prediction(out.labels.astype(jnp.int32), pairs, valid, sim, region)


@functools.partial(jax.jit, static_argnames=("graphdef", "n_segments", "num_iters"))
def _predict(graphdef, state, image, *, n_segments, num_iters):
    model = nnx.merge(graphdef, state)
    feats = model(image[None])
    return predict_from_features(
        image,
        feats.spix[0],
        feats.seg[0],
        n_segments=n_segments,
        num_iters=num_iters,
        pos_scale=model.pos_scale,
        color_scale=model.color_scale,
    )


def check_counts(n_segments, num_iters) -> None:
    """Checks the static ``n_segments`` (>= 1) and ``num_iters`` (>= 0) of a prediction."""
    if not isinstance(n_segments, int | np.integer) or n_segments < 1:
        raise ValueError(f"n_segments={n_segments!r} must be a positive int")
    if not isinstance(num_iters, int | np.integer) or num_iters < 0:
        raise ValueError(f"num_iters={num_iters!r} must be a non-negative int")


def predict(
    model: models.SuperpixelSegNet,
    image: ArrayLike,
    *,
    n_segments: int = 100,
    num_iters: int = 10,
) -> Prediction:
    """Superpixels and pair similarities of one image with a trained model.

    Args:
      model: the network (put it in eval mode: ``model.eval()``; models from
        :func:`jaxseg.train.checkpointing.restore_model` already are).
      image: ``(H, W, 3)`` RGB, float in ``[0, 1]`` or ``uint8`` (any size).
      n_segments: requested superpixels (static; the grid has ``m ~ n_segments``
        cells, at most one per pixel: larger values are clamped to ``H * W``).
        Memory is O(pixels) for any ``n_segments``.
      num_iters: SSN iterations (static; 10 at test time).

    The XYLab scales are the model's (``model.pos_scale``, ``model.color_scale``,
    set from the training config).

    Returns:
      :class:`Prediction`.

    Raises:
      ValueError: ``image`` is not ``(H, W, 3)``, is empty, holds NaN/inf or float
        values outside ``[0, 1]``; or ``n_segments``/``num_iters`` are bad.
      TypeError: ``image`` is neither float nor ``uint8``.
    """
    if np.ndim(image) != 3 or np.shape(image)[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) float in [0, 1], got shape {np.shape(image)}")
    image = slic.as_float_rgb(image)  # dtype, NaN/inf and range (uint8 / 255)
    check_counts(n_segments, num_iters)
    graphdef, state = nnx.split(model)
    return _predict(
        graphdef,
        state,
        image,
        n_segments=int(n_segments),
        num_iters=int(num_iters),
    )
