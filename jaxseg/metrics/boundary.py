"""BSDS500 boundary benchmark: precision/recall of boundary pixels (host NumPy/SciPy).

Follows the official ``evaluation_bdry_image`` / ``collect_eval_bdry`` (see
``shared/docs/METRICS.md`` §2 and §5):

* :func:`seg2bdry` draws the boundary map of a label image as the official code does;
* :func:`thin` is ``bwmorph(..., 'thin', Inf)``: ``skimage.morphology.thin``'s result, computed
  on the pixels still on only;
* :func:`correspond_pixels` matches machine to human boundary pixels one-to-one within
  ``max_dist * diagonal`` as an exact min-cost matching with outliers
  (``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` with integer costs).
  The official CSA solver uses a clock-seeded random sparsification, so official
  numbers differ run to run by ~1e-4; this solver is deterministic and optimal;
* :func:`evaluate_image_boundary` gives one image's ``[thresh, cntR, sumR, cntP, sumP]``
  rows (the official ``_ev1.txt``), and :func:`collect_boundary` the dataset figures
  (ODS, OIS, AP, R50 and the per-image / per-threshold tables).

Example:
    >>> import numpy as np
    >>> seg = np.array([[1, 1, 2], [1, 1, 2]])
    >>> seg2bdry(seg).astype(int)
    array([[0, 1, 1],
           [0, 1, 0]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components, min_weight_full_bipartite_matching

from jaxseg.metrics.io import Result, as_result, round_g

MAX_DIST = 0.0075
OUTLIER_COST = 100.0


def _check_labels(seg: np.ndarray, name: str = "seg") -> np.ndarray:
    seg = np.asarray(seg)
    if seg.ndim != 2:
        raise ValueError(f"{name} must be an (H, W) label image, got shape {seg.shape}")
    return seg


def seg2bdry(seg: np.ndarray, *, double_size: bool = False) -> np.ndarray:
    """Boundary map of a label image, drawn like the official ``seg2bdry``.

    Args:
        seg: ``(H, W)`` integer label image.
        double_size: return the ``(2H+1, 2W+1)`` map (edges and junctions) instead of
            the ``(H, W)`` "imageSize" map.

    Returns:
        bool ``(H, W)`` map: pixel ``(r, c)`` is on iff the 2x2 block ``(r..r+1, c..c+1)``
        holds two labels (last row/column: iff the right/lower neighbour differs;
        bottom-right pixel: off). Or the bool ``(2H+1, 2W+1)`` map.
    """
    seg = _check_labels(seg)
    h, w = seg.shape
    dv = seg[:-1, :] != seg[1:, :]  # (H-1, W)
    dh = seg[:, :-1] != seg[:, 1:]  # (H, W-1)
    b2 = np.zeros((2 * h + 1, 2 * w + 1), dtype=bool)
    b2[2 : 2 * h - 1 : 2, 1::2] = dv
    b2[1::2, 2 : 2 * w - 1 : 2] = dh
    b2[2 : 2 * h - 1 : 2, 2 : 2 * w - 1 : 2] = dh[:-1] | dh[1:] | dv[:, :-1] | dv[:, 1:]
    b2[0, :] = b2[1, :]
    b2[:, 0] = b2[:, 1]
    b2[-1, :] = b2[-2, :]
    b2[:, -1] = b2[:, -2]
    return b2 if double_size else b2[2::2, 2::2]


def _guo_hall_tables() -> tuple[np.ndarray, np.ndarray]:
    """Deletion tables of the two Guo-Hall sub-iterations, indexed by the neighbour code.

    Bit k of the code is the neighbour at 45k degrees counter-clockwise from east (east,
    north-east, north, ..., south-east): the code ``skimage.morphology.thin`` forms with
    its correlation mask ``[[8, 4, 2], [16, 0, 1], [32, 64, 128]]``. Conditions G1, G2,
    G3 and G3' of Guo & Hall (Comm. ACM 32(3), 1989), written as scikit-image writes them.
    """
    b = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(bool)  # (256, 8)
    nb = np.roll(b, -1, axis=1)  # nb[:, k] = b[:, (k + 1) % 8]
    nb2 = np.roll(b, -2, axis=1)
    g1 = (~b[:, 0::2] & (nb[:, 0::2] | nb2[:, 0::2])).sum(1) == 1
    n1 = (b[:, 1::2] | b[:, 0::2]).sum(1)
    n2 = (b[:, 1::2] | nb[:, 1::2]).sum(1)
    g2 = np.isin(np.minimum(n1, n2), (2, 3))
    g3 = ~((b[:, 1] | b[:, 2] | ~b[:, 7]) & b[:, 0])
    g3p = ~((b[:, 5] | b[:, 6] | ~b[:, 3]) & b[:, 4])
    return g1 & g2 & g3, g1 & g2 & g3p


_THIN_TABLES = _guo_hall_tables()


def thin(bmap: np.ndarray) -> np.ndarray:
    """Morphological thinning to 1-pixel-wide curves (``bwmorph(bmap, 'thin', Inf)``).

    The parallel two-sub-iteration algorithm of Guo & Hall, bit for bit what
    ``skimage.morphology.thin`` returns, but each sub-iteration looks only at the pixels
    still on instead of correlating the whole image (about 6x faster on BSDS maps).

    Args:
        bmap: ``(H, W)`` bool map.

    Returns:
        ``(H, W)`` bool map.
    """
    bmap = np.asarray(bmap, dtype=bool)
    if bmap.ndim != 2:
        raise ValueError(f"thin needs an (H, W) map, got shape {bmap.shape}")
    h, w = bmap.shape
    pad = np.zeros((h + 2, w + 2), dtype=bool)
    pad[1:-1, 1:-1] = bmap
    flat = pad.ravel()
    row = w + 2
    # neighbour k of the code (see _guo_hall_tables), as flat offsets in the padded map
    offsets = np.array([1, 1 - row, -row, -1 - row, -1, row - 1, row, row + 1])
    on = np.flatnonzero(flat)
    changed = on.size > 0
    while changed:
        changed = False
        for table in _THIN_TABLES:
            code = np.packbits(flat[on + offsets[:, None]], axis=0, bitorder="little")[0]
            delete = table[code]
            if delete.any():
                flat[on[delete]] = False
                on = on[~delete]
                changed = True
    return pad[1:-1, 1:-1].copy()


def _offsets(radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    d2 = dy**2 + dx**2
    keep = d2 <= radius**2
    return dy[keep], dx[keep], np.rint(100.0 * np.sqrt(d2[keep])).astype(np.int64)


def _group(labels: np.ndarray, n: int):
    """Nodes grouped by label: ``order``, group ``start``/``count``, index within group."""
    order = np.argsort(labels, kind="stable")
    count = np.bincount(labels, minlength=n)
    start = np.cumsum(count) - count
    local = np.empty(labels.size, dtype=np.int64)
    local[order] = np.arange(labels.size) - start[labels[order]]
    return order, start, count, local


_DENSE_MAX = 20_000  # entries; above this the sparse LAPJVsp solver is used


def _min_cost_matching(
    a: np.ndarray, b: np.ndarray, wgt: np.ndarray, n1: int, n2: int, ow: int
) -> tuple[np.ndarray, np.ndarray]:
    """Min-cost matching with outliers on candidate pairs ``(a[e], b[e])`` of cost ``wgt[e]``.

    The square problem of METRICS.md §5.2 (and the original CSA graph) charges a matching
    with k pairs ``sum(w) - ow k`` plus a constant: each real pair saves ``ow - w``. The
    same objective comes from a smaller rectangular problem: every node of the smaller
    side takes a partner or its own outlier slot at cost ``ow`` (``sum(w) + ow (n_s - k)``).
    That is several times faster than the square problem, with the same optimum. Costs are
    integers (+1 in the sparse path so that no explicit zero is dropped); float costs can
    make the sparse solver stall (scipy issue #17269).

    Returns:
        ``(xa, xb)`` int arrays of the matched pairs.
    """
    swap = n2 <= n1
    rows_idx, cols_idx, n_rows, n_cols = (b, a, n2, n1) if swap else (a, b, n1, n2)
    if n_rows * (n_rows + n_cols) <= _DENSE_MAX:
        # small problem: dense solver, far less overhead (inf = no edge)
        cost = np.full((n_rows, n_cols + n_rows), np.inf)
        cost[rows_idx, cols_idx] = wgt
        cost[np.arange(n_rows), n_cols + np.arange(n_rows)] = ow
        row_ind, col_ind = linear_sum_assignment(cost)
        real = col_ind < n_cols
        if swap:
            return col_ind[real], row_ind[real]
        return row_ind[real], col_ind[real]
    width = n_rows + n_cols
    rows = np.concatenate([rows_idx, np.arange(n_rows)])
    key = rows * width + np.concatenate([cols_idx, n_cols + np.arange(n_rows)])
    order = np.argsort(key)  # the canonical CSR (sorted columns), without scipy's COO pass
    vals = np.concatenate([wgt + 1, np.full(n_rows, ow + 1)]).astype(np.float64)[order]
    indptr = np.zeros(n_rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    graph = scipy.sparse.csr_matrix(
        (vals, (key[order] % width).astype(np.int32), indptr), shape=(n_rows, width)
    )
    row_ind, col_ind = min_weight_full_bipartite_matching(graph)
    real = col_ind < n_cols
    if swap:
        return col_ind[real], row_ind[real]
    return row_ind[real], col_ind[real]


class PixelMatcher:
    """Matches machine boundary maps against one fixed human boundary map.

    Precomputes, for every pixel position, the human pixels within the tolerance disk
    (a CSR table), so that matching many machine maps (one per threshold) against the
    same human only gathers candidate pairs. See :func:`correspond_pixels`.

    Args:
        gt: ``(H, W)`` human boundary map (non-zero = boundary).
        max_dist: tolerance as a fraction of the image diagonal.
        outlier_cost: outlier cost in units of the tolerance distance.
    """

    def __init__(
        self, gt: np.ndarray, *, max_dist: float = MAX_DIST, outlier_cost: float = OUTLIER_COST
    ):
        gt = np.asarray(gt).astype(bool)
        if gt.ndim != 2:
            raise ValueError(f"ground truth must be an (H, W) map, got shape {gt.shape}")
        self.shape = gt.shape
        h, w = gt.shape
        radius = max_dist * np.hypot(h, w)
        self.outlier_weight = int(np.ceil(100.0 * outlier_cost * radius))
        self.gt_rows, self.gt_cols = np.nonzero(gt)
        self.n_gt = self.gt_rows.size
        dy, dx, cost = _offsets(radius)
        qy = self.gt_rows[None, :] + dy[:, None]  # (n_offsets, n_gt)
        qx = self.gt_cols[None, :] + dx[:, None]
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        off_i, g_i = np.nonzero(inside)
        q = qy[off_i, g_i] * w + qx[off_i, g_i]
        order = np.argsort(q, kind="stable")
        self.entry_gt = g_i[order]
        self.entry_cost = cost[off_i[order]]
        self.indptr = np.zeros(h * w + 1, dtype=np.int64)
        np.cumsum(np.bincount(q, minlength=h * w), out=self.indptr[1:])
        # Solved components by their machine pixels: the sub-problem of a component is fixed
        # by its machine pixels (its human pixels are those within reach of them), so maps
        # of nearby thresholds, which share most components, solve each one once.
        self._solved: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def match(self, machine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(m1, m2)``: bool ``(H, W)`` masks of matched machine / human pixels."""
        machine = np.asarray(machine).astype(bool)
        if machine.shape != self.shape:
            raise ValueError(
                f"machine map {machine.shape} and ground truth {self.shape} must be equal (H, W)"
            )
        m1 = np.zeros(self.shape, dtype=bool)
        m2 = np.zeros(self.shape, dtype=bool)
        pos = np.flatnonzero(machine)
        start = self.indptr[pos]
        cnt = self.indptr[pos + 1] - start
        n_pairs = int(cnt.sum())
        if n_pairs == 0:
            return m1, m2
        # Candidate pairs (a, b): machine pixel a = pos[keep][a], gt pixel b_nodes[b].
        keep = cnt > 0
        pos, start, cnt = pos[keep], start[keep], cnt[keep]
        n1 = pos.size
        a = np.repeat(np.arange(n1), cnt)
        first = np.cumsum(cnt) - cnt
        entry = np.repeat(start - first, cnt) + np.arange(n_pairs)
        b_full = self.entry_gt[entry]
        wgt = self.entry_cost[entry]
        present = np.zeros(self.n_gt, dtype=bool)
        present[b_full] = True
        b_nodes = np.flatnonzero(present)
        b = (np.cumsum(present) - 1)[b_full]
        n2 = b_nodes.size
        # Independent subproblems: connected components of the candidate graph. The pairs
        # are ordered by machine pixel, so the graph's rows are `first`/`cnt` as they are.
        indptr = np.concatenate([[0], np.cumsum(cnt), np.full(n2, n_pairs)])
        graph = scipy.sparse.csr_matrix(
            (np.ones(n_pairs, dtype=np.int8), n1 + b, indptr), shape=(n1 + n2, n1 + n2)
        )
        n_comp, comp = connected_components(graph, directed=False)
        comp_a, comp_b = comp[:n1], comp[n1:]
        # local index of every node inside its component
        order_a, start_a, cnt_a, local_a = _group(comp_a, n_comp)
        order_b, start_b, cnt_b, local_b = _group(comp_b, n_comp)
        # the pairs grouped by component (in machine-pixel order inside one): the pair ranges
        # of the machine pixels in `order_a` order, without sorting the pairs
        cnt_sorted = cnt[order_a]
        by_comp = np.repeat(first[order_a] - (np.cumsum(cnt_sorted) - cnt_sorted), cnt_sorted)
        by_comp += np.arange(n_pairs)
        comp_pairs = np.bincount(comp_a, weights=cnt, minlength=n_comp).astype(np.int64)
        comp_first = np.cumsum(comp_pairs) - comp_pairs
        single = comp_pairs == 1  # one candidate pair: matched directly
        one = by_comp[comp_first[single]]
        ma_parts, mb_parts = [pos[a[one]]], [b_nodes[b[one]]]
        for c in np.flatnonzero(~single).tolist():
            members = order_a[start_a[c] : start_a[c] + cnt_a[c]]
            key = pos[members].tobytes()
            hit = self._solved.get(key)
            if hit is None:
                sel = by_comp[comp_first[c] : comp_first[c] + comp_pairs[c]]
                xa, xb = _min_cost_matching(
                    local_a[a[sel]], local_b[b[sel]], wgt[sel], cnt_a[c], cnt_b[c],
                    self.outlier_weight,
                )  # fmt: skip
                hit = (pos[members[xa]], b_nodes[order_b[start_b[c] + xb]])
                self._solved[key] = hit
            ma_parts.append(hit[0])
            mb_parts.append(hit[1])
        ma = np.concatenate(ma_parts)
        mb = np.concatenate(mb_parts)
        m1.ravel()[ma] = True
        m2[self.gt_rows[mb], self.gt_cols[mb]] = True
        return m1, m2


def correspond_pixels(
    machine: np.ndarray,
    gt: np.ndarray,
    *,
    max_dist: float = MAX_DIST,
    outlier_cost: float = OUTLIER_COST,
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of machine to human boundary pixels (``correspondPixels``).

    Solves, exactly, the matching the official code approximates: a pair ``(a, b)`` is
    allowed iff ``|a - b| <= max_dist * sqrt(H^2 + W^2)``, costs ``rint(100 |a - b|)``,
    and every unmatched pixel pays the outlier cost ``ceil(100 * outlier_cost * D)``, so
    the result is a maximum matching of minimum total distance (METRICS.md §5.2).

    Args:
        machine: ``(H, W)`` bool machine boundary map (thinned).
        gt: ``(H, W)`` human boundary map (non-zero = boundary).
        max_dist: tolerance as a fraction of the image diagonal.
        outlier_cost: outlier cost in units of the tolerance distance.

    Returns:
        ``(m1, m2)``: ``(H, W)`` bool masks of the matched machine and human pixels.
    """
    machine = np.asarray(machine)
    gt = np.asarray(gt)
    if machine.shape != gt.shape or machine.ndim != 2:
        raise ValueError(
            f"machine map {machine.shape} and ground truth {gt.shape} must be equal (H, W)"
        )
    return PixelMatcher(gt, max_dist=max_dist, outlier_cost=outlier_cost).match(machine)


def thresholds_for(result: Result, nthresh: int, thresholds=None) -> np.ndarray:
    """The thresholds the official code uses: ``k/(nthresh+1)``, or ``1..n`` for segs.

    ``thresholds`` (increasing, finite) replaces ``k/(nthresh+1)`` for ucm2/pb results.
    """
    if result.kind == "segs":
        return np.arange(1, result.data.shape[0] + 1, dtype=np.float64)
    if thresholds is not None:
        t = np.asarray(thresholds, dtype=np.float64)
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
            raise ValueError(
                f"thresholds must be a non-empty increasing 1-D list, got {thresholds}"
            )
        return t
    if nthresh < 1:
        raise ValueError(f"nthresh must be >= 1, got {nthresh}")
    return np.linspace(1.0 / (nthresh + 1), 1.0 - 1.0 / (nthresh + 1), nthresh)


def _check_result_shape(result: Result, shape: tuple[int, int]) -> None:
    h, w = shape
    if result.kind == "ucm2" and result.data.shape != (2 * h + 1, 2 * w + 1):
        raise ValueError(
            f"ucm2 has shape {result.data.shape} but the ground truth is {shape}; "
            f"a ucm2 must be double size ({2 * h + 1}, {2 * w + 1})"
        )
    if result.kind == "pb" and result.data.shape != shape:
        raise ValueError(f"boundary map has shape {result.data.shape}, ground truth {shape}")
    if result.kind == "segs" and result.data.shape[1:] != shape:
        raise ValueError(f"segs have size {result.data.shape[1:]}, ground truth {shape}")


def evaluate_image_boundary(
    result: Result | np.ndarray | Sequence[np.ndarray],
    gt_boundaries: Sequence[np.ndarray],
    *,
    nthresh: int = 99,
    thresholds: Sequence[float] | None = None,
    max_dist: float = MAX_DIST,
    thin_maps: bool = True,
) -> np.ndarray:
    """Per-threshold boundary counts of one image (the official ``_ev1.txt``).

    Args:
        result: a ucm2 ``(2H+1, 2W+1)`` / soft boundary map ``(H, W)`` / segs
            ``(n, H, W)``, or a :class:`~jaxseg.metrics.io.Result`.
        gt_boundaries: K human boundary maps ``(H, W)``.
        nthresh: number of thresholds (ignored for segs, which use ``1..n``).
        thresholds: explicit increasing thresholds for ucm2/pb (instead of ``nthresh``).
        max_dist: matching tolerance as a fraction of the diagonal.
        thin_maps: thin machine maps before matching (official default).

    Returns:
        ``(T, 5)`` float64 rows ``[thresh, cntR, sumR, cntP, sumP]`` (thresholds not rounded).
    """
    gts = [np.asarray(g).astype(bool) for g in gt_boundaries]
    if len(gts) == 0:
        raise ValueError("gt_boundaries is empty; pass at least one human boundary map")
    shape = gts[0].shape
    if any(g.shape != shape for g in gts):
        raise ValueError(f"ground-truth maps have different shapes {[g.shape for g in gts]}")
    result = as_result(result, shape=shape)
    _check_result_shape(result, shape)
    thresholds = thresholds_for(result, nthresh, thresholds)
    if result.kind == "ucm2":
        pb = result.data[2::2, 2::2]
    elif result.kind == "pb":
        pb = result.data
    sum_r = float(sum(int(g.sum()) for g in gts))
    out = np.zeros((thresholds.size, 5))
    matchers = [PixelMatcher(g, max_dist=max_dist) for g in gts]
    prev_raw, prev_counts = None, None
    for k, t in enumerate(thresholds):
        raw = seg2bdry(result.data[k]) if result.kind == "segs" else pb >= t
        if prev_raw is not None and np.array_equal(raw, prev_raw):
            counts = prev_counts  # identical map: identical (deterministic) counts
        else:
            bmap = thin(raw) if thin_maps else raw
            cnt_r, acc = 0, np.zeros(shape, dtype=bool)
            for matcher in matchers:
                m1, m2 = matcher.match(bmap)
                cnt_r += int(m2.sum())
                acc |= m1
            counts = (cnt_r, sum_r, int(acc.sum()), int(bmap.sum()))
        out[k] = (t, *counts)
        prev_raw, prev_counts = raw, counts
    return out


def fmeasure(r, p):
    """``2PR / (P + R)`` with 0 where ``P + R == 0``."""
    r, p = np.asarray(r, float), np.asarray(p, float)
    s = p + r
    return 2 * p * r / (s + (s == 0))


def _ratio(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    return num / (den + (den == 0))


def max_f(thresh, r, p) -> tuple[float, float, float, float]:
    """Best F over thresholds, interpolating R and P linearly between neighbours.

    Official ``maxF``: 100 steps ``d = j/99`` between each pair of consecutive
    thresholds; the first strict maximiser wins.

    Returns:
        ``(best_t, best_r, best_p, best_f)``.
    """
    thresh, r, p = (np.asarray(x, float) for x in (thresh, r, p))
    best = (thresh[0], r[0], p[0], float(fmeasure(r[0], p[0])))
    d = np.arange(100) / 99.0
    for i in range(1, thresh.size):
        tt = thresh[i] * d + thresh[i - 1] * (1 - d)
        rr = r[i] * d + r[i - 1] * (1 - d)
        pp = p[i] * d + p[i - 1] * (1 - d)
        ff = fmeasure(rr, pp)
        j = int(np.argmax(ff))
        if ff[j] > best[3]:
            best = (tt[j], rr[j], pp[j], float(ff[j]))
    return tuple(float(x) for x in best)


def average_precision(r, p) -> float:
    """Official ``Area_PR``: P interpolated at R = 0, 0.01, ..., 1; 0 outside; sum x 0.01.

    For a repeated R value the last occurrence's P is used (MATLAB <= R2012b ``unique``).
    """
    r, p = np.asarray(r, float), np.asarray(p, float)
    ru, idx_rev = np.unique(r[::-1], return_index=True)
    pu = p[::-1][idx_rev]
    if ru.size < 2:
        return 0.0
    ri = np.arange(101) / 100.0
    pi = np.interp(ri, ru, pu, left=0.0, right=0.0)
    return float(pi.sum() * 0.01)


def recall_at_50(r, p) -> float:
    """R50 (Dollar's edge toolbox): recall at precision ``max(min P, 0.5)``, interpolated."""
    r, p = np.asarray(r, float), np.asarray(p, float)
    pu, idx = np.unique(p, return_index=True)
    ru = r[idx]
    if pu.size == 1:
        return float(ru[0])
    return float(np.interp(max(pu.min(), 0.5), pu, ru))


def collect_boundary(thresholds, counts: Sequence[np.ndarray]) -> dict:
    """Dataset figures from per-image counts (official ``collect_eval_bdry``).

    Args:
        thresholds: ``(T,)`` thresholds as printed (6 significant digits).
        counts: one ``(T, 4)`` array ``[cntR, sumR, cntP, sumP]`` per image, in image
            order, already rounded like the ``_ev1.txt`` files (integers in practice).

    Returns:
        dict with ``img`` ``(n, 5)`` rows ``[i, bestT, bestR, bestP, bestF]``
        (``eval_bdry_img.txt``), ``thr`` ``(T, 4)`` rows ``[T, R, P, F]``
        (``eval_bdry_thr.txt``), ``summary`` (8 values of ``eval_bdry.txt``:
        ODS T/R/P/F, OIS R/P/F, AP) and scalars ``ods_t, ods_r, ods_p, ods_f, ois_r,
        ois_p, ois_f, ap, r50``.
    """
    thresholds = np.asarray(thresholds, float)
    if len(counts) == 0:
        raise ValueError("no images to collect")
    total = np.zeros((thresholds.size, 4))
    best_sum = np.zeros(4)
    img_rows = []
    for i, c in enumerate(counts):
        c = np.asarray(c, float)
        if c.shape != (thresholds.size, 4):
            raise ValueError(
                f"image {i + 1} has counts of shape {c.shape}, expected {(thresholds.size, 4)}; "
                "all images must have the same number of thresholds"
            )
        r, p = _ratio(c[:, 0], c[:, 1]), _ratio(c[:, 2], c[:, 3])
        img_rows.append((i + 1, *max_f(thresholds, r, p)))
        total += c
        best_sum += c[int(np.argmax(fmeasure(r, p)))]
    r, p = _ratio(total[:, 0], total[:, 1]), _ratio(total[:, 2], total[:, 3])
    f = fmeasure(r, p)
    ods = max_f(thresholds, r, p)
    ois_r, ois_p = float(_ratio(best_sum[0], best_sum[1])), float(_ratio(best_sum[2], best_sum[3]))
    ois_f = float(fmeasure(ois_r, ois_p))
    ap = average_precision(r, p)
    summary = [*ods, ois_r, ois_p, ois_f, ap]
    return {
        "img": np.array(img_rows),
        "thr": np.stack([thresholds, r, p, f], axis=1),
        "summary": summary,
        **dict(zip(["ods_t", "ods_r", "ods_p", "ods_f"], ods, strict=True)),
        "ois_r": ois_r,
        "ois_p": ois_p,
        "ois_f": ois_f,
        "ap": ap,
        "r50": recall_at_50(r, p),
    }


def round_counts(ev1: np.ndarray) -> np.ndarray:
    """Rounds ``_ev1`` rows to 6 significant digits (what the files hold)."""
    return round_g(np.asarray(ev1, float))
