"""Deterministic training batches from an in-memory BSDS500 (host side).

:func:`make_batch` is a pure function of ``(seed, step)``: the samples of step
``t`` are positions ``t*B .. t*B+B-1`` of an endless stream made of one random
permutation per epoch (``np.random.default_rng([seed, epoch])``), and the crop
and flip keys are ``fold_in(fold_in(key(seed), step), b)``. So training that
resumes at step ``t`` sees exactly the batches it would have seen.

The ground-truth labels of each crop are renumbered ``0..k-1`` by decreasing
segment size with a fixed maximum ``max_gt_segments`` (default 128), so the
pair loss can use a fixed-size one-hot encoding. Pixels of segments beyond the
maximum (the smallest ones) get label ``-1`` ("ignore"; ``jax.nn.one_hot``
gives them an all-zero row). On BSDS500 train + val, 8165 random 201x201 crops
held at most 92 segments (99.9th percentile 70; a whole image at most 208), so
128 truncates essentially never.
"""

from __future__ import annotations

import functools
import operator

import jax
import numpy as np

from jaxseg.data.augment import random_crop, random_flip
from jaxseg.data.bsds500 import BSDS500

__all__ = ["MAX_GT_SEGMENTS", "make_batch", "relabel_by_size", "sample_indices"]

MAX_GT_SEGMENTS = 128


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return operator.index(value)


def sample_indices(num_samples: int, *, seed: int, step: int, batch_size: int) -> np.ndarray:
    """Indices of the samples of a training step.

    Position ``q = step * batch_size + b`` of the stream is sample
    ``perm_e[q mod num_samples]`` with ``e = q // num_samples`` and ``perm_e =
    np.random.default_rng([seed, e]).permutation(num_samples)``: every epoch
    visits every sample once.

    Args:
      num_samples: dataset size ``N``.
      seed: non-negative int.
      step: non-negative int, the training step.
      batch_size: ``B``.

    Returns:
      ``(B,) int64`` sample indices in ``[0, N)``.
    """
    n = _positive_int(num_samples, "num_samples")
    b = _positive_int(batch_size, "batch_size")
    if step < 0 or seed < 0:
        raise ValueError(f"seed and step must be >= 0, got seed={seed}, step={step}.")
    pos = step * b + np.arange(b)
    epochs = pos // n
    out = np.empty(b, np.int64)
    for epoch in np.unique(epochs):
        perm = np.random.default_rng([seed, int(epoch)]).permutation(n)
        sel = epochs == epoch
        out[sel] = perm[pos[sel] % n]
    return out


def relabel_by_size(seg: np.ndarray, *, max_segments: int) -> tuple[np.ndarray, int]:
    """Renumbers labels ``0..k-1`` by decreasing pixel count (ties: smaller label first).

    Args:
      seg: ``(H, W)`` integer labels (any values).
      max_segments: keep at most this many segments; the pixels of the smaller
        ones get ``-1``.

    Returns:
      ``(labels (H, W) int32 in [-1, max_segments), k)`` with ``k`` the number of
      segments kept (``<= max_segments``).
    """
    m = _positive_int(max_segments, "max_segments")
    values, inverse, counts = np.unique(seg, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")  # (n_unique,) largest first
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    new = np.where(rank < m, rank, -1).astype(np.int32)
    return new[inverse.reshape(seg.shape)], min(len(values), m)


@functools.partial(jax.jit, static_argnames=("size", "flip"))
def _augment(key, image, seg, *, size, flip):
    flip_key, crop_key = jax.random.split(key)
    if flip:
        image, seg = random_flip(flip_key, image, seg)
    return random_crop(crop_key, image, seg, size=size)


def make_batch(
    dataset: BSDS500,
    *,
    seed: int,
    step: int,
    batch_size: int = 1,
    crop_size: int = 201,
    max_gt_segments: int = MAX_GT_SEGMENTS,
    flip: bool = True,
    rows: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """The training batch of a step: random flip + crop of (image, annotator) samples.

    A pure function of ``(seed, step)`` (and the dataset): see the module
    docstring. Images are cropped first at full size, so crops never leave the
    image.

    Args:
      dataset: in-memory BSDS500 (:func:`jaxseg.data.load_bsds500`).
      seed: non-negative int.
      step: non-negative int.
      batch_size: ``B``.
      crop_size: ``s``, square crop (201 in wang2020).
      max_gt_segments: ``K``, the fixed number of ground-truth labels (see the
        module docstring).
      flip: random horizontal flips.
      rows: ``(start, stop)``: make only rows ``[start, stop)`` of the batch (one
        host's share; the same rows as in the whole batch). Default: all.

    Returns:
      ``image``: ``(B, s, s, 3) float32`` in ``[0, 1]``;
      ``segmentation``: ``(B, s, s) int32`` in ``[-1, K)``, consecutive by size;
      ``num_gt_segments``: ``(B,) int32`` labels used in each crop;
      ``sample_index``: ``(B,) int32`` index into ``dataset.samples``.
    """
    if len(dataset) == 0:
        raise ValueError("dataset holds no samples.")
    s = _positive_int(crop_size, "crop_size")
    k = _positive_int(max_gt_segments, "max_gt_segments")
    idx = sample_indices(len(dataset), seed=seed, step=step, batch_size=batch_size)
    start, stop = (0, len(idx)) if rows is None else rows
    if not 0 <= start < stop <= len(idx):
        raise ValueError(f"rows={rows!r} must satisfy 0 <= start < stop <= {len(idx)}.")
    idx = idx[start:stop]
    base = jax.random.fold_in(jax.random.key(seed), step)
    images, segs, counts = [], [], []
    for b, i in enumerate(idx, start=start):
        image, seg = dataset.sample(int(i))
        if min(image.shape[:2]) < s:
            raise ValueError(
                f"crop_size {s} is larger than image {dataset.ids[dataset.samples[i][0]]} "
                f"of size {image.shape[:2]}; use a smaller crop_size."
            )
        image, seg = jax.device_get(
            _augment(jax.random.fold_in(base, b), image, seg, size=s, flip=flip)
        )
        labels, count = relabel_by_size(np.asarray(seg), max_segments=k)
        images.append(np.asarray(image, np.float32) / 255.0)
        segs.append(labels)
        counts.append(count)
    return {
        "image": np.stack(images).astype(np.float32),
        "segmentation": np.stack(segs),
        "num_gt_segments": np.asarray(counts, np.int32),
        "sample_index": idx.astype(np.int32),
    }
