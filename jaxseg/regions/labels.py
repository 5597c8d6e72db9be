"""Statistics and renumbering of label images (host NumPy): the one home of each.

* :func:`region_means`: mean of per-pixel values over each label (bincount).
* :func:`majority_label`: for each label of one image, the label of another covering most
  of its pixels (features follow a connectivity relabelling).
* :func:`upsample_labels`: nearest-neighbour resize of a label image (pixel centres).
* :func:`raster_order`: renumber labels ``0..k-1`` in the order of their first pixel.

Example:
  >>> labels = np.array([[0, 0, 1], [2, 1, 1]])
  >>> region_means(labels, np.array([[1.0, 3.0, 5.0], [7.0, 5.0, 8.0]]))
  array([[2.],
         [6.],
         [7.]])
  >>> raster_order(np.array([[4, 4, 2], [0, 2, 2]]))
  array([[0, 0, 1],
         [2, 1, 1]], dtype=int32)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "check_labels",
    "majority_label",
    "overlap_table",
    "raster_order",
    "region_means",
    "upsample_labels",
]


def check_labels(labels: ArrayLike, name: str, *, nonnegative: bool = True) -> np.ndarray:
    """Checks a label image: THE check of the label functions of :mod:`jaxseg.regions`.

    Args:
      labels: the value passed.
      name: the function (or argument) named in the error messages.
      nonnegative: also require labels ``>= 0``.

    Returns:
      ``labels`` as an array (same dtype).

    Raises:
      ValueError: not 2-D, empty, or (``nonnegative``) a negative label.
      TypeError: not an integer dtype.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(
            f"{name} expects a 2-D label image (H, W); got shape {labels.shape}. "
            "Pass one image at a time."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"{name} expects integer labels; got dtype {labels.dtype}. "
            "Round and cast them first, e.g. labels.astype(np.int32)."
        )
    if labels.size == 0:
        raise ValueError(f"{name} got an empty label image of shape {labels.shape}.")
    if nonnegative and labels.min() < 0:
        raise ValueError(
            f"{name} expects labels >= 0, got minimum {labels.min()}; renumber them with "
            "jaxseg.regions.connectivity.relabel_sequential."
        )
    return labels


def region_means(labels: ArrayLike, values: ArrayLike, num: int | None = None) -> np.ndarray:
    """Mean of ``values`` over the pixels of each label ``0..num-1`` (bincount).

    Args:
      labels: ``(H, W)`` int labels ``>= 0``.
      values: ``(H, W, C)`` or ``(H, W)`` per-pixel values.
      num: number of rows (labels ``0..num-1``); default ``labels.max() + 1``. Labels
        without pixels get a zero row.

    Returns:
      ``(num, C)`` float64 (``C = 1`` for ``(H, W)`` values).

    Raises:
      ValueError: shapes that do not match, or ``num`` below the largest label + 1.
    """
    labels = check_labels(labels, "region_means")
    values = np.asarray(values, np.float64)
    if values.ndim not in (2, 3) or values.shape[:2] != labels.shape:
        raise ValueError(
            f"region_means: values must be (H, W) or (H, W, C) with (H, W) = {labels.shape} "
            f"(the labels' shape), got {values.shape}."
        )
    if values.ndim == 2:
        values = values[..., None]
    top = int(labels.max()) + 1
    num = top if num is None else int(num)
    if num < top:
        raise ValueError(
            f"region_means: num={num} is below the largest label + 1 = {top}; "
            "pass num=None or a larger count."
        )
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=num).astype(np.float64)
    vals = values.reshape(-1, values.shape[-1])
    sums = np.stack(
        [np.bincount(flat, weights=vals[:, c], minlength=num) for c in range(vals.shape[1])],
        axis=1,
    ).reshape(num, vals.shape[1])
    return sums / np.maximum(counts, 1.0)[:, None]


def overlap_table(a: np.ndarray, b: np.ndarray, *, compact: bool = False) -> np.ndarray:
    """``n[i, j]`` = number of pixels with ``a == i`` and ``b == j``: THE overlap
    (contingency) table of the region metrics, the superpixel metrics and
    :func:`majority_label`.

    Args:
      a, b: int label arrays ``>= 0`` of one shape (not checked: callers check).
      compact: count over the labels present only (rows and columns in increasing label
        order, none empty) instead of ``0..max``.

    Returns:
      ``(max a + 1, max b + 1)`` int64 table, or ``(#labels of a, #labels of b)`` when
      ``compact``.
    """
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if compact:
        a = np.unique(a, return_inverse=True)[1].ravel()
        b = np.unique(b, return_inverse=True)[1].ravel()
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    return np.bincount(a.astype(np.int64) * nb + b, minlength=na * nb).reshape(na, nb)


def majority_label(connected: ArrayLike, raw: ArrayLike) -> np.ndarray:
    """For each label of ``connected``, the label of ``raw`` covering most of its pixels.

    Features of ``raw`` labels follow a relabelling (e.g. by
    :func:`jaxseg.regions.connectivity.enforce_connectivity`) as
    ``rows[majority_label(connected, raw)]``. Ties go to the smallest ``raw`` label.

    Args:
      connected: ``(H, W)`` int labels ``0..k-1``.
      raw: ``(H, W)`` int labels ``>= 0`` of the same shape.

    Returns:
      ``(k,)`` int64.
    """
    connected = check_labels(connected, "majority_label")
    raw = check_labels(raw, "majority_label")
    if raw.shape != connected.shape:
        raise ValueError(
            f"majority_label: raw has shape {raw.shape} but connected has {connected.shape}; "
            "pass two label images of one image."
        )
    return np.argmax(overlap_table(connected, raw), axis=1)


def upsample_labels(labels: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image ``(h, w)`` to ``shape`` (pixel centres).

    Output pixel ``(r, c)`` takes the label under its centre, ``labels[floor((r + 0.5) h /
    H), floor((c + 0.5) w / W)]``; works for down-sizing too. The same array is returned
    when the shape already matches.

    Args:
      labels: ``(h, w)`` label image (any dtype).
      shape: ``(H, W)`` output size, both >= 1.

    Returns:
      ``(H, W)`` array of ``labels``' dtype.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0:
        raise ValueError(
            f"upsample_labels: labels must be a non-empty (h, w) image, got shape {labels.shape}."
        )
    height, width = (int(s) for s in shape)
    if height < 1 or width < 1:
        raise ValueError(f"upsample_labels: shape must be two sizes >= 1, got {tuple(shape)}.")
    h, w = labels.shape
    if (h, w) == (height, width):
        return labels
    rows = np.minimum(((np.arange(height) + 0.5) * h / height).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * w / width).astype(np.int64), w - 1)
    return labels[rows[:, None], cols[None, :]]


def raster_order(labels: ArrayLike) -> np.ndarray:
    """Renumber labels ``0..k-1`` in the order of their first pixel (row-major).

    Args:
      labels: ``(H, W)`` int label image (any values).

    Returns:
      ``(H, W) int32`` with the same partition; the label of pixel ``(0, 0)`` becomes 0.
    """
    labels = check_labels(labels, "raster_order", nonnegative=False)
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int32)
    rank[np.argsort(first)] = np.arange(len(first), dtype=np.int32)
    return rank[inverse.ravel()].reshape(labels.shape)
