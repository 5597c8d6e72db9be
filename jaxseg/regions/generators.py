"""Superpixel generators behind one interface (lin2021 stage 2 input, Tables II and IV).

``generate(name, image, *, n_segments=None, **native)`` returns a connected
label image ``(H, W) int32`` with labels ``0..k-1`` for one of:

* ``"slic"``: jaxseg's SLIC (:func:`jaxseg.ops.slic`); ``n_segments`` is SLIC's
  own grid size (native ``compactness``, by default the metric's, ``num_iters`` and
  ``metric``, ``"l2"`` by default here: skimage's distance, with which the DSC tables on
  SLIC superpixels were made).
* ``"felzenszwalb"``: EGB (Felzenszwalb & Huttenlocher 2004) via
  :func:`skimage.segmentation.felzenszwalb` (native ``scale``, ``sigma``,
  ``min_size``; ``min_size_frac`` f raises ``min_size`` to ``f H W / n_segments``,
  so coarse targets are not met by one giant region plus specks). With
  ``n_segments`` the ``scale`` is found by bisection in
  log-space (the region count falls as ``scale`` grows) until the count is
  within ``tol`` (relative) of the target, else the closest count seen; an
  excess left above ``(1 + tol) * n_segments`` is pruned by
  :func:`merge_regions` (smallest region into its most similar neighbour).
* ``"meanshift"``: Comaniciu-Meer mean-shift segmentation, EDISON-style:
  joint spatial-range mean-shift filtering (OpenCV ``pyrMeanShiftFiltering``
  on 8-bit CIELAB, native ``spatial_radius`` hs and ``range_radius`` hr),
  fusion of 4-neighbours whose filtered colours differ by less than
  ``fuse_ratio * hr`` into connected regions, then pruning: regions smaller
  than ``min_size`` pixels are merged into their most similar neighbour (mean
  colour of the input). With ``n_segments`` the pruning continues, smallest
  region first, until ``n_segments`` regions remain (the rule that maps a
  target count onto EDISON's minimum-region parameter).

Every output is passed through :func:`jaxseg.regions.connectivity.enforce_connectivity`
(4-connectivity), so each label is one connected component.

Example:
  >>> import numpy as np
  >>> img = np.zeros((40, 60, 3), np.float32); img[:, 30:] = 1.0
  >>> lab = generate("meanshift", img, n_segments=2)
  >>> int(lab.max()) + 1
  2
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from jaxseg.regions.labels import region_means
from jaxseg.regions.merge import agglomerate

__all__ = [
    "GENERATORS",
    "bisect_count",
    "generate",
    "generate_counts",
    "merge_regions",
    "merge_regions_counts",
]

GENERATORS = ("slic", "felzenszwalb", "meanshift")


def _check_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {img.shape}.")
    if np.issubdtype(img.dtype, np.integer):
        img = img.astype(np.float32) / 255.0
    img = img.astype(np.float32)
    if img.size and (img.min() < -1e-3 or img.max() > 1.0 + 1e-3):
        raise ValueError(
            f"float image values must lie in [0, 1], got [{img.min():.3g}, {img.max():.3g}]; "
            "divide uint8 images by 255."
        )
    return np.clip(img, 0.0, 1.0)


def _connected(labels: np.ndarray, min_size: int = 1) -> np.ndarray:
    from jaxseg.regions.connectivity import enforce_connectivity

    return np.asarray(enforce_connectivity(labels, min_size=min_size), np.int32)


def merge_regions(
    labels: np.ndarray,
    features: np.ndarray,
    *,
    n_segments: int | None = None,
    min_size: int = 0,
) -> np.ndarray:
    """Greedy region pruning: merges the smallest region into its closest neighbour.

    Regions are popped smallest first; a region is merged into the adjacent
    region with the nearest mean feature (Euclidean) while it is smaller than
    ``min_size`` or more than ``n_segments`` regions remain
    (:func:`jaxseg.regions.merge.agglomerate`, ``order="smallest_region"``). Merged
    regions are unions of adjacent regions, so connected inputs stay connected.

    Args:
      labels: ``(H, W)`` int labels (any values).
      features: ``(H, W, C)`` float pixel features (e.g. colour).
      n_segments: stop once this many regions remain (None: no count target).
      min_size: keep merging regions smaller than this many pixels.

    Returns:
      ``(H, W) int32`` labels ``0..k-1`` (numbered by the smallest input label of each
      region).
    """
    return merge_regions_counts(labels, features, [n_segments], min_size=min_size)[0]


def merge_regions_counts(
    labels: np.ndarray, features: np.ndarray, counts, *, min_size: int = 0
) -> list[np.ndarray]:
    """:func:`merge_regions` at each of ``counts`` (ints or None), from one merge sequence.

    The pruning for a larger count is a prefix of the one for a smaller count: regions are
    popped in order of size, popped sizes never decrease and the region count never grows,
    so the run for count ``t`` stops just before the first merge whose count before it is
    at most ``t`` and whose merged region has at least ``min_size`` pixels. One run to the
    smallest count, its merged regions' sizes replayed, gives every count's labels, equal
    to separate :func:`merge_regions` calls.
    """
    labels = np.asarray(labels)
    _, inv = np.unique(labels, return_inverse=True)
    lab = inv.reshape(labels.shape).astype(np.int64)
    num = int(lab.max()) + 1
    targets = [num if n is None else max(1, int(n)) for n in counts]
    agg = agglomerate(
        lab,
        region_means(lab, features),
        order="smallest_region",
        distance="squared",
        target=min(targets),
        min_size=min_size,
    )
    sizes = np.bincount(lab.ravel(), minlength=num).astype(np.float64)
    present = int(np.count_nonzero(sizes))
    merged_size = np.empty(len(agg.merges))  # the popped (absorbed) region's size
    for k, (absorbed, survivor) in enumerate(agg.merges.tolist()):
        merged_size[k] = sizes[absorbed]
        sizes[survivor] += sizes[absorbed]
    before = present - np.arange(len(merged_size))  # region count before each merge
    out = []
    for t in targets:
        stop = (before <= t) & (merged_size >= min_size)
        steps = int(np.argmax(stop)) if stop.any() else len(merged_size)
        out.append(agg.partition(present - steps))
    return out


def bisect_count(run, target, lo, hi, *, more_when_larger, iters, tol=0.0) -> np.ndarray:
    """Log-space bisection of a parameter ``p`` of ``run(p) -> labels`` toward ``target`` regions.

    Args:
      run: makes a label image ``0..k-1`` for one parameter value.
      target: wanted region count.
      lo, hi: positive parameter bracket.
      more_when_larger: whether the region count grows with the parameter.
      iters: at most this many calls of ``run``.
      tol: stop once ``|k - target| / target <= tol`` (0: only on the exact count).

    Returns:
      the label image whose count was closest to ``target`` (the first one on ties).
    """
    lo, hi = math.log(lo), math.log(hi)
    best, best_err = None, math.inf
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lab = run(math.exp(mid))
        k = int(lab.max()) + 1
        err = abs(k - target) / target
        if err < best_err:
            best, best_err = lab, err
        if err <= tol:
            break
        if (k < target) == more_when_larger:
            lo = mid
        else:
            hi = mid
    return best


def _slic(img, n_segments, *, compactness=None, num_iters=10, metric="l2", **kw):
    # metric "l2" (skimage's distance): the one the DSC tables on SLIC superpixels used.
    from jaxseg.ops.slic import slic

    n = 100 if n_segments is None else int(n_segments)
    lab = slic(
        img,
        n_segments=n,
        compactness=compactness,
        num_iters=num_iters,
        metric=metric,
        enforce_connectivity=True,
        **kw,
    )
    return _connected(np.asarray(lab))


def _felzenszwalb(
    img,
    n_segments,
    *,
    scale=None,
    sigma=0.8,
    min_size=20,
    min_size_frac=None,
    tol=0.1,
    max_search=10,
):
    from skimage.segmentation import felzenszwalb

    if min_size_frac is not None:
        if n_segments is None or not min_size_frac > 0:
            raise ValueError("min_size_frac needs n_segments and must be > 0.")
        h, w = img.shape[:2]
        min_size = max(int(min_size), round(min_size_frac * h * w / n_segments))

    def run(s):
        return _connected(felzenszwalb(img, scale=float(s), sigma=sigma, min_size=min_size))

    if n_segments is None:
        return run(100.0 if scale is None else scale)
    if scale is not None:
        raise ValueError("pass either n_segments or scale to felzenszwalb, not both.")
    # larger scale -> fewer regions
    best = bisect_count(
        run, n_segments, 1e-1, 1e4, more_when_larger=False, iters=max_search, tol=tol
    )
    if int(best.max()) + 1 > (1 + tol) * n_segments:
        # The count can jump past the target as scale grows; prune the excess.
        best = _connected(merge_regions(best, img, n_segments=n_segments))
    return best


def _meanshift_counts(
    img,
    counts,
    *,
    spatial_radius=7,
    range_radius=6.5,
    min_size=20,
    fuse_ratio=0.5,
    max_level=1,
):
    import cv2

    u8 = np.round(img * 255.0).astype(np.uint8)
    lab8 = cv2.cvtColor(u8, cv2.COLOR_RGB2Lab)
    filt = cv2.pyrMeanShiftFiltering(
        lab8, sp=float(spatial_radius), sr=float(range_radius), maxLevel=int(max_level)
    ).astype(np.float32)
    h, w = filt.shape[:2]
    idx = np.arange(h * w).reshape(h, w)
    tol = fuse_ratio * float(range_radius)
    rows, cols = [], []
    for a, b, fa, fb in (
        (idx[:, :-1], idx[:, 1:], filt[:, :-1], filt[:, 1:]),
        (idx[:-1, :], idx[1:, :], filt[:-1, :], filt[1:, :]),
    ):
        close = np.linalg.norm(fa - fb, axis=-1) < tol
        rows.append(a[close])
        cols.append(b[close])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = sparse.coo_matrix((np.ones(r.size, np.int8), (r, c)), shape=(h * w, h * w))
    _, comp = csgraph.connected_components(graph, directed=False)
    labs = merge_regions_counts(
        comp.reshape(h, w), lab8.astype(np.float32), counts, min_size=min_size
    )
    return [_connected(lab) for lab in labs]


# One count per call; or all counts in one call, sharing the work between them (mean-shift:
# the filtering, and one merge sequence read at every count).
_IMPLS = {"slic": _slic, "felzenszwalb": _felzenszwalb}
_COUNTS_IMPLS = {"meanshift": _meanshift_counts}


def generate(name: str, image, *, n_segments: int | None = None, **native) -> np.ndarray:
    """Superpixels of ``image`` by the generator ``name``.

    Args:
      name: one of ``GENERATORS`` (``"slic"``, ``"felzenszwalb"``, ``"meanshift"``).
      image: ``(H, W, 3)`` RGB, float in ``[0, 1]`` or uint8.
      n_segments: target number of regions, mapped onto the native parameters
        by the rule of each generator (module docstring); None uses the native
        parameters only.
      **native: the generator's own parameters (see module docstring).

    Returns:
      ``(H, W) int32`` labels ``0..k-1``, each label one 4-connected component.

    Raises:
      ValueError: unknown ``name``, bad image shape/range or ``n_segments < 1``.
      TypeError: an unknown native parameter.
    """
    return generate_counts(name, image, [n_segments], **native)[0]


def generate_counts(name: str, image, counts, **native) -> list[np.ndarray]:
    """:func:`generate` at each of ``counts``: the same labels as one call per count, with
    the work that does not depend on the count done once (mean-shift: the filtering and
    one pruning sequence, :func:`merge_regions_counts`; about 4x faster for 4 counts).

    Args:
      name, image, native: as for :func:`generate`.
      counts: sequence of ``n_segments`` values (ints >= 1 or None).

    Returns:
      one ``(H, W) int32`` label image per count, in the order of ``counts``.
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose one of {GENERATORS}.")
    if isinstance(counts, str | int | np.integer) or not len(counts := list(counts)):
        raise ValueError(
            f"counts={counts!r}: expected a non-empty sequence of region counts, e.g. "
            "[100, 50, 20, 10]."
        )
    for n_segments in counts:
        if n_segments is not None and (
            isinstance(n_segments, bool) or not isinstance(n_segments, int | np.integer)
        ):
            raise TypeError(f"n_segments must be an int or None, got {n_segments!r}.")
        if n_segments is not None and n_segments < 1:
            raise ValueError(f"n_segments must be >= 1, got {n_segments}.")
    img = _check_image(image)
    try:
        if name in _COUNTS_IMPLS:
            return _COUNTS_IMPLS[name](img, counts, **native)
        return [_IMPLS[name](img, n, **native) for n in counts]
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise TypeError(
                f"generator {name!r} got an unknown native parameter ({e}); see the "
                "jaxseg.regions.generators module docstring for its parameters."
            ) from e
        raise
