"""BSDS500 region benchmark: covering, PRI, VI, plus GCE/LCE (host NumPy/SciPy).

Follows the official ``evaluation_reg_image`` / ``collect_eval_reg`` (METRICS.md §3):

* :func:`ucm2_to_segmentation`: 8-connected components of ``ucm2 <= t`` sampled at
  the pixel positions; :func:`ucm2_segmentations` the same at many thresholds at once;
* pairwise metrics on two label images: :func:`rand_index`,
  :func:`variation_of_information` (log2), :func:`global_consistency_error`,
  :func:`local_consistency_error` (all symmetric), built on :func:`contingency_table`;
* :func:`segmentation_covering` of the humans by the machine segmentation;
* :func:`evaluate_image_region`: one image's per-threshold counts (the official
  ``_ev2``/``_ev3``/``_ev4`` files, and GCE/LCE as ``_ev5``);
* :func:`collect_region`: covering ODS/OIS/Best, PRI and VOI ODS/OIS, and GCE/LCE.

GCE/LCE selection rule (METRICS.md §4.1): per (image, threshold) the value is the mean
over the humans of GCE(S, G_k) (Yang/Wright convention, like PRI/VOI). GCE is 0 for the
degenerate one-region and all-pixels segmentations, so it is not minimised over
thresholds; :func:`collect_region` reports it at the PRI ODS threshold and at the
covering ODS threshold (mean over images), and the full per-threshold curve.

Labels of machine and human segmentations must be >= 1 (the official RI/VOI code
indexes its count table with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.sparse
from scipy.sparse.csgraph import connected_components

from jaxseg.metrics.io import Result, as_result, round_g
from jaxseg.regions.labels import overlap_table

_EIGHT = np.ones((3, 3), dtype=bool)


def ucm2_to_segmentation(ucm2: np.ndarray, threshold: float) -> np.ndarray:
    """The partition a double-size ucm gives at ``threshold``.

    Args:
        ucm2: ``(2H+1, 2W+1)`` float ultrametric contour map.
        threshold: regions are the 8-connected components of ``ucm2 <= threshold``.

    Returns:
        ``(H, W)`` int64 labels ``1..m``.
    """
    ucm2 = np.asarray(ucm2)
    if ucm2.ndim != 2 or ucm2.shape[0] % 2 == 0 or ucm2.shape[1] % 2 == 0:
        raise ValueError(f"ucm2 must have shape (2H+1, 2W+1), got {ucm2.shape}")
    labels, _ = scipy.ndimage.label(ucm2 <= threshold, structure=_EIGHT)
    return labels[1::2, 1::2].astype(np.int64)


def ucm2_segmentations(ucm2: np.ndarray, thresholds: Sequence[float]):
    """:func:`ucm2_to_segmentation` at each of increasing ``thresholds``, incrementally.

    Labels ``ucm2 <= t`` once at the first threshold; at each later one only the pixels
    that turn on join the components around them (a small graph of components and new
    pixels), and the components are numbered by their first pixel in raster order, as
    ``scipy.ndimage.label`` numbers them. The labels are identical to
    ``ucm2_to_segmentation(ucm2, t)`` at every threshold (compared in float64), at a
    fraction of the cost.

    Args:
        ucm2: ``(2H+1, 2W+1)`` float map.
        thresholds: increasing thresholds.

    Yields:
        per threshold, the ``(H, W)`` int64 labels, or ``None`` where they are the
        previous threshold's.
    """
    for level in _ucm2_levels(ucm2, thresholds):
        yield None if level is None else level[1][level[0]]


def _ucm2_levels(ucm2: np.ndarray, thresholds: Sequence[float]):
    """The partitions of :func:`ucm2_segmentations` as ``(units, unit_labels)``.

    ``units`` is the ``(H, W)`` index of each pixel's unit, a component of the first
    threshold (or a pixel whose centre turns on later), and ``unit_labels`` the label of
    each unit; the labels are ``unit_labels[units]``. ``units`` is the same object until a
    pixel centre turns on. Yields ``None`` where the labels are the previous ones.
    """
    ucm2 = np.asarray(ucm2, dtype=np.float64)
    if ucm2.ndim != 2 or ucm2.shape[0] % 2 == 0 or ucm2.shape[1] % 2 == 0:
        raise ValueError(f"ucm2 must have shape (2H+1, 2W+1), got {ucm2.shape}")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.size == 0:
        return
    h2, w2 = ucm2.shape
    row = w2 + 2  # a frame of off pixels around the map: no bounds checks
    # step at which each pixel turns on (value <= thresholds[step]); size = never
    step_of = np.full((h2 + 2, row), thresholds.size, dtype=np.int64)
    step_of[1:-1, 1:-1] = np.searchsorted(thresholds, ucm2, side="left")
    step_of = step_of.ravel()
    centre = (np.arange(1, h2, 2)[:, None] + 1) * row + (np.arange(1, w2, 2)[None, :] + 1)
    on = step_of == 0
    labels, n = scipy.ndimage.label(on.reshape(h2 + 2, row), structure=_EIGHT)
    node = labels.ravel()  # node of each on pixel; node 0 = off
    # component of each node (node 0: component 0, which keeps label 0), and the first
    # pixel (raster order of the unframed map) of each component
    comp_of = np.arange(n + 1)
    flat = np.flatnonzero(node)
    first_seen = np.flatnonzero(np.diff(np.maximum.accumulate(node[flat]), prepend=0))
    minpos = np.concatenate([[-1], _unframed(flat[first_seen], row, w2)])
    unit_nodes, units = _units(node[centre])
    unit_labels = unit_nodes  # scipy's labels are the first threshold's components
    yield units, unit_labels
    later = np.flatnonzero((step_of > 0) & (step_of < thresholds.size))
    later = later[np.argsort(step_of[later], kind="stable")]
    bounds = np.searchsorted(step_of[later], np.arange(1, thresholds.size + 1), side="left")
    offsets = np.array([-row - 1, -row, -row + 1, -1, 1, row - 1, row, row + 1])
    centre_turns_on = np.zeros(thresholds.size + 1, dtype=bool)  # per step: a centre does
    centre_turns_on[step_of[centre]] = True
    for k in range(1, thresholds.size):
        new = later[bounds[k - 1] : bounds[k]]
        if new.size == 0:
            yield None
            continue
        m = minpos.size  # components 0..m-1; the new pixels are components m..
        node[new] = comp_of.size + np.arange(new.size)
        on[new] = True
        comp_of = np.concatenate([comp_of, m + np.arange(new.size)])
        nbr = new[:, None] + offsets[None, :]
        hit = on[nbr]
        src = np.repeat(m + np.arange(new.size), hit.sum(1))
        dst = comp_of[node[nbr[hit]]]
        graph = scipy.sparse.csr_matrix(
            (np.ones(src.size, dtype=np.int8), (src, dst)), shape=(m + new.size,) * 2
        )
        _, merged = connected_components(graph, directed=False)
        # component 0 (off) has no edge and the smallest index: it stays component 0
        minpos = np.concatenate([minpos, _unframed(new, row, w2)])
        first = np.full(int(merged.max()) + 1, np.iinfo(np.int64).max)
        np.minimum.at(first, merged, minpos)
        minpos = first
        comp_of = merged[comp_of]
        rank = np.empty(minpos.size, dtype=np.int64)
        rank[np.argsort(minpos)] = np.arange(minpos.size)
        if centre_turns_on[k]:  # a pixel centre turned on: a new unit
            unit_nodes, units = _units(node[centre])
        new_labels = rank[comp_of[unit_nodes]]
        if not centre_turns_on[k] and np.array_equal(new_labels, unit_labels):
            yield None
            continue
        unit_labels = new_labels
        yield units, unit_labels


def _units(centre_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nodes, inverse = np.unique(centre_nodes, return_inverse=True)
    return nodes, inverse.reshape(centre_nodes.shape)


def _unframed(pos: np.ndarray, row: int, w2: int) -> np.ndarray:
    """Raster index in the ``(2H+1, 2W+1)`` map of flat positions in the framed one."""
    r, c = np.divmod(pos, row)
    return (r - 1) * w2 + (c - 1)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"label images must be (H, W) of equal shape, got {a.shape} and {b.shape}")
    for name, x in (("first", a), ("second", b)):
        if not np.issubdtype(x.dtype, np.integer):
            raise TypeError(f"the {name} label image must be integer, got dtype {x.dtype}")
        if x.size and x.min() < 1:
            raise ValueError(
                f"the {name} label image has label {x.min()}; labels must be >= 1 "
                "(add 1 to 0-based label images)"
            )
    return a.astype(np.int64), b.astype(np.int64)


def contingency_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``n[u, v]`` = number of pixels with ``a == u`` and ``b == v``.

    Args:
        a, b: ``(H, W)`` integer labels >= 1.

    Returns:
        ``(max a + 1, max b + 1)`` int64 table (row/column 0 are empty).
    """
    return _table(*_check_pair(a, b))


def _table(a: np.ndarray, b: np.ndarray, compact: bool | None = None) -> np.ndarray:
    """The contingency table; ``compact`` (default: when the full table would be large)
    counts over the labels present, with row/column 0 kept empty (empty labels
    contribute nothing to any metric)."""
    if compact is None:
        compact = _large(int(a.max()) + 1, int(b.max()) + 1, a.size)
    if compact:
        return np.pad(overlap_table(a, b, compact=True), ((1, 0), (1, 0)))
    return overlap_table(a, b)


def _large(na: int, nb: int, size: int) -> bool:
    """Whether an ``(na, nb)`` table of an image of ``size`` pixels is counted compactly."""
    return na * nb > 4 * size + 1_000_000


def _ri_from_table(n: np.ndarray) -> float:
    n = n.astype(np.float64)
    total = n.sum()
    if total < 2:
        return 1.0
    n_u, n_v = n.sum(1), n.sum(0)
    pairs = total * (total - 1) / 2
    return float(1 - (np.sum(n_u * n_u) / 2 + np.sum(n_v * n_v) / 2 - np.sum(n * n)) / pairs)


def _vi_from_table(n: np.ndarray) -> float:
    joint = n.astype(np.float64) / n.sum()
    m1 = joint.sum(1)[:, None]
    m2 = joint.sum(0)[None, :]
    h1 = -np.sum(m1 * np.log2(m1 + (m1 == 0)))
    h2 = -np.sum(m2 * np.log2(m2 + (m2 == 0)))
    prod = m1 * m2
    quot = np.log2((joint + (joint == 0) * prod + (prod == 0)) / (prod + (prod == 0)))
    return float(h1 + h2 - 2 * np.sum(joint * quot))


def _gce_lce_from_table(n: np.ndarray) -> tuple[float, float]:
    n = n.astype(np.float64)
    total = n.sum()
    n_u = n.sum(1, keepdims=True)
    n_v = n.sum(0, keepdims=True)
    u, v = np.nonzero(n)
    nuv = n[u, v]
    e12 = (n_u[u, 0] - nuv) / n_u[u, 0]  # E(S1, S2, p) for the pixels in cell (u, v)
    e21 = (n_v[0, v] - nuv) / n_v[0, v]
    gce = min(np.sum(nuv * e12), np.sum(nuv * e21)) / total
    lce = np.sum(nuv * np.minimum(e12, e21)) / total
    return float(gce), float(lce)


def rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """Rand index: fraction of pixel pairs on which ``a`` and ``b`` agree (official formula).

    Args:
        a, b: ``(H, W)`` integer labels >= 1.

    Returns:
        RI in ``[0, 1]``, 1 for identical partitions.
    """
    return _ri_from_table(contingency_table(a, b))


def variation_of_information(a: np.ndarray, b: np.ndarray) -> float:
    """VI = H(a) + H(b) - 2 I(a; b) in bits (official formula); 0 for identical partitions."""
    return _vi_from_table(contingency_table(a, b))


def global_consistency_error(a: np.ndarray, b: np.ndarray) -> float:
    """GCE (Martin et al. 2001) = ``min(sum_p E(a,b,p), sum_p E(b,a,p)) / N`` in ``[0, 1]``."""
    return _gce_lce_from_table(contingency_table(a, b))[0]


def local_consistency_error(a: np.ndarray, b: np.ndarray) -> float:
    """LCE (Martin et al. 2001) = ``sum_p min(E(a,b,p), E(b,a,p)) / N`` in ``[0, 1]``, <= GCE."""
    return _gce_lce_from_table(contingency_table(a, b))[1]


def _covering_tables(tables: Sequence[np.ndarray]):
    """Per human: (gt region areas, best IoU of each gt region); and best IoU per seg region.

    ``tables`` are the contingency tables ``(m+1, n_k+1)`` of the segmentation vs each human.
    """
    best_seg = None
    per_gt = []
    for n in tables:
        n = n.astype(np.float64)
        area_s, area_g = n.sum(1), n.sum(0)
        union = area_s[:, None] + area_g[None, :] - n
        iou = np.divide(n, union, out=np.zeros_like(n), where=union > 0)
        per_gt.append((area_g[1:], iou[1:, 1:].max(0)))
        row = iou[1:, 1:].max(1)
        best_seg = row if best_seg is None else np.maximum(best_seg, row)
    area_seg = tables[0].sum(1)[1:].astype(np.float64)
    return per_gt, area_seg, best_seg


def segmentation_covering(seg: np.ndarray, gts: Sequence[np.ndarray]) -> float:
    """Covering of the human segmentations by ``seg``, averaged over humans.

    ``C(G <- S) = (1/N) sum_{g in G} |g| max_{s in S} IoU(g, s)``.

    Args:
        seg: ``(H, W)`` machine labels >= 1.
        gts: K ``(H, W)`` human label images (labels >= 1).
    """
    gts = _check_gts(gts, np.shape(seg))
    per_gt, _, _ = _covering_tables([contingency_table(seg, g) for g in gts])
    cnt = sum(float(np.sum(a * b)) for a, b in per_gt)
    return cnt / sum(float(a.sum()) for a, _ in per_gt)


def probabilistic_rand_index(seg: np.ndarray, gts: Sequence[np.ndarray]) -> float:
    """PRI: mean over the humans of the Rand index."""
    gts = _check_gts(gts, np.shape(seg))
    return float(np.mean([rand_index(seg, g) for g in gts]))


def _check_gts(gts: Sequence[np.ndarray], shape) -> list[np.ndarray]:
    gts = [np.asarray(g) for g in gts]
    if len(gts) == 0:
        raise ValueError("the list of ground-truth segmentations is empty; pass at least one")
    for k, g in enumerate(gts):
        if g.shape != tuple(shape):
            raise ValueError(
                f"ground truth {k} has shape {g.shape}, the segmentation {tuple(shape)}"
            )
    return gts


def _tables(result: Result, gts: list[np.ndarray], thresholds: np.ndarray):
    """Per threshold, the contingency tables of the segmentation with each human (as
    :func:`_table` computes them), or ``None`` where the segmentation is the previous one.

    For a ucm2 the tables are summed from the tables of the units of
    :func:`_ucm2_levels` (exact integer counts), not counted over the pixels again.
    """
    if result.kind == "segs":
        prev = None
        for seg in result.data:
            if prev is not None and np.array_equal(seg, prev):
                yield None
            else:  # one layout for all humans: the tables' rows must agree
                na = int(seg.max()) + 1
                compact = any(_large(na, int(g.max()) + 1, seg.size) for g in gts)
                yield [_table(seg, g, compact) for g in gts]
            prev = seg
        return
    units = None
    for level in _ucm2_levels(result.data, thresholds):
        if level is None:
            yield None
            continue
        if level[0] is not units:
            units = level[0]
            n_units = int(units.max()) + 1
            # (unit, human label, count) of each human's overlap with the units
            overlaps = []
            for g in gts:
                nb = int(g.max()) + 1
                count = np.bincount((units * nb + g).ravel(), minlength=n_units * nb)
                pair = np.flatnonzero(count)
                overlaps.append((*np.divmod(pair, nb), count[pair], nb))
        unit_labels = level[1]
        na = int(unit_labels.max()) + 1  # every unit covers a pixel: the largest label
        compact = any(_large(na, nb, units.size) for *_, nb in overlaps)
        if compact:
            present = np.unique(unit_labels)
            rows = np.searchsorted(present, unit_labels)
        tables = []
        for (u, v, c, nb), g in zip(overlaps, gts, strict=True):
            if compact:
                cols = np.unique(g)
                shape = (present.size, cols.size)
                flat = rows[u] * shape[1] + np.searchsorted(cols, v)
            else:
                shape, flat = (na, nb), unit_labels[u] * nb + v
            n = np.bincount(flat, weights=c, minlength=shape[0] * shape[1])
            n = n.astype(np.int64).reshape(shape)
            tables.append(np.pad(n, ((1, 0), (1, 0))) if compact else n)
        yield tables


@dataclass
class RegionImageResult:
    """Region-benchmark numbers of one image.

    Attributes:
        ev2: ``(T, 5)`` ``[thresh, cntR, sumR, cntP, sumP]`` covering counts.
        cnt_r_best: covering count of the best region at any threshold (``_ev3``).
        ev4: ``(T, 3)`` ``[thresh, PRI, VOI]``.
        ev5: ``(T, 3)`` ``[thresh, GCE, LCE]`` (means over humans).
    """

    ev2: np.ndarray
    cnt_r_best: float
    ev4: np.ndarray
    ev5: np.ndarray

    def rounded(self) -> RegionImageResult:
        """The values as the ``%10g`` intermediate files hold them."""
        return RegionImageResult(
            round_g(self.ev2), float(round_g(self.cnt_r_best)), round_g(self.ev4), round_g(self.ev5)
        )


def evaluate_image_region(
    result: Result | np.ndarray | Sequence[np.ndarray],
    gt_segmentations: Sequence[np.ndarray],
    *,
    nthresh: int = 99,
    thresholds: Sequence[float] | None = None,
) -> RegionImageResult:
    """Per-threshold covering, PRI, VOI, GCE and LCE of one image.

    Args:
        result: a ucm2 ``(2H+1, 2W+1)`` float map or segs ``(n, H, W)`` (labels >= 1), or
            a :class:`~jaxseg.metrics.io.Result`. Boundary maps (``pb``) are not accepted.
        gt_segmentations: K human label images ``(H, W)`` (labels >= 1).
        nthresh: number of thresholds ``k/(nthresh+1)`` for ucm2 (segs use ``1..n``).
        thresholds: explicit increasing thresholds for ucm2 (instead of ``nthresh``).

    Returns:
        :class:`RegionImageResult` (not rounded).
    """
    from jaxseg.metrics.boundary import _check_result_shape, thresholds_for

    gts = [np.asarray(g).astype(np.int64) for g in gt_segmentations]
    if len(gts) == 0:
        raise ValueError("gt_segmentations is empty; pass at least one human segmentation")
    shape = gts[0].shape
    gts = _check_gts(gts, shape)
    for k, g in enumerate(gts):
        if g.min() < 1:
            raise ValueError(f"ground truth {k} has label {g.min()}; human labels must be >= 1")
    result = as_result(result, shape=shape)
    if result.kind == "pb":
        raise ValueError(
            "the region benchmark needs a ucm2 or segs result, not a boundary map (PNG/pb)"
        )
    _check_result_shape(result, shape)
    if result.kind == "segs" and result.data.min() < 1:
        raise ValueError(
            f"segs contain label {result.data.min()}; the region benchmark needs labels >= 1 "
            "(add 1 to 0-based label images)"
        )
    thresholds = thresholds_for(result, nthresh, thresholds)
    t_n = thresholds.size
    ev2, ev4, ev5 = np.zeros((t_n, 5)), np.zeros((t_n, 3)), np.zeros((t_n, 3))
    best_all = [np.zeros(int(g.max())) for g in gts]
    areas_gt = None
    prev = None
    for k, (t, tables) in enumerate(zip(thresholds, _tables(result, gts, thresholds), strict=True)):
        if tables is None:
            row2, row4, row5 = prev
        else:
            per_gt, area_seg, best_seg = _covering_tables(tables)
            areas_gt = [a for a, _ in per_gt]
            cnt_r = sum(float(np.sum(a * b)) for a, b in per_gt)
            sum_r = sum(float(np.sum(a)) for a, _ in per_gt)
            for j, (_, b) in enumerate(per_gt):
                best_all[j] = np.maximum(best_all[j], b)
            row2 = (cnt_r, sum_r, float(np.sum(area_seg * best_seg)), float(np.sum(area_seg)))
            row4 = (
                float(np.mean([_ri_from_table(n) for n in tables])),
                float(np.mean([_vi_from_table(n) for n in tables])),
            )
            row5 = tuple(np.mean([_gce_lce_from_table(n) for n in tables], axis=0))
        ev2[k] = (t, *row2)
        ev4[k] = (t, *row4)
        ev5[k] = (t, *row5)
        prev = (row2, row4, row5)
    cnt_best = sum(float(np.sum(a * b)) for a, b in zip(areas_gt, best_all, strict=True))
    return RegionImageResult(ev2, cnt_best, ev4, ev5)


def collect_region(thresholds, images: Sequence[RegionImageResult]) -> dict:
    """Dataset figures from per-image region results (official ``collect_eval_reg``).

    Args:
        thresholds: ``(T,)`` thresholds as printed (6 significant digits).
        images: per-image results in image order, rounded as the intermediate files
            (:meth:`RegionImageResult.rounded`) for digit-exact output.

    Returns:
        dict with tables ``cover_img`` ``(n, 4)`` ``[i, T*, R, P]``, ``cover_th`` ``(T, 2)``,
        ``ri_voi_thr`` ``(T, 3)``, ``gce_lce_thr`` ``(T, 3)``; summaries ``cover``
        ``[ODS_T, ODS, OIS, Best]`` and ``ri_voi`` ``[T_PRI, ODS_PRI, OIS_PRI, T_VOI,
        ODS_VOI, OIS_VOI]``; and scalars (``cover_ods``, ``pri_ods``, ``voi_ods``,
        ``gce_at_pri_ods``, ``gce_at_cover_ods``, ...).
    """
    thresholds = np.asarray(thresholds, float)
    if len(images) == 0:
        raise ValueError("no images to collect")
    t_n = thresholds.size
    tot = np.zeros((t_n, 4))
    ois = np.zeros(4)
    cnt_best = sum_best = 0.0
    ri_sum, voi_sum, gce_sum = np.zeros(t_n), np.zeros(t_n), np.zeros((t_n, 2))
    ois_ri = ois_voi = 0.0
    cover_img = []
    for i, im in enumerate(images):
        if im.ev2.shape[0] != t_n:
            raise ValueError(
                f"image {i + 1} has {im.ev2.shape[0]} thresholds, expected {t_n}; "
                "all images must have the same number of thresholds"
            )
        c = im.ev2[:, 1:5]
        r = c[:, 0] / (c[:, 1] + (c[:, 1] == 0))
        p = c[:, 2] / (c[:, 3] + (c[:, 3] == 0))
        first = int(np.argmax(r))
        cover_img.append((i + 1, thresholds[first], r[first], p[first]))
        tot += c
        last = int(np.flatnonzero(r == r.max())[-1])
        ois += c[last]
        cnt_best += im.cnt_r_best
        sum_best += c[0, 1]
        ri_sum += im.ev4[:, 1]
        voi_sum += im.ev4[:, 2]
        gce_sum += im.ev5[:, 1:3]
        ois_ri += im.ev4[:, 1].max()
        ois_voi += im.ev4[:, 2].min()
    n = len(images)
    r = tot[:, 0] / (tot[:, 1] + (tot[:, 1] == 0))
    i_cov = int(np.argmax(r))
    cover = [thresholds[i_cov], r[i_cov], ois[0] / (ois[1] + (ois[1] == 0)), cnt_best / sum_best]
    ri, voi, gce = ri_sum / n, voi_sum / n, gce_sum / n
    i_ri, i_voi = int(np.argmax(ri)), int(np.argmin(voi))
    ri_voi = [thresholds[i_ri], ri[i_ri], ois_ri / n, thresholds[i_voi], voi[i_voi], ois_voi / n]
    return {
        "cover_img": np.array(cover_img),
        "cover_th": np.stack([thresholds, r], axis=1),
        "ri_voi_thr": np.stack([thresholds, ri, voi], axis=1),
        "gce_lce_thr": np.stack([thresholds, gce[:, 0], gce[:, 1]], axis=1),
        "cover": [float(x) for x in cover],
        "ri_voi": [float(x) for x in ri_voi],
        "cover_ods_t": float(cover[0]),
        "cover_ods": float(cover[1]),
        "cover_ois": float(cover[2]),
        "cover_best": float(cover[3]),
        "pri_ods_t": float(ri_voi[0]),
        "pri_ods": float(ri_voi[1]),
        "pri_ois": float(ri_voi[2]),
        "voi_ods_t": float(ri_voi[3]),
        "voi_ods": float(ri_voi[4]),
        "voi_ois": float(ri_voi[5]),
        "gce_at_pri_ods": float(gce[i_ri, 0]),
        "lce_at_pri_ods": float(gce[i_ri, 1]),
        "gce_at_cover_ods": float(gce[i_cov, 0]),
        "lce_at_cover_ods": float(gce[i_cov, 1]),
    }
