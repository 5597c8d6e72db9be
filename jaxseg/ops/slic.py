"""SLIC and differentiable SLIC (SSN) clustering on a regular grid, in JAX.

One core serves both entry points:

* `ssn` -- the differentiable superpixel module of SSN / wang2020 (soft
  association, METHOD.md A1), for learned features;
* `slic` -- classic SLIC on XYLab features with hard assignment, returning a
  label image like `skimage.segmentation.slic`.

Grid. ``m = gh * gw`` cells (`grid_shape`); rows are split into ``gh`` bands of
nearly equal height (``floor(H/gh)`` or ``ceil(H/gh)`` rows) and columns into
``gw`` bands, so any image size works. Every pixel is compared only with the
centres of the 3x3 cells around its own cell (out-of-grid cells masked): 9
candidates per pixel, O(9n) memory, never an ``n x m`` matrix.

Layout. Internally pixels are stored cell-major, ``(C, gh, gw, P)`` with
``P = ch * cw``, ``ch = ceil(H/gh)``, ``cw = ceil(W/gw)`` (short bands padded and
masked). The 9 candidate centres of a cell are then 9 shifted views of the
padded ``(C, gh+2, gw+2)`` centre grid, so the association is one dense fused
elementwise pass (no gathers). Centre update, whichever measured faster on CPU:
for soft weights (`ssn`) a per-cell matrix product followed by 9 shifted adds
of the zero-padded grid (several times faster than `jax.ops.segment_sum` over
the 9n pairs, forward and backward); for hard labels (`slic`) one scatter add
of the pixel rows (about 5x faster than the dense form, which multiplies by 9
one-hot weights).

SLIC's hard path (`_slic_labels`, `_cluster_hard`) has its own distance by default
(``metric="l1"``: Manhattan, CIELAB ``L`` weighted by `L1_LIGHTNESS`; ``"l2"`` is
`ssn`'s squared Euclidean distance, skimage's), and differs from `ssn`'s in three more
ways, for speed on CPU (``benchmarks/slic_speed.py``): each cell's slots are
laid out as 3 interleaved subsamples, ``(3, gh, gw, P / 3)``, and each update
assigns and pools one of them in turn (as fast_slic's ``subsample_stride``);
the colour conversion is its own (`_lab_planes`: a table, a Newton cube root
and matrix products); the argmin tracks the winning cell index directly.

CPU notes (XLA, measured): XLA drops `jax.lax.optimization_barrier` before
fusing, so what must be computed once is made an operand of the `lax.scan`
(loop-invariant features, the scatter rows, one array per subsample), a matrix
product (the colour maps) or a loop output (the assignments, which are the
labels); fused, these were re-evaluated in every consumer. Subsample indices
are static: a dynamic slice inside a fusion measured ~5x slower.

Candidate order: ``k = 3 * (dy + 1) + (dx + 1)`` for the cell offset
``(dy, dx)`` in ``{-1, 0, 1}^2``, i.e. row-major over the 3x3 neighbourhood;
``k = 4`` is the pixel's own cell.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxseg.ops.color import _XYZN_FROM_RGB, rgb_to_lab
from jaxseg.regions import connectivity as _connectivity

__all__ = [
    "SSNOutput",
    "DEFAULT_COMPACTNESS",
    "L1_LIGHTNESS",
    "METRICS",
    "MIN_SIZE_FACTOR",
    "as_float_rgb",
    "connect_superpixels",
    "grid_shape",
    "slic",
    "slic_batch",
    "soft_pool",
    "soft_unpool",
    "ssn",
    "xylab_features",
]

_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
# Clusters whose (soft) pixel mass is at most this are treated as empty.
_MIN_MASS = 1e-6
# Up to this many feature channels, distances are computed as explicit differences.
_DIRECT_MAX_CHANNELS = 8
MIN_SIZE_FACTOR = 0.25
"""`slic`'s default ``min_size_factor``: connected pieces smaller than this
fraction of a grid cell are absorbed (fast_slic's default too). With 0.5 a
quarter of the requested superpixels were lost on BSDS500, at a lower
boundary recall for the same count (``benchmarks/slic_speed.py``)."""
# SLIC's hard iterations each assign and pool one of this many interleaved
# subsamples of every cell (as fast_slic's subsample_stride); the last
# assignment covers every pixel.
_SLIC_STRIDE = 3
METRICS = ("l1", "l2")
"""`slic`'s distances: ``"l1"`` (the default; Manhattan, lightness weighted by
:data:`L1_LIGHTNESS`) or ``"l2"`` (skimage's squared Euclidean distance in XYLab)."""
L1_LIGHTNESS = 0.25
"""Weight of CIELAB ``L`` against ``a`` and ``b`` in `slic`'s ``"l1"`` distance, chosen
with :data:`DEFAULT_COMPACTNESS` on BSDS500 val (images 20-59, n 100 / 300 / 600: the
highest boundary recall minus undersegmentation error, averaged over n, among L weights
0.15 / 0.25 / 0.35 and compactness 3 / 4 / 6; 0.25 with 4 tied with 0.15 with 3 to 3e-5
and was kept for the larger weight of ``L``, a grey image's only channel; docs/slic.md)."""
DEFAULT_COMPACTNESS = {"l1": 4.0, "l2": 10.0}
"""`slic`'s compactness when none is given, per metric (``"l2"``: skimage's default)."""


class SSNOutput(NamedTuple):
    """Result of `ssn`.

    Attributes:
      assoc: ``(H, W, 9) float32`` soft association of each pixel with its 9
        candidate cells (softmax; rows sum to 1; out-of-grid candidates are 0).
      centres: ``(m, C) float32`` superpixel centres, ``m = gh * gw`` (row-major
        over the grid).
      labels: ``(H, W) int32`` hard labels in ``[0, m)`` (argmax of `assoc`).
      candidates: ``(H, W, 9) int32`` cell index of each candidate (out-of-grid
        ones clamped to a valid index; their `assoc` is 0).
    """

    assoc: jax.Array
    centres: jax.Array
    labels: jax.Array
    candidates: jax.Array


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"{name} must be a Python int (it fixes array shapes); got {value!r} "
            f"({type(value).__name__})."
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def grid_shape(height: int, width: int, n_segments: int) -> tuple[int, int]:
    """Number of grid rows and columns for about `n_segments` cells.

    The cells follow the image aspect (close to square) and
    ``gh * gw`` is as close to `n_segments` as such a grid allows; the grid never
    has more rows than pixel rows nor more columns than pixel columns.

    Args:
      height: image height ``H`` (>= 1).
      width: image width ``W`` (>= 1).
      n_segments: requested number of superpixels (>= 1).

    Returns:
      ``(gh, gw)`` static Python ints with ``1 <= gh <= H``, ``1 <= gw <= W``.

    Raises:
      TypeError: if an argument is not an int.
      ValueError: if an argument is < 1.

    Example:
      >>> grid_shape(321, 481, 600)
      (20, 30)
    """
    height = _check_int(height, "height", 1)
    width = _check_int(width, "width", 1)
    n_segments = _check_int(n_segments, "n_segments", 1)
    target = min(n_segments, height * width)
    ideal_h = math.sqrt(target * height / width)
    ideal_w = math.sqrt(target * width / height)
    options = set()
    for gh in (math.floor(ideal_h), math.ceil(ideal_h)):
        gh = min(max(gh, 1), height)
        options.add((gh, min(max(round(target / gh), 1), width)))
    for gw in (math.floor(ideal_w), math.ceil(ideal_w)):
        gw = min(max(gw, 1), width)
        options.add((min(max(round(target / gw), 1), height), gw))

    def key(grid):
        gh, gw = grid
        # Closest count to the target first, then the squarest cells.
        return abs(gh * gw - target), abs(math.log((height / gh) / (width / gw))), grid

    return min(options, key=key)


def _bands(size: int, num: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(size)`` into `num` nearly equal bands.

    Returns ``index (num, c)`` (pixel of each padded slot, clamped), ``valid
    (num, c)``, ``band (size,)`` and ``offset (size,)`` of each pixel, where
    ``c = ceil(size / num)``.
    """
    starts = (np.arange(num + 1) * size) // num  # (num + 1,)
    c = -(-size // num)
    index = starts[:-1, None] + np.arange(c)[None, :]  # (num, c)
    valid = index < starts[1:, None]
    index = np.minimum(index, starts[1:, None] - 1)
    band = np.searchsorted(starts, np.arange(size), side="right") - 1  # (size,)
    offset = np.arange(size) - starts[band]
    return index, valid, band, offset


class _Grid(NamedTuple):
    """Static (NumPy) description of the cell-major layout ``(gh, gw, P)``, ``P = ch * cw``."""

    gh: int
    gw: int
    gather: np.ndarray  # (gh * gw * P,) flat image index of each cell slot (clamped)
    mask: np.ndarray  # (gh, gw, P) float32 (1: pixel, 0: padding); (s, gh, gw, P / s) with a stride
    slot: np.ndarray  # (H * W,) flat cell slot of each image pixel
    cell: np.ndarray  # (H, W) grid cell of each pixel
    cand_valid: np.ndarray  # (9, gh, gw) bool
    cand_index: np.ndarray  # (9, gh, gw) int32, clamped


@functools.lru_cache(maxsize=64)
def _grid(height: int, width: int, gh: int, gw: int, stride: int = 1) -> _Grid:
    """The cell-major layout of a ``gh x gw`` grid: ``(gh, gw, P)`` slots.

    With ``stride = s > 1`` (SLIC's hard path) each cell's ``P`` slots are padded
    to a multiple of ``s`` and the layout is ``(s, gh, gw, P / s)``: slot
    ``(r, a, b, j)`` holds pixel ``j * s + r`` (raster order) of cell ``(a, b)``,
    so ``[r]`` is an evenly spread subsample of every cell, contiguous.
    ``stride = 1`` is the plain layout (`ssn`'s).
    """
    ri, rv, rb, ro = _bands(height, gh)  # (gh, ch) x2, (H,) x2
    ci, cv, cb, co = _bands(width, gw)  # (gw, cw) x2, (W,) x2
    ch, cw = ri.shape[1], ci.shape[1]
    p = ch * cw
    q = -(-p // stride)
    # Slot (a, b, h * cw + w) holds pixel (ri[a, h], ci[b, w]).
    gather = (ri[:, None, :, None] * width + ci[None, :, None, :]).reshape(gh, gw, p)
    mask = (rv[:, None, :, None] & cv[None, :, None, :]).reshape(gh, gw, p)
    within = ro[:, None] * cw + co[None, :]  # (H, W) raster slot inside the cell
    cell = rb[:, None] * gw + cb[None, :]  # (H, W)
    slot = cell * p + within
    if stride > 1:
        pad = ((0, 0), (0, 0), (0, q * stride - p))
        gather = np.pad(gather, pad, mode="edge").reshape(gh, gw, q, stride)
        gather = np.moveaxis(gather, 3, 0)
        mask = np.moveaxis(np.pad(mask, pad).reshape(gh, gw, q, stride), 3, 0)
        slot = ((within % stride) * (gh * gw) + cell) * q + within // stride
    a = np.arange(gh)[:, None]
    b = np.arange(gw)[None, :]
    cand_valid, cand_index = [], []
    for dy, dx in _OFFSETS:
        y, x = a + dy, b + dx
        cand_valid.append((y >= 0) & (y < gh) & (x >= 0) & (x < gw))
        cand_index.append(np.clip(y, 0, gh - 1) * gw + np.clip(x, 0, gw - 1))
    return _Grid(
        gh=gh,
        gw=gw,
        gather=gather.reshape(-1),
        mask=mask.astype(np.float32),
        slot=slot.reshape(-1),
        cell=cell,
        cand_valid=np.stack(cand_valid),
        cand_index=np.stack(cand_index).astype(np.int32),
    )


def _to_cells(x: jax.Array, g: _Grid) -> jax.Array:
    """``(H, W, C)`` -> cell-major ``(C, gh, gw, P)`` (padding slots repeat a pixel)."""
    flat = x.reshape(-1, x.shape[-1])  # (H * W, C)
    cells = jnp.take(flat, g.gather, axis=0)  # (gh * gw * P, C)
    return cells.T.reshape(x.shape[-1], *g.mask.shape)


def _from_cells(x: jax.Array, g: _Grid, height: int, width: int) -> jax.Array:
    """Cell-major ``(..., gh, gw, P)`` -> ``(H, W, ...)``."""
    lead = x.shape[:-3]
    flat = x.reshape(*lead, -1)
    out = jnp.take(flat, g.slot, axis=-1).reshape(*lead, height, width)
    return jnp.moveaxis(out, tuple(range(len(lead))), tuple(range(-len(lead), 0)))


def _candidates(centres: jax.Array) -> list[jax.Array]:
    """Centre grid ``(C, gh, gw)`` -> its 9 shifted views, each ``(C, gh, gw)``."""
    _, gh, gw = centres.shape
    padded = jnp.pad(centres, ((0, 0), (1, 1), (1, 1)), mode="edge")
    return [padded[:, 1 + dy : 1 + dy + gh, 1 + dx : 1 + dx + gw] for dy, dx in _OFFSETS]


def _distances(x: jax.Array, centres: jax.Array) -> list[jax.Array]:
    """Squared distances of pixels ``x (C, gh, gw, P)`` to each candidate: 9 x ``(gh, gw, P)``.

    Up to a per-pixel constant: the consumers (softmax over candidates, argmin)
    do not depend on it. Few channels (XYLab): exact, explicit differences summed
    over channels, which XLA fuses into one elementwise loop. Many channels
    (learned features): ``|c|^2 - 2 x.c`` (dropping ``|x|^2``), the cross term
    as a batched matrix product -- much faster forward and backward, with a
    rounding error of about ``1e-7 |x||c|``, far below the distances' scale.
    """
    cands = _candidates(centres)
    if x.shape[0] <= _DIRECT_MAX_CHANNELS:
        return [sum(jnp.square(x[c] - k[c][..., None]) for c in range(x.shape[0])) for k in cands]
    stacked = jnp.stack(cands)  # (9, C, gh, gw)
    cross = jnp.einsum("cabp,kcab->kabp", x, stacked)  # (9, gh, gw, P)
    return list(jnp.sum(jnp.square(stacked), axis=1)[..., None] - 2.0 * cross)


def _distances_l1(x: jax.Array, centres: jax.Array) -> list[jax.Array]:
    """L1 distances of pixels ``x (C, gh, gw, P)`` to each candidate: 9 x ``(gh, gw, P)``
    (SLIC's ``"l1"`` metric; few channels, explicit differences as in `_distances`)."""
    return [
        sum(jnp.abs(x[c] - k[c][..., None]) for c in range(x.shape[0]))
        for k in _candidates(centres)
    ]


def _nearest_cell(dist: list[jax.Array], g: _Grid) -> jax.Array:
    """Grid cell ``(gh, gw, P) int32`` of the nearest valid candidate (first on ties).

    Tracks the cell index itself (``g.cand_index``) rather than the candidate
    number: deriving the cell from the number afterwards takes integer
    division, which measured several times slower than the whole comparison.
    """
    best = dist[4]  # own cell: always valid
    cell = jnp.broadcast_to(jnp.asarray(g.cand_index[4])[..., None], best.shape)
    for k, d in enumerate(dist):
        if k == 4:
            continue
        valid = jnp.asarray(g.cand_valid[k])[..., None]
        better = d < best
        if k < 4:  # keep argmin's first-index tie rule
            better = better | (d == best)
        better = better & valid
        best = jnp.where(better, d, best)
        cell = jnp.where(better, jnp.asarray(g.cand_index[k])[..., None], cell)
    return cell


def _softmax(dist: list[jax.Array], cand_valid: np.ndarray) -> jax.Array:
    """Soft association ``(9, gh, gw, P)``: softmax over valid candidates of ``-dist``.

    Computed over a minor axis: a softmax over the leading candidate axis
    measured 2-3x slower on CPU, forward and backward.
    """
    logits = jnp.where(jnp.asarray(cand_valid)[..., None], -jnp.stack(dist), -jnp.inf)
    return jnp.moveaxis(jax.nn.softmax(jnp.moveaxis(logits, 0, -1), axis=-1), -1, 0)


def _pool(w: jax.Array, xw: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Weighted sums per centre: ``w (9, gh, gw, P)``, ``xw (C + 1, gh, gw, P)``.

    ``xw`` is the (masked) features with a count channel appended: 1 for real
    pixels, 0 for padding slots (built once).

    Returns ``(sums (C, gh, gw), totals (gh, gw))``. Per cell, a small matrix
    product gives the candidate-``k`` sums; cell ``(a, b)`` sends them to centre
    ``(a + dy_k, b + dx_k)``: 9 shifted adds of a zero-padded grid instead of a
    scatter (for soft weights this is several times faster than
    `jax.ops.segment_sum` over the 9n pairs, forward and backward).
    """
    part = jnp.einsum("kabp,cabp->kcab", w, xw)  # (9, C + 1, gh, gw)
    _, _, gh, gw = part.shape
    part = jnp.pad(part, ((0, 0), (0, 0), (1, 1), (1, 1)))
    total = sum(
        part[k, :, 1 - dy : 1 - dy + gh, 1 - dx : 1 - dx + gw]
        for k, (dy, dx) in enumerate(_OFFSETS)
    )
    return total[:-1], total[-1]


def _cluster(x: jax.Array, g: _Grid, num_iters: int):
    """Soft iterations (`ssn`) on cell-major features ``x (C, gh, gw, P) float``.

    Returns ``(assoc (9, gh, gw, P), centres (C, gh, gw))``.
    """
    mask = jnp.asarray(g.mask, x.dtype)
    x = x * mask  # padding slots repeat a border pixel; zero them for the sums
    centres = jnp.sum(x, axis=-1) / jnp.sum(mask, axis=-1)  # (C, gh, gw) cell means
    xw = jnp.concatenate([x, mask[None]])  # (C + 1, gh, gw, P): features and a count

    def assign(centres):
        return _softmax(_distances(x, centres), g.cand_valid)

    def update(carry, _):
        # The assignment is carried through the loop so that XLA materialises it
        # once; computed inside the pooling fusion it is recomputed per candidate
        # (measured several times slower on CPU).
        centres, a = carry
        sums, totals = _pool(a, xw)
        # An empty cluster keeps its centre. "Empty" includes a soft mass that has
        # underflowed to a tiny positive value: dividing by it overflows the
        # backward pass (NaN gradients), so the cut-off is _MIN_MASS, not 0.
        full = totals > _MIN_MASS
        centres = jnp.where(full, sums / jnp.where(full, totals, 1.0), centres)
        return (centres, assign(centres)), None

    (centres, a), _ = jax.lax.scan(update, (centres, assign(centres)), None, length=num_iters)
    return a, centres


def _scatter_rows(rows: jax.Array, index: jax.Array, size: int) -> jax.Array:
    """``out[index[i]] += rows[i]``: ``rows (n, C)``, `index` in ``[0, size)`` (unchecked).

    `jax.ops.segment_sum` adds a unit axis to the rows, for which XLA inserts a
    copy of them (here, once per iteration).
    """
    dnums = jax.lax.ScatterDimensionNumbers(
        update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,)
    )
    return jax.lax.scatter_add(
        jnp.zeros((size, rows.shape[1]), rows.dtype),
        index.reshape(-1, 1),
        rows,
        dnums,
        mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS,
    )


def _cluster_hard(x: jax.Array, g: _Grid, num_iters: int, stride: int, metric: str) -> jax.Array:
    """SLIC's hard iterations on features ``x (C, s, gh, gw, q)`` in `g`'s layout, nearest
    centres by `metric` (``"l1"``: `_distances_l1`; ``"l2"``: `_distances`).

    `g` is laid out with ``s = stride`` (`_grid`). Update ``i`` assigns only
    subsample ``r = i mod s`` of every cell to its nearest candidate centre and
    moves each centre to the mean of its members in that subsample (one scatter
    add of pixel rows; empty clusters keep their centre). The steps run in
    whole cycles over the subsamples, ``ceil(num_iters / s)`` of them (at least
    one), the first ``skip`` assignments without an update (with several cycles
    they are not computed: the next cycle replaces them); every pixel keeps
    the label of its last assignment. ``s = 1`` is classic SLIC (assignment,
    update, ..., final assignment).

    Returns the grid cell ``(s, gh, gw, q) int32`` of every slot's centre
    (padding slots: ``gh * gw``).
    """
    channels, m = x.shape[0], g.gh * g.gw
    mask = jnp.asarray(g.mask).reshape(stride, g.gh, g.gw, -1)
    count = jnp.sum(mask, axis=(0, 3))
    centres = jnp.sum(x * mask, axis=(1, 4)) / count  # (C, gh, gw) cell means
    padding = g.mask.reshape(mask.shape) == 0
    # Pixel-major rows (features and a count of 1) of each subsample, built once,
    # one array each (slices of one array were copied in every iteration); from
    # one transpose of all features (a transpose per subsample measured slower).
    pixel_major = jnp.moveaxis(x, 0, -1)  # (s, gh, gw, q, C)
    ones = jnp.ones((*x.shape[2:], 1), x.dtype)
    rows = [
        jnp.concatenate([pixel_major[r], ones], axis=-1).reshape(-1, channels + 1)
        for r in range(stride)
    ]

    distances = _distances_l1 if metric == "l1" else _distances

    def assign(centres, r: int):  # static subsample: a dynamic index is slow on CPU
        cell = _nearest_cell(distances(x[:, r], centres), g)
        return jnp.where(jnp.asarray(padding[r]), m, cell)  # (gh, gw, q); padding: dummy

    def update(centres, target, r: int):
        sums = _scatter_rows(rows[r], target, m + 1)[:m].T.reshape(channels + 1, g.gh, g.gw)
        full = sums[-1] > 0
        return jnp.where(full, sums[:-1] / jnp.where(full, sums[-1], 1.0), centres)

    cycles = max(1, -(-num_iters // stride))
    skip = cycles * stride - num_iters  # the first `skip` steps update nothing

    def step(centres, target, r: int):
        target = assign(centres, r)
        return update(centres, target, r), target

    def cycle(carry, i):
        # The targets are carried out of the loop (they are the labels). Besides,
        # this keeps XLA from fusing their computation into the scatter, whose
        # flat index shape it then iterates over, indexing every input by
        # division (measured ~3x slower); a step outside the loop measured
        # slower than one inside. With several cycles, work whose result is
        # never used is left out by conditionals: the skipped steps of the first
        # cycle (their assignments are replaced in the next one) and the last
        # update.
        centres, targets = carry
        targets = list(targets)
        for r in range(stride):
            if cycles == 1:  # one cycle: every assignment is a label
                targets[r] = assign(centres, r)
                if r >= skip:
                    centres = update(centres, targets[r], r)
            elif r < skip:
                centres, targets[r] = jax.lax.cond(
                    i > 0, functools.partial(step, r=r), lambda c, t: (c, t), centres, targets[r]
                )
            elif r == stride - 1:
                targets[r] = assign(centres, r)
                centres = jax.lax.cond(
                    i < cycles - 1,
                    functools.partial(update, r=r),
                    lambda c, t: c,
                    centres,
                    targets[r],
                )
            else:
                centres, targets[r] = step(centres, targets[r], r)
        return (centres, tuple(targets)), None

    targets = (jnp.zeros(mask.shape[1:], jnp.int32),) * stride
    (_, targets), _ = jax.lax.scan(cycle, (centres, targets), jnp.arange(cycles))
    return jnp.stack(targets)


def _cell_of(nearest: jax.Array, g: _Grid) -> jax.Array:
    """Nearest candidate ``(gh, gw, P)`` -> its grid cell index ``(gh, gw, P) int32``."""
    a = jnp.arange(g.gh, dtype=jnp.int32).reshape(g.gh, 1, 1)
    b = jnp.arange(g.gw, dtype=jnp.int32).reshape(1, g.gw, 1)
    return (a + nearest // 3 - 1) * g.gw + (b + nearest % 3 - 1)


def _labels_from_nearest(nearest: jax.Array, g: _Grid, height: int, width: int) -> jax.Array:
    """Nearest candidate ``(gh, gw, P)`` -> ``(H, W) int32`` cell labels."""
    return _from_cells(_cell_of(nearest, g), g, height, width)


def _check_image_like(x: jax.Array, name: str, channels: int | None = None) -> None:
    if x.ndim != 3:
        raise ValueError(f"{name} must have shape (H, W, C); got shape {x.shape}.")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {x.shape}); give at least one pixel.")
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(f"{name} must have {channels} channels; got shape {x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{name} must be floating point; got dtype {x.dtype}.")


def ssn(
    features: ArrayLike,
    *,
    n_segments: int,
    num_iters: int,
) -> SSNOutput:
    """Differentiable SLIC (the SSN clustering module, METHOD.md A1).

    Centres start as the mean feature of each grid cell; each iteration computes
    the soft association ``Q_pk = softmax_k(-||F_p - C_k||^2)`` over the 9
    candidate cells of the pixel and the column-normalised centre update
    ``C_i = sum_p Q_pi F_p / sum_p Q_pi``. After `num_iters` updates the
    association with the final centres is returned, with its argmax as hard
    labels. Pure: jit/vmap/grad-compatible (gradients flow through the
    iterations, as in SSN); memory is O(9 n C).

    Args:
      features: ``(H, W, C)`` float pixel features, e.g. CNN features concatenated
        with `xylab_features` (the position channels are what keeps superpixels
        local).
      n_segments: requested number of superpixels; the grid has
        ``m = gh * gw`` cells, ``(gh, gw) = grid_shape(H, W, n_segments)``.
      num_iters: number of centre updates (static; 5 in training, 10 at test
        time in SSN).

    Returns:
      `SSNOutput` with ``assoc (H, W, 9)``, ``centres (m, C)``, ``labels (H, W)``
      and ``candidates (H, W, 9)``.

    Raises:
      ValueError / TypeError: for a non-3-D, empty, channel-less or non-float
        `features`, NaN/inf values, or non-int / < 1 `n_segments` (``num_iters``
        may be 0). The NaN/inf check needs concrete values: under an outer
        `jit`/`vmap`/`grad` it is skipped (the shape and dtype checks still run),
        and NaN features then give NaN `assoc` (`labels` stay in ``[0, m)``).

    Example:
      >>> import jax.numpy as jnp
      >>> image = jnp.zeros((20, 30, 3)).at[:, 15:].set(1.0)
      >>> out = ssn(xylab_features(image, n_segments=6), n_segments=6, num_iters=5)
      >>> out.assoc.shape, out.centres.shape, int(out.labels.max()) + 1
      ((20, 30, 9), (6, 5), 6)
    """
    features = jnp.asarray(features)
    _check_image_like(features, "features")
    if features.shape[-1] < 1:
        raise ValueError(
            f"features has no channels (shape {features.shape}); give at least one, e.g. "
            "xylab_features(image, n_segments=...)."
        )
    _check_finite(features, "features")
    n_segments = _check_int(n_segments, "n_segments", 1)
    num_iters = _check_int(num_iters, "num_iters", 0)
    return _ssn(features, n_segments, num_iters)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _ssn(features: jax.Array, n_segments: int, num_iters: int) -> SSNOutput:
    """Jitted body of `ssn` (inlined when called under an outer `jit`)."""
    height, width, _ = features.shape
    g = _grid(height, width, *grid_shape(height, width, n_segments))
    # float32 unless the caller passes float64 (with jax_enable_x64, e.g. for
    # gradient checks).
    dtype = jnp.promote_types(features.dtype, jnp.float32)
    x = _to_cells(features.astype(dtype), g)  # (C, gh, gw, P)
    w, centres = _cluster(x, g, num_iters)
    # Out-of-grid candidates are excluded so that the labels stay in [0, m) even
    # when NaN features (unchecked under jit) make `w` NaN: argmax picks a NaN.
    in_grid = jnp.asarray(g.cand_valid)[..., None]  # (9, gh, gw, 1)
    nearest = jnp.argmax(jnp.where(in_grid, w, -1.0), axis=0).astype(jnp.int32)  # (gh, gw, P)
    return SSNOutput(
        assoc=_from_cells(w, g, height, width),
        centres=centres.reshape(centres.shape[0], -1).T,
        labels=_labels_from_nearest(nearest, g, height, width),
        candidates=jnp.asarray(_candidate_image(g)),
    )


def _candidate_image(g: _Grid) -> np.ndarray:
    """``(H, W, 9) int32`` cell index of each pixel's candidates (static)."""
    cand = g.cand_index.reshape(9, -1)[:, g.cell]  # (9, H, W)
    return np.ascontiguousarray(np.moveaxis(cand, 0, -1))


def _check_assoc(assoc: jax.Array, candidates: jax.Array, height: int, width: int) -> None:
    if assoc.shape != (height, width, 9) or candidates.shape != (height, width, 9):
        raise ValueError(
            f"assoc and candidates must have shape (H, W, 9) = {(height, width, 9)}; got "
            f"{assoc.shape} and {candidates.shape}. Pass SSNOutput.assoc and .candidates."
        )
    if not jnp.issubdtype(candidates.dtype, jnp.integer):
        raise TypeError(f"candidates must be integer; got dtype {candidates.dtype}.")


def soft_pool(
    values: ArrayLike, assoc: ArrayLike, candidates: ArrayLike, num_segments: int
) -> jax.Array:
    """Soft superpixel means: ``Qtilde^T values`` with column-normalised ``Q``.

    ``out_i = sum_p Q_pi v_p / sum_p Q_pi`` over the pixels that have ``i`` among
    their candidates -- exactly what the SSN centre update computes. Segments
    with no weight get 0. Uses `jax.ops.segment_sum` over the ``9 n``
    (pixel, candidate) pairs: O(9 n D) memory.

    Args:
      values: ``(H, W, D)`` float pixel values (e.g. one-hot labels ``R``).
      assoc: ``(H, W, 9)`` association (`SSNOutput.assoc`).
      candidates: ``(H, W, 9)`` int candidate indices (`SSNOutput.candidates`).
      num_segments: ``m`` (static int, ``len(SSNOutput.centres)``).

    Returns:
      ``(m, D)`` superpixel values (float32, or float64 for float64 inputs).

    Example:
      >>> import jax.numpy as jnp
      >>> feats = xylab_features(jnp.ones((8, 8, 3)), n_segments=4)
      >>> out = ssn(feats, n_segments=4, num_iters=3)
      >>> soft_pool(feats, out.assoc, out.candidates, 4).shape
      (4, 5)
    """
    values, assoc, candidates = map(jnp.asarray, (values, assoc, candidates))
    _check_image_like(values, "values")
    num_segments = _check_int(num_segments, "num_segments", 1)
    height, width, _ = values.shape
    _check_assoc(assoc, candidates, height, width)
    return _soft_pool(values, assoc, candidates, num_segments)


@functools.partial(jax.jit, static_argnums=3)
def _soft_pool(values, assoc, candidates, num_segments: int) -> jax.Array:
    ids = candidates.reshape(-1)  # (9n,)
    q = assoc.reshape(-1)
    weighted = (assoc[..., :, None] * values[..., None, :]).reshape(-1, values.shape[-1])  # (9n, D)
    sums = jax.ops.segment_sum(weighted, ids, num_segments=num_segments)
    totals = jax.ops.segment_sum(q, ids, num_segments=num_segments)[:, None]
    full = totals > _MIN_MASS
    return jnp.where(full, sums / jnp.where(full, totals, 1.0), 0.0)


def soft_unpool(sp_values: ArrayLike, assoc: ArrayLike, candidates: ArrayLike) -> jax.Array:
    """Spread superpixel values back to pixels: ``Qhat sp_values``.

    ``out_p = sum_k Q_pk sp_values[candidates_pk]`` (``Q`` rows already sum to
    1, so ``Qhat = Q``).

    Args:
      sp_values: ``(m, D)`` float superpixel values.
      assoc: ``(H, W, 9)`` association (`SSNOutput.assoc`).
      candidates: ``(H, W, 9)`` int candidate indices in ``[0, m)``.

    Returns:
      ``(H, W, D)`` pixel values (float32, or float64 for float64 inputs).

    Example:
      >>> import jax.numpy as jnp
      >>> out = ssn(xylab_features(jnp.ones((8, 8, 3)), n_segments=4), n_segments=4, num_iters=1)
      >>> soft_unpool(jnp.ones((4, 2)), out.assoc, out.candidates).shape
      (8, 8, 2)
    """
    sp_values, assoc, candidates = map(jnp.asarray, (sp_values, assoc, candidates))
    if sp_values.ndim != 2:
        raise ValueError(f"sp_values must have shape (m, D); got shape {sp_values.shape}.")
    if assoc.ndim != 3:
        raise ValueError(f"assoc must have shape (H, W, 9); got shape {assoc.shape}.")
    _check_assoc(assoc, candidates, assoc.shape[0], assoc.shape[1])
    return _soft_unpool(sp_values, assoc, candidates)


@jax.jit
def _soft_unpool(sp_values, assoc, candidates) -> jax.Array:
    gathered = jnp.take(sp_values, candidates, axis=0)  # (H, W, 9, D)
    return jnp.sum(assoc[..., None] * gathered, axis=-2)


def xylab_features(
    image: ArrayLike,
    *,
    n_segments: int,
    pos_scale: float = 2.5,
    color_scale: float = 0.26,
) -> jax.Array:
    """Scaled position + CIELAB features ``[s_xy y, s_xy x, s_c L, s_c a, s_c b]``.

    ``s_xy = pos_scale / S`` with ``S = min(H / gh, W / gw)`` the grid step, so
    the position weight grows with ``sqrt(m)`` and compactness does not depend
    on the superpixel count (SSN's convention; its defaults ``pos_scale=2.5``,
    ``color_scale=0.26``). With ``color_scale=1`` and ``pos_scale=compactness``
    the squared distance is ``d_lab^2 + (compactness / S)^2 d_xy^2``, SLIC's.

    Args:
      image: ``(H, W, 3)`` RGB, float in ``[0, 1]`` or ``uint8``.
      n_segments: requested number of superpixels (fixes ``gh, gw``).
      pos_scale: position weight per grid step.
      color_scale: colour weight.

    Returns:
      ``(H, W, 5) float32`` features.

    Raises:
      ValueError: for a shape other than ``(H, W, 3)``, an empty image, NaN/inf
        or float values outside ``[0, 1]``, or a non-finite scale.
      TypeError: for a dtype other than ``uint8`` or float.
      The value checks need concrete arrays: under an outer `jit`/`vmap`/`grad`
      they are skipped (the shape and dtype checks still run).

    Example:
      >>> import jax.numpy as jnp
      >>> xylab_features(jnp.zeros((4, 6, 3)), n_segments=6)[1, 2].tolist()
      [1.25, 2.5, 0.0, 0.0, 0.0]
    """
    image = _as_rgb(image, "image")
    for value, name in ((pos_scale, "pos_scale"), (color_scale, "color_scale")):
        if not _is_tracer(value) and not (np.ndim(value) == 0 and np.isfinite(value)):
            raise ValueError(f"{name} must be a finite number; got {value!r}.")
    height, width, _ = image.shape
    gh, gw = grid_shape(height, width, n_segments)
    s_xy = pos_scale * max(gh / height, gw / width)
    yy = jax.lax.broadcasted_iota(jnp.float32, (height, width, 1), 0)
    xx = jax.lax.broadcasted_iota(jnp.float32, (height, width, 1), 1)
    lab = rgb_to_lab(image)
    scale = jnp.stack([s_xy, s_xy, color_scale, color_scale, color_scale]).astype(jnp.float32)
    # One scale vector after the concatenation: scaling `lab` inside it makes XLA
    # recompute the colour conversion per channel (10x slower on CPU).
    return jnp.concatenate([yy, xx, lab], axis=-1) * scale


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _check_rgb(image, name: str):
    """Dtype and value checks of an RGB image ``(H, W, 3)`` or batch ``(B, H, W, 3)``.

    Returns `image` as ``uint8`` (kept: it goes to the device as bytes and
    `rgb_to_lab` scales it there) or ``float32``; NumPy stays NumPy and a JAX
    array stays on its device. The value checks (NaN/inf, range) need concrete
    values: they are skipped for a tracer (a call under an outer `jit`).
    """
    if image.dtype == np.uint8:
        return image
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(
            f"{name} dtype must be uint8 or floating point in [0, 1]; got {image.dtype}. "
            "Convert it, e.g. image.astype(np.float32) / max_value."
        )
    if not _is_tracer(image):
        _check_finite(image, name, batched=image.ndim == 4)
        xp = np if isinstance(image, np.ndarray) else jnp
        axes = (-3, -2, -1)  # per image, so that the message names the bad one
        lo = np.asarray(xp.min(image, axis=axes)).reshape(-1)
        hi = np.asarray(xp.max(image, axis=axes)).reshape(-1)
        bad = (lo < 0.0) | (hi > 1.0)
        if bad.any():
            i = int(np.argmax(bad))
            which = name if image.ndim == 3 else f"{name}[{i}]"
            raise ValueError(
                f"float {which} values must lie in [0, 1]; got range [{lo[i]:g}, {hi[i]:g}]. "
                "Divide by 255 for 8-bit data, or pass the uint8 array."
            )
    return image.astype(np.float32)


def _check_finite(x, name: str, *, batched: bool = False) -> None:
    """Raises if a concrete array holds NaN/inf, naming the first one; skips tracers.

    Host-side only: under `jit`/`vmap`/`grad` the values are unknown, and the
    jitted cores never branch on them.
    """
    if _is_tracer(x):
        return
    xp = np if isinstance(x, np.ndarray) else jnp
    if bool(xp.all(xp.isfinite(x))):
        return
    values = np.asarray(x)
    bad = np.argwhere(~np.isfinite(values))  # (k, ndim)
    first = tuple(int(i) for i in bad[0])
    where = name
    if batched:  # name the image, then the position inside it
        where, first = f"{name}[{first[0]}]", first[1:]
        bad = bad[bad[:, 0] == bad[0, 0]]
    raise ValueError(
        f"{where} contains NaN or inf values ({len(bad)}; the first, {values[tuple(bad[0])]}, "
        f"at pixel ({first[0]}, {first[1]}), channel {first[2]}); clean or mask them first "
        f"(e.g. np.nan_to_num({name}))."
    )


def _as_rgb(image, name: str):
    """Checks an ``(H, W, 3)`` RGB image (`_check_rgb`); NumPy stays NumPy."""
    if not isinstance(image, jax.Array):
        image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(
            f"{name} must have shape (H, W, 3); got shape {image.shape}. Drop an alpha "
            f"channel with {name}[..., :3]; repeat a grayscale image to 3 channels."
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {image.shape}); give at least one pixel.")
    return _check_rgb(image, name)


def as_float_rgb(image: ArrayLike, *, name: str = "image") -> jax.Array:
    """Checks an RGB image and returns it as ``(H, W, 3) float32`` in ``[0, 1]``.

    The host-side check of the library's image entry points (`xylab_features`,
    ``jaxseg.train.tasks.wang2020.predict``): shape, dtype, NaN/inf and range, with
    errors that name the value and the fix. ``uint8`` is divided by 255.

    Args:
      image: ``(H, W, 3)`` RGB, ``uint8`` or float in ``[0, 1]``.
      name: what the error messages call the image.

    Returns:
      ``(H, W, 3) float32`` jax.Array.

    Raises:
      ValueError: for another shape, an empty image, NaN/inf or float values
        outside ``[0, 1]`` (the value checks are skipped for tracers).
      TypeError: for a dtype other than ``uint8`` or float.

    Example:
      >>> import numpy as np
      >>> as_float_rgb(np.full((1, 1, 3), 255, np.uint8)).tolist()
      [[[1.0, 1.0, 1.0]]]
    """
    image = _as_rgb(image, name)
    if image.dtype == np.uint8:
        return jnp.asarray(image, jnp.float32) / 255.0
    return jnp.asarray(image, jnp.float32)


def _metric_and_compactness(metric, compactness):
    """Checks `metric` and `compactness`; returns the compactness (the metric's default
    for None, :data:`DEFAULT_COMPACTNESS`)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}; got {metric!r}.")
    if compactness is None:
        return DEFAULT_COMPACTNESS[metric]
    if not _is_tracer(compactness) and not (
        np.ndim(compactness) == 0 and np.isfinite(compactness) and compactness > 0
    ):
        raise ValueError(f"compactness must be a finite number > 0; got {compactness!r}.")
    return compactness


# sRGB companding of the 256 uint8 values (rgb_to_lab's curve, in float64).
_SRGB = np.arange(256) / 255.0
_LINEAR_U8 = np.where(_SRGB > 0.04045, ((_SRGB + 0.055) / 1.055) ** 2.4, _SRGB / 12.92).astype(
    np.float32
)


# (L, a, b) = _LAB_FROM_F @ (fx, fy, fz) + (-16, 0, 0).
_LAB_FROM_F = np.array([[0, 116, 0], [500, -500, 0], [0, 200, -200]], np.float32)


def _cbrt(t: jax.Array) -> jax.Array:
    """Cube root of positive float32 ``t``: a bit-level first guess and 3 Newton steps.

    Relative error below 1e-7 on ``[0.008, 2]``; several times faster on CPU than
    ``exp(log(t) / 3)``.
    """
    guess = jax.lax.bitcast_convert_type(t, jnp.int32) // 3 + 709921077
    y = jax.lax.bitcast_convert_type(guess, jnp.float32)
    for _ in range(3):
        y = y - (y * y * y - t) / (3.0 * y * y)
    return y


def _lab_planes(rgb: jax.Array, lightness: float = 1.0) -> jax.Array:
    """sRGB planes ``(3, N)`` (uint8, or float in ``[0, 1]``) -> CIELAB planes ``(3, N)``.

    `rgb_to_lab`'s formulas (D65, its constants) for SLIC's hard path: uint8
    companding is a 256-entry table, the cube root `_cbrt`, and the two linear
    maps (RGB -> XYZ, f(XYZ) -> Lab) are matrix products: XLA computes those
    once into buffers, while elementwise it re-evaluated the cube roots in
    every consumer (measured several times slower on CPU). Agrees with `rgb_to_lab` to about
    1e-4 (tests/ops/test_slic.py); not for gradients (`ssn` uses `rgb_to_lab`
    through `xylab_features`). ``lightness`` scales ``L`` (inside the last matrix product).
    """
    if rgb.dtype == jnp.uint8:
        linear = jnp.asarray(_LINEAR_U8)[rgb.astype(jnp.int32)]
    else:
        high = rgb > 0.04045
        safe = jnp.where(high, rgb, 1.0)
        linear = jnp.where(high, jnp.exp(2.4 * jnp.log((safe + 0.055) / 1.055)), rgb / 12.92)
    hi = jax.lax.Precision.HIGHEST
    t = jnp.dot(jnp.asarray(_XYZN_FROM_RGB), linear, precision=hi)  # (3, N) XYZ / white
    cube = t > 0.008856
    f = jnp.where(cube, _cbrt(jnp.where(cube, t, 1.0)), 7.787 * t + 16.0 / 116.0)
    scale = np.array([lightness, 1.0, 1.0], np.float32)[:, None]
    lab = jnp.dot(jnp.asarray(_LAB_FROM_F * scale), f, precision=hi)
    return lab + np.array([-16.0, 0.0, 0.0], np.float32)[:, None] * scale


@functools.partial(jax.jit, static_argnames=("n_segments", "num_iters", "stride", "metric"))
def _slic_labels(
    image: jax.Array,
    compactness: jax.Array,
    n_segments: int,
    num_iters: int,
    stride: int = _SLIC_STRIDE,
    metric: str = "l2",
):
    """Jitted device part of `slic`: ``(H, W, 3)`` uint8 or float32 image -> ``(H, W) int32``."""
    height, width, _ = image.shape
    g = _grid(height, width, *grid_shape(height, width, n_segments), stride)
    s_xy = compactness * max(g.gh / height, g.gw / width)  # compactness / S
    # Gather the RGB values into the cell layout first, from colour planes (from
    # pixel rows it measured twice slower), and convert there.
    rgb = jnp.take(image.reshape(-1, 3).T, g.gather, axis=1)  # (3, N) slots
    yx = s_xy * np.stack(np.divmod(g.gather, width)).astype(np.float32)  # (2, N)
    lab = _lab_planes(rgb, L1_LIGHTNESS if metric == "l1" else 1.0)
    x = jnp.concatenate([yx, lab]).reshape(5, stride, g.gh, g.gw, -1)
    cells = _cluster_hard(x, g, num_iters, stride, metric)  # (s, gh, gw, q)
    return jnp.take(cells.reshape(-1), g.slot).reshape(height, width)


def connect_superpixels(
    labels: ArrayLike, *, n_segments: int, min_size_factor: float = MIN_SIZE_FACTOR
) -> np.ndarray:
    """The host step of `slic`: make raw SLIC labels connected, absorbing small pieces.

    Every 4-connected piece becomes a superpixel; pieces smaller than
    ``min_size_factor * H * W / m`` pixels (``m = gh * gw`` grid cells for
    `n_segments`, `grid_shape`) join their largest neighbour
    (`jaxseg.regions.connectivity.enforce_connectivity`). Use it on the output
    of `slic_batch`; `slic` calls it.

    Args:
      labels: ``(H, W)`` integer labels, e.g. ``slic_batch(...)[i]``.
      n_segments: the `n_segments` the labels were computed with.
      min_size_factor: smallest piece kept, as a fraction of a grid cell (>= 0).

    Returns:
      ``(H, W) int32`` labels ``0..k-1``, each one 4-connected region.

    Raises:
      ValueError: for `min_size_factor` < 0 or NaN, or labels that are not a
        non-empty 2-D integer array.

    Example:
      >>> raw = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 1, 0]])
      >>> connect_superpixels(raw, n_segments=2, min_size_factor=0.5)
      array([[0, 0, 1, 1],
             [0, 1, 1, 1],
             [0, 0, 1, 1]], dtype=int32)
    """
    if not (np.isfinite(min_size_factor) and min_size_factor >= 0):
        raise ValueError(f"min_size_factor must be >= 0; got {min_size_factor!r}.")
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (H, W); got shape {labels.shape}.")
    height, width = labels.shape
    gh, gw = grid_shape(height, width, _check_int(n_segments, "n_segments", 1))
    min_size = int(min_size_factor * height * width / (gh * gw))
    return _connectivity.enforce_connectivity(labels, min_size=min_size)


def slic(
    image: ArrayLike,
    *,
    n_segments: int = 100,
    compactness: float | None = None,
    num_iters: int = 10,
    enforce_connectivity: bool = True,
    min_size_factor: float = MIN_SIZE_FACTOR,
    metric: str = "l1",
) -> np.ndarray:
    """Segment an image with SLIC (k-means in XYLab space on a local grid).

    The same core as `ssn`, with hard (argmin) assignment. With ``metric="l2"`` the
    features are ``[(c / S) y, (c / S) x, L, a, b]`` (``c`` = `compactness`, ``S`` the
    grid step) and the distance ``d_lab^2 + (c / S)^2 d_xy^2``, as in
    `skimage.segmentation.slic`, so results are comparable at the same settings. The
    default ``metric="l1"`` is Manhattan, as fast_slic's:
    ``w |dL| + |da| + |db| + (c / S) (|dy| + |dx|)`` with ``w`` =
    :data:`L1_LIGHTNESS` (0.25); on BSDS500 it gives a higher boundary recall and a
    lower undersegmentation error at about the same number of superpixels (docs/slic.md).
    The device part is jitted once per image shape and
    `n_segments`/`num_iters`/`metric`; connectivity is enforced on the host.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) array
        RGB or grayscale image, ``uint8`` or float in ``[0, 1]``. Grayscale is
        treated as RGB with equal channels (so, unlike skimage, `compactness`
        keeps its Lab meaning).
    n_segments : int
        Requested number of superpixels: the grid has about this many cells
        (`grid_shape`). With the defaults the connected superpixels number a
        little fewer: on 20 BSDS500 val images (481x321) on average 95%, 98% and 99%
        of `n_segments` for 100, 300 and 600 (``metric="l2"``, compactness 10:
        93%, 96% and 98%; ``benchmarks/slic_speed.py``).
    compactness : float, optional
        Weight of position against colour (> 0); larger gives squarer superpixels.
        None: the metric's default (:data:`DEFAULT_COMPACTNESS`: 4 for ``"l1"``,
        10 for ``"l2"``, skimage's).
    num_iters : int
        Number of k-means centre updates (skimage's ``max_num_iter``).
    enforce_connectivity : bool
        Make every superpixel 4-connected and absorb pieces smaller than
        ``min_size_factor * H * W / m`` pixels (on the host, `connect_superpixels`).
    min_size_factor : float
        See `enforce_connectivity`; :data:`MIN_SIZE_FACTOR` by default. Larger
        values give fewer, larger superpixels.
    metric : {"l1", "l2"}
        The distance (above): ``"l1"`` (default) or ``"l2"`` (skimage's).

    Returns
    -------
    labels : (H, W) np.ndarray of int32
        Labels ``0..k-1`` (consecutive when `enforce_connectivity`; otherwise grid
        cell indices in ``[0, m)``).

    Raises
    ------
    ValueError
        For a wrong shape, an empty image, NaN/inf or float values outside
        ``[0, 1]``, `n_segments` < 1, `num_iters` < 0, `compactness` <= 0,
        `min_size_factor` < 0 or an unknown `metric`.
    TypeError
        For an unsupported dtype or non-int `n_segments`/`num_iters`.

    Notes
    -----
    Differences from `skimage.segmentation.slic` at the same settings
    (``metric="l2"``): every
    pixel is compared with the 9 centres of the grid cells around its own cell
    (skimage: each centre searches a fixed window around its own position), so
    at low compactness more superpixels survive than in skimage. Like
    fast_slic (``subsample_stride=3``), each update assigns and pools only one
    of 3 interleaved subsamples of the pixels, in turn, so 10 updates cost
    about as much as 3-4 full ones; every pixel keeps the label of its last
    assignment. Small pieces join their largest neighbour (skimage: the
    segment preceding them in raster order). On BSDS500 val this gives better
    boundary recall and undersegmentation error than skimage at the same
    number of superpixels (``benchmarks/slic_speed.py``), and ``"l1"`` higher still.

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((40, 60, 3), np.uint8)
    >>> image[:, 30:] = 255
    >>> labels = slic(image, n_segments=4)
    >>> labels[::20, ::15]
    array([[0, 0, 1, 1],
           [2, 2, 3, 3]], dtype=int32)
    """
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must have shape (H, W, 3) or (H, W); got shape {image.shape}. "
            "Drop an alpha channel with image[..., :3]."
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty (shape {image.shape}); give at least one pixel.")
    image = _check_rgb(image, "image")
    n_segments = _check_int(n_segments, "n_segments", 1)
    num_iters = _check_int(num_iters, "num_iters", 0)
    compactness = _metric_and_compactness(metric, compactness)
    if not (np.isfinite(min_size_factor) and min_size_factor >= 0):  # before the device work
        raise ValueError(f"min_size_factor must be >= 0; got {min_size_factor!r}.")
    labels = np.asarray(
        _slic_labels(
            image,
            np.float32(compactness),  # a NumPy scalar: a jnp one measured ~0.25 ms per call
            n_segments=n_segments,
            num_iters=num_iters,
            metric=metric,
        )
    )
    if not enforce_connectivity:
        return labels
    return connect_superpixels(labels, n_segments=n_segments, min_size_factor=min_size_factor)


def slic_batch(
    images: ArrayLike,
    *,
    n_segments: int = 100,
    compactness: float | None = None,
    num_iters: int = 10,
    metric: str = "l1",
) -> jax.Array:
    """SLIC on a batch of same-size images: the device part of `slic`, vmapped.

    ``slic_batch(images, ...)[i]`` equals ``slic(images[i], ...,
    enforce_connectivity=False)``: raw grid-cell labels, not yet made
    connected. Connectivity enforcement is sequential host code, so it is not
    part of this function (which is what keeps it jit-compatible); for `slic`'s
    default output apply `connect_superpixels` to each image.

    Parameters
    ----------
    images : (B, H, W, 3) array
        RGB images, ``uint8`` or float in ``[0, 1]`` (NumPy or JAX).
    n_segments : int
        Requested number of superpixels per image (static: fixes the grid).
    compactness : float, optional
        Weight of position against colour (> 0); traced, so changing it does
        not recompile. None: the metric's default (as `slic`).
    num_iters : int
        Number of k-means centre updates (static).
    metric : {"l1", "l2"}
        The distance, as in `slic` (static).

    Returns
    -------
    labels : (B, H, W) jax.Array of int32
        Grid cell indices in ``[0, m)``.

    Raises
    ------
    ValueError
        For a shape other than ``(B, H, W, 3)``, empty images, NaN/inf or float
        values outside ``[0, 1]`` (the message names the image),
        `n_segments` < 1, `num_iters` < 0, `compactness` <= 0 or an unknown
        `metric`.
    TypeError
        For an unsupported dtype or non-int `n_segments`/`num_iters`.

    Notes
    -----
    Compiled once per batch shape and `n_segments`/`num_iters`. It may be
    called under `jax.jit` or `jax.vmap`; the checks of values (NaN/inf, range,
    `compactness`) then see tracers and are skipped, the shape and dtype
    checks still run.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.zeros((2, 40, 60, 3), np.uint8)
    >>> images[0, :, 30:] = 255
    >>> labels = slic_batch(images, n_segments=4)
    >>> labels.shape, labels.dtype
    ((2, 40, 60), dtype('int32'))
    >>> np.asarray(labels[0, ::20, ::15])
    array([[0, 0, 1, 1],
           [2, 2, 3, 3]], dtype=int32)
    """
    if not isinstance(images, jax.Array):
        images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must have shape (B, H, W, 3); got shape {images.shape}. For one image "
            "use slic() or images[None]; for grayscale repeat it to 3 channels."
        )
    if images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"images are empty (shape {images.shape}); give at least one pixel.")
    images = _check_rgb(images, "images")
    n_segments = _check_int(n_segments, "n_segments", 1)
    num_iters = _check_int(num_iters, "num_iters", 0)
    compactness = _metric_and_compactness(metric, compactness)
    return _slic_batch_labels(
        images,
        jnp.asarray(compactness, jnp.float32),
        n_segments=n_segments,
        num_iters=num_iters,
        metric=metric,
    )


@functools.partial(jax.jit, static_argnames=("n_segments", "num_iters", "metric"))
def _slic_batch_labels(
    images, compactness, n_segments: int, num_iters: int, metric: str
) -> jax.Array:
    """Jitted `slic_batch`: ``(B, H, W, 3)`` -> ``(B, H, W) int32``."""
    return jax.vmap(
        lambda image: _slic_labels(
            image, compactness, n_segments=n_segments, num_iters=num_iters, metric=metric
        )
    )(images)
