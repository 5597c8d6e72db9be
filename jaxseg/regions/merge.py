"""Superpixel merging (host NumPy): wang2020 Algorithm 1 and a merge hierarchy as a UCM.

Two ways to turn superpixels and their pairwise similarities into a segmentation:

* :func:`merge_threshold` is Algorithm 1 of Wang et al. (2020): every pair of adjacent
  superpixels with similarity ``s_ij > T`` (strictly) is merged, transitively (union-find
  over the adjacency graph), then each merged region is split into its 4-connected
  components and labels are made consecutive.
* :func:`merge_hierarchy` merges adjacent regions agglomeratively, the most similar pair
  first, until one region is left, and writes the whole hierarchy as an ultrametric contour
  map (UCM) in the BSDS ``ucm2`` layout. The boundary between two regions gets the level
  ``1 - s`` of the merge that joined them, so thresholding the UCM at ``t`` (the region
  benchmark keeps edges with level ``<= t`` open) gives the partition at similarity
  ``1 - t``, and one inference serves every threshold of the benchmark.

  - ``recompute=False`` (single linkage): the similarities of the initial superpixel pairs
    are fixed; two regions are as similar as their most similar pair of superpixels.
    Thresholding this UCM at ``t = 1 - T`` gives exactly Algorithm 1 at ``T`` (up to pairs
    whose similarity equals ``T`` exactly, which Algorithm 1 leaves apart and the UCM,
    whose threshold test is ``<=``, joins).
  - ``recompute=True`` (default, beyond the paper): a merged region's feature is the
    size-weighted mean of its parts' features (the mean of its pixels' features), and its
    similarities to its neighbours are recomputed with the same formula
    ``s = 2 / (1 + exp(|v_i - v_j|_1))``. A merged region can then be more similar to a
    neighbour than the previous merge was, so the levels are made monotone (each merge gets
    at least the previous merge's level); this keeps the map ultrametric.

  - ``linkage="boundary"`` / ``"upgma"`` (:func:`agglomerate`): the length-weighted mean
    of the superpixel pairs' levels along the regions' shared boundary, or the
    size-weighted mean level of all superpixel pairs across the two regions; the pair
    levels may be given (``pair_distances``, e.g. weighted by boundary evidence,
    :func:`boundary_stats`).

Several hierarchies of one image (superpixels at several counts) are averaged on the
finest superpixels by :func:`combine_levels`.

Similarity and level: ``s = 2 / (1 + exp(d))`` with ``d = |v_i - v_j|_1``, so the level is
``1 - s = tanh(d / 2)`` in ``[0, 1)``.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np

from jaxseg.regions.labels import check_labels

__all__ = [
    "DISTANCES",
    "Agglomeration",
    "adjacent_pairs_np",
    "agglomerate",
    "boundary_stats",
    "combine_levels",
    "hierarchy_levels",
    "labels_to_ucm2",
    "merge_hierarchy",
    "merge_threshold",
    "merge_to_counts",
    "monotone_levels",
    "neighbour_pixel_pairs",
    "project_levels",
    "similarity_np",
    "ultrametric_levels",
]


class _UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    def __init__(self, n: int):
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, a: int) -> int:
        parent = self.parent
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return int(a)

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def roots(self) -> np.ndarray:
        return np.array([self.find(a) for a in range(len(self.parent))], dtype=np.int64)


def similarity_np(distance) -> np.ndarray:
    """``s = 2 / (1 + exp(d))`` of wang2020 eq. 6 for L1 distances ``d >= 0``, float64.

    Written as ``1 - tanh(d / 2)``, which is the same function without overflow.
    """
    return 1.0 - np.tanh(np.asarray(distance, dtype=np.float64) / 2.0)


def _check_labels(labels) -> np.ndarray:
    return check_labels(labels, "labels").astype(np.int64)


def neighbour_pixel_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two ends of every 4-neighbour pixel pair of ``(H, W)`` ``x``, flat: horizontal
    pairs, then vertical ones."""
    first = np.concatenate([x[:, :-1].ravel(), x[:-1, :].ravel()])
    second = np.concatenate([x[:, 1:].ravel(), x[1:, :].ravel()])
    return first, second


def adjacent_pairs_np(labels) -> np.ndarray:
    """Pairs of labels that touch through a 4-neighbour pixel pair.

    Args:
      labels: ``(H, W)`` int label image, labels ``>= 0``.

    Returns:
      ``(P, 2)`` int64, rows ``(i, j)`` with ``i < j``, sorted, without repeats.
    """
    labels = _check_labels(labels)
    a, b = neighbour_pixel_pairs(labels)
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)
    return pairs.reshape(-1, 2)


def boundary_stats(labels, pairs, values=None) -> tuple[np.ndarray, np.ndarray]:
    """Length of each pair's shared boundary and the mean of ``values`` along it.

    A boundary is the set of 4-neighbour pixel pairs ``(p, q)`` with one pixel in each
    region; its length is their count, and a pixel pair's value is
    ``max(values[p], values[q])``.

    Args:
      labels: ``(H, W)`` int labels ``>= 0``.
      pairs: ``(P, 2)`` int label pairs ``(i, j)``, ``i < j`` (:func:`adjacent_pairs_np`).
      values: optional ``(H, W)`` float per-pixel values (e.g. an image gradient).

    Returns:
      ``(P,)`` float64 lengths (0 for pairs that do not touch) and ``(P,)`` float64 mean
      values (0 without ``values`` or where the length is 0).
    """
    labels = _check_labels(labels)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if values is not None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != labels.shape:
            raise ValueError(
                f"values must have the labels' shape {labels.shape}, got {values.shape}."
            )
    num = int(max(labels.max(), pairs.max(initial=0))) + 1
    a, b = neighbour_pixel_pairs(labels)
    keep = a != b
    key = np.minimum(a, b)[keep] * num + np.maximum(a, b)[keep]
    pair_keys = pairs.min(axis=1) * num + pairs.max(axis=1)
    order = np.argsort(pair_keys)
    pos = np.searchsorted(pair_keys[order], key)
    pos = np.minimum(pos, len(order) - 1) if len(order) else pos
    found = (pair_keys[order][pos] == key) if len(order) else np.zeros(len(key), bool)
    idx = order[pos[found]]
    lengths = np.bincount(idx, minlength=len(pairs)).astype(np.float64)
    means = np.zeros(len(pairs))
    if values is not None:
        va, vb = neighbour_pixel_pairs(values)
        pixel_values = np.maximum(va, vb)[keep][found]
        sums = np.bincount(idx, weights=pixel_values, minlength=len(pairs))
        means = np.where(lengths > 0, sums / np.maximum(lengths, 1.0), 0.0)
    return lengths, means


def _split_components(labels: np.ndarray, min_size: int) -> np.ndarray:
    # Imported here so that merge's pure graph code has no dependency at import time.
    from jaxseg.regions.connectivity import enforce_connectivity

    return np.asarray(enforce_connectivity(labels, min_size=min_size), dtype=np.int32)


def merge_threshold(
    labels,
    pairs,
    similarity,
    threshold: float,
    *,
    valid=None,
    min_size: int = 1,
) -> np.ndarray:
    """Algorithm 1 of wang2020: merge every adjacent pair with ``s_ij > threshold``.

    Union-find over the given pairs joins the superpixels transitively (so the result does
    not depend on the order in which pairs are visited), then every merged region is split
    into its 4-connected components, components smaller than ``min_size`` pixels are
    absorbed by a neighbour (``jaxseg.regions.connectivity.enforce_connectivity``), and labels are
    made consecutive.

    Args:
      labels: ``(H, W)`` int superpixel labels in ``[0, m)``.
      pairs: ``(P, 2)`` int pairs of adjacent superpixels (as ``Prediction.pairs``).
      similarity: ``(P,)`` float similarity of each pair, in ``[0, 1]``.
      threshold: ``T``; a pair merges when its similarity is strictly greater.
      valid: optional ``(P,)`` bool; rows that are False (padding) are ignored.
      min_size: regions smaller than this many pixels are absorbed after merging; the
        default 1 only splits disconnected regions.

    Returns:
      ``(H, W)`` int32 segmentation, labels ``0..k-1``, each one 4-connected region.

    Raises:
      ValueError / TypeError: on shapes, dtypes or values that do not fit (the message
        names the value and the fix).

    Example:
      >>> labels = np.array([[0, 1, 2]])
      >>> merge_threshold(labels, np.array([[0, 1], [1, 2]]), np.array([0.9, 0.2]), 0.5)
      array([[0, 0, 1]], dtype=int32)
    """
    labels = _check_labels(labels)
    pairs = np.asarray(pairs)
    similarity = np.asarray(similarity)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must have shape (P, 2), got {pairs.shape}.")
    if not np.issubdtype(pairs.dtype, np.integer):
        raise TypeError(f"pairs must be integers, got dtype {pairs.dtype}.")
    if similarity.shape != (pairs.shape[0],):
        raise ValueError(
            f"similarity must have shape ({pairs.shape[0]},) to match pairs, "
            f"got {similarity.shape}."
        )
    if not np.all(np.isfinite(similarity)):
        raise ValueError("similarity has non-finite values (NaN/inf); check the model output.")
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}.")
    if valid is None:
        valid = np.ones(pairs.shape[0], dtype=bool)
    else:
        valid = np.asarray(valid, dtype=bool)
        if valid.shape != (pairs.shape[0],):
            raise ValueError(f"valid must have shape ({pairs.shape[0]},), got {valid.shape}.")
    if int(min_size) < 1:
        raise ValueError(f"min_size must be >= 1, got {min_size}.")
    num = int(labels.max()) + 1
    live = pairs[valid]
    if live.size and (live.min() < 0 or live.max() >= num):
        raise ValueError(
            f"pairs refer to labels outside [0, {num}) (got {live.min()}..{live.max()}); "
            "pairs and labels must come from the same prediction."
        )

    uf = _UnionFind(num)
    for i, j in pairs[valid & (similarity > threshold)]:
        uf.union(int(i), int(j))
    merged = uf.roots()[labels]
    return _split_components(merged, int(min_size))


def labels_to_ucm2(labels, pairs, levels) -> np.ndarray:
    """Write per-pair boundary levels as a ``(2H+1, 2W+1)`` ``ucm2`` map.

    Layout (METRICS.md §1.2): pixel ``(r, c)`` at ``[2r+1, 2c+1]`` (always 0); the edge
    between ``(r, c)`` and ``(r, c+1)`` at ``[2r+1, 2c+2]``, between ``(r, c)`` and
    ``(r+1, c)`` at ``[2r+2, 2c+1]``; interior junctions ``[2r+2, 2c+2]`` are the max of
    their four edges; the outer frame is copied from its inner neighbour (row 0 <- row 1,
    column 0 <- column 1, row 2H <- row 2H-1, column 2W <- column 2W-1), as ``seg2bdry``
    does, so that ``ucm2[2::2, 2::2] >= t`` is the BSDS boundary map of the partition at
    ``t``.

    Args:
      labels: ``(H, W)`` int labels ``>= 0``.
      pairs: ``(P, 2)`` int label pairs ``(i, j)`` (either order).
      levels: ``(P,)`` float level of each pair's boundary, in ``[0, 1]``. Adjacent label
        pairs that are not listed get level 1; pixels with equal labels get 0.

    Returns:
      ``(2H+1, 2W+1)`` float64 ucm2.
    """
    labels = _check_labels(labels)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    levels = np.asarray(levels, dtype=np.float64).reshape(-1)
    if levels.shape[0] != pairs.shape[0]:
        raise ValueError(f"levels has {levels.shape[0]} rows but pairs has {pairs.shape[0]}.")
    num = int(max(labels.max(), pairs.max(initial=0))) + 1
    # Look levels up by a scalar key per unordered pair; 1.0 sentinel for unlisted pairs.
    keys = np.minimum(pairs[:, 0], pairs[:, 1]) * num + np.maximum(pairs[:, 0], pairs[:, 1])
    order = np.argsort(keys)
    keys = np.append(keys[order], np.iinfo(np.int64).max)
    levels = np.append(levels[order], 1.0)

    def edge_levels(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        query = np.minimum(a, b) * num + np.maximum(a, b)
        pos = np.searchsorted(keys, query)
        out = np.where(keys[pos] == query, levels[pos], 1.0)
        return np.where(a == b, 0.0, out)

    height, width = labels.shape
    ucm2 = np.zeros((2 * height + 1, 2 * width + 1), dtype=np.float64)
    ucm2[1:-1:2, 2:-1:2] = edge_levels(labels[:, :-1], labels[:, 1:])  # (H, W-1)
    ucm2[2:-1:2, 1:-1:2] = edge_levels(labels[:-1, :], labels[1:, :])  # (H-1, W)
    ucm2[2:-1:2, 2:-1:2] = np.maximum.reduce(
        [
            ucm2[1:-2:2, 2:-1:2],  # edge above the junction
            ucm2[3::2, 2:-1:2],  # edge below
            ucm2[2:-1:2, 1:-2:2],  # edge to the left
            ucm2[2:-1:2, 3::2],  # edge to the right
        ]
    )
    ucm2[0, :] = ucm2[1, :]
    ucm2[:, 0] = ucm2[:, 1]
    ucm2[-1, :] = ucm2[-2, :]
    ucm2[:, -1] = ucm2[:, -2]
    return ucm2


def _check_features(features, num_labels: int) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2:
        raise ValueError(
            f"features must have shape (m, C) (one row per superpixel), got {features.shape}."
        )
    if features.shape[0] < num_labels:
        raise ValueError(
            f"features has {features.shape[0]} rows but labels go up to {num_labels - 1}; "
            "pass one feature row per superpixel label (e.g. Prediction.region_features)."
        )
    if not np.issubdtype(features.dtype, np.number) or not np.all(np.isfinite(features)):
        raise ValueError("features must be finite numbers; check the model output for NaN/inf.")
    return features.astype(np.float64)


#: Distance of two regions from their mean features ``fa, fb (n, C)`` and pixel counts
#: ``na, nb (n,)``; smaller merges first.
DISTANCES = {
    # wang2020's UCM level 1 - s = tanh(|fa - fb|_1 / 2) (eq. 6)
    "level": lambda fa, fb, na, nb: np.tanh(np.abs(fa - fb).sum(axis=-1) / 2.0),
    # squared Euclidean distance of the means
    "squared": lambda fa, fb, na, nb: np.sum((fa - fb) ** 2, axis=-1),
    # Ward: sqrt(2 na nb / (na + nb)) |fa - fb|_2
    "ward": lambda fa, fb, na, nb: (
        np.sqrt(2.0 * na * nb / (na + nb)) * np.sqrt(np.sum((fa - fb) ** 2, axis=-1))
    ),
}
ORDERS = ("closest_pair", "smallest_region")
LINKAGES = ("average", "single", "boundary", "upgma")


@dataclasses.dataclass(frozen=True)
class Agglomeration:
    """The merge sequence of :func:`agglomerate`.

    Attributes:
      labels: ``(H, W)`` int64 initial labels ``0..num-1``.
      pairs: ``(P, 2)`` int64 adjacent initial label pairs (:func:`adjacent_pairs_np`).
      merges: ``(M, 2)`` int64 rows ``(absorbed, survivor)``: region ``absorbed`` joined
        region ``survivor`` (a region is named by one of its initial labels, and an
        absorbed name is not used again).
      distances: ``(M,)`` float64 distance of each merge (not made monotone).
      pair_merge: ``(P,)`` int64 index of the merge that joined the two sides of each
        pair, -1 where they were never joined.
    """

    labels: np.ndarray
    pairs: np.ndarray
    merges: np.ndarray
    distances: np.ndarray
    pair_merge: np.ndarray

    def partition(self, count: int | None = None) -> np.ndarray:
        """The regions after the merges that leave ``count`` regions (None: all merges).

        Args:
          count: wanted region count; the merges stop early when the sequence does (one
            region per connected group, or the stopping rule of :func:`agglomerate`).

        Returns:
          ``(H, W) int32`` labels ``0..n-1``, numbered by the smallest initial label of
          each region.
        """
        num = int(self.labels.max()) + 1
        steps = len(self.merges)
        if count is not None:
            present = int(np.count_nonzero(np.bincount(self.labels.ravel(), minlength=num)))
            steps = min(steps, max(0, present - int(count)))
        parent = np.arange(num)
        absorbed, survivor = self.merges[:steps].T
        parent[absorbed] = survivor
        while True:  # pointer jumping to the roots
            nxt = parent[parent]
            if np.array_equal(nxt, parent):
                break
            parent = nxt
        smallest = np.full(num, num, dtype=np.int64)
        np.minimum.at(smallest, parent, np.arange(num))
        _, out = np.unique(smallest[parent][self.labels], return_inverse=True)
        return out.reshape(self.labels.shape).astype(np.int32)


def agglomerate(
    labels,
    features,
    *,
    order: str = "closest_pair",
    distance: str = "level",
    linkage: str = "average",
    target: int = 1,
    min_size: float = 0,
    pair_distances=None,
) -> Agglomeration:
    """Greedy agglomeration of adjacent regions: THE merge routine of the package.

    Serves the UCM hierarchy (:func:`hierarchy_levels`), the region-count targets of
    :func:`merge_to_counts` (DSC) and the region pruning of
    :func:`jaxseg.regions.generators.merge_regions`.

    A region's feature is the size-weighted mean of its parts' features (the mean of its
    pixels' features when the rows are pixel means, :func:`jaxseg.regions.labels.region_means`).

    * ``order="closest_pair"``: merge the adjacent pair at the smallest distance, until
      ``target`` regions remain or no adjacent pair is left (a heap with lazy
      invalidation; ties go to the pair with the smallest region names). Of the two, the
      region with more neighbours keeps its name.
    * ``order="smallest_region"``: take the smallest region (ties: smallest name) and
      merge it into its closest neighbour (ties: smallest name), while it is smaller than
      ``min_size`` pixels or more than ``target`` regions remain.

    Args:
      labels: ``(H, W)`` int labels in ``[0, num)`` (labels without pixels are ignored).
      features: ``(num, C)`` float feature row of each label (extra rows are ignored).
      order: ``"closest_pair"`` or ``"smallest_region"``.
      distance: a key of :data:`DISTANCES` (``"level"``, ``"squared"``, ``"ward"``).
      linkage: ``"average"`` (distances of the merged regions' mean features, a centroid
        linkage), ``"single"`` (a region pair is as close as its closest initial label
        pair; the initial distances stay fixed), ``"boundary"`` (the mean of the initial
        pair distances along the regions' shared boundary, each initial pair weighted by
        its boundary length, :func:`boundary_stats`) or ``"upgma"`` (the size-weighted
        mean of the distances of every label pair, adjacent or not, one from each region:
        ``sum n_i n_j d(i, j) / (N_A N_B)``). ``"boundary"`` is reducible:
        a merge is never closer than the one before it (the new boundaries' means are
        means of boundaries that were not closer); the others can invert.
      target: stop at this many regions.
      min_size: with ``"smallest_region"``, also merge regions below this many pixels.
      pair_distances: optional ``(P,)`` distance of each adjacent initial pair, in the
        order of :func:`adjacent_pairs_np` ``(labels)``, in place of the feature distance
        (``"single"`` and ``"boundary"`` linkages only).

    Returns:
      :class:`Agglomeration`.

    Raises:
      ValueError / TypeError: bad labels or features, or an unknown option (the message
        names the value and the choices).
    """
    if order not in ORDERS:
        raise ValueError(f"order={order!r} is not one of {ORDERS}.")
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r} is not one of {tuple(DISTANCES)}.")
    if linkage not in LINKAGES:
        raise ValueError(f"linkage={linkage!r} is not one of {LINKAGES}.")
    labels = _check_labels(labels)
    num = int(labels.max()) + 1
    feats = _check_features(features, num)[:num]
    dist = DISTANCES[distance]
    sizes = np.bincount(labels.ravel(), minlength=num).astype(np.float64)
    sums = feats * sizes[:, None]
    pairs = adjacent_pairs_np(labels)
    p0, p1 = pairs[:, 0], pairs[:, 1]
    if pair_distances is None:
        init = dist(feats[p0], feats[p1], sizes[p0], sizes[p1])
    else:
        if linkage not in ("single", "boundary"):
            raise ValueError(
                f"pair_distances needs linkage 'single' or 'boundary', got {linkage!r}."
            )
        init = np.asarray(pair_distances, dtype=np.float64).reshape(-1)
        if init.shape != (len(pairs),) or not np.all(np.isfinite(init)):
            raise ValueError(
                f"pair_distances must be {len(pairs)} finite numbers (one per adjacent pair "
                f"of adjacent_pairs_np(labels)), got shape {init.shape}."
            )
    if linkage == "boundary":
        lengths, _ = boundary_stats(labels, pairs)
        weighted = lengths * init
    elif linkage == "upgma":  # dense distances of every label pair, updated per merge
        full = dist(feats[:, None, :], feats[None, :, :], sizes[:, None], sizes[None, :])
    # neighbours[a][z]: indices of the initial pairs on the boundary between regions a and
    # z; the same list object is stored under neighbours[z][a].
    neighbours: list[dict[int, list[int]]] = [{} for _ in range(num)]
    for idx, (i, j) in enumerate(pairs.tolist()):
        neighbours[i][j] = neighbours[j][i] = [idx]
    pair_merge = np.full(len(pairs), -1, dtype=np.int64)
    merges: list[tuple[int, int]] = []
    distances: list[float] = []
    count = int(np.count_nonzero(sizes))

    def distances_to(a: int, zs: list[int]) -> np.ndarray:
        if linkage == "single":
            return np.array([init[neighbours[a][z]].min() for z in zs])
        if linkage == "boundary":
            return np.array(
                [weighted[neighbours[a][z]].sum() / lengths[neighbours[a][z]].sum() for z in zs]
            )
        if linkage == "upgma":
            return full[a, zs]
        zi = np.asarray(zs, dtype=np.int64)
        return dist(sums[a] / sizes[a], sums[zi] / sizes[zi, None], sizes[a], sizes[zi])

    def join(survivor: int, absorbed: int, d: float) -> None:
        nonlocal count
        pair_merge[neighbours[survivor][absorbed]] = len(merges)
        merges.append((absorbed, survivor))
        distances.append(d)
        del neighbours[survivor][absorbed], neighbours[absorbed][survivor]
        for z, boundary in neighbours[absorbed].items():
            del neighbours[z][absorbed]
            if z in neighbours[survivor]:
                neighbours[survivor][z].extend(boundary)
            else:
                neighbours[survivor][z] = neighbours[z][survivor] = boundary
        neighbours[absorbed] = {}
        if linkage == "upgma":  # Lance-Williams update of the average linkage
            na, nb = sizes[survivor], sizes[absorbed]
            full[survivor] = (na * full[survivor] + nb * full[absorbed]) / (na + nb)
            full[:, survivor] = full[survivor]
        sums[survivor] += sums[absorbed]
        sizes[survivor] += sizes[absorbed]
        sizes[absorbed] = 0.0
        count -= 1

    if order == "closest_pair":
        version = np.zeros(num, dtype=np.int64)
        heap = [(float(init[k]), int(i), int(j), 0, 0) for k, (i, j) in enumerate(pairs)]
        heapq.heapify(heap)
        while heap and count > target:
            d, a, b, va, vb = heapq.heappop(heap)
            if version[a] != va or version[b] != vb or b not in neighbours[a]:
                continue  # stale: one of the regions changed since this entry was pushed
            if len(neighbours[a]) < len(neighbours[b]):  # cheaper dict merging
                a, b = b, a
            join(a, b, d)
            version[a] += 1
            version[b] += 1
            zs = list(neighbours[a])
            for z, dz in zip(zs, distances_to(a, zs).tolist(), strict=True):
                lo, hi = min(a, z), max(a, z)
                heapq.heappush(heap, (dz, lo, hi, int(version[lo]), int(version[hi])))
    else:
        heap = [(float(s), i) for i, s in enumerate(sizes) if s > 0]
        heapq.heapify(heap)
        while heap:
            size, i = heapq.heappop(heap)
            if size != sizes[i]:
                continue  # stale entry (grown or absorbed since)
            if count <= target and size >= min_size:
                break
            if not neighbours[i]:
                continue
            zs = sorted(neighbours[i])
            dz = distances_to(i, zs)
            j = zs[int(np.argmin(dz))]
            join(j, i, float(dz.min()))
            heapq.heappush(heap, (float(sizes[j]), j))
    return Agglomeration(
        labels=labels,
        pairs=pairs,
        merges=np.asarray(merges, dtype=np.int64).reshape(-1, 2),
        distances=np.asarray(distances, dtype=np.float64),
        pair_merge=pair_merge,
    )


def hierarchy_levels(
    labels,
    features,
    *,
    recompute: bool = True,
    linkage: str | None = None,
    pair_distances=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent regions agglomeratively; the level at which each superpixel pair joins.

    Starting from the superpixels, repeatedly merge the adjacent pair of regions with the
    highest similarity (lowest level ``1 - s``) until every connected group of superpixels
    is one region (:func:`agglomerate` with ``distance="level"``). With ``recompute=True``
    a merged region's feature is the size-weighted mean of its parts and its similarities
    to its neighbours are recomputed; with ``recompute=False`` the initial pair
    similarities stay fixed and a region pair's similarity is that of its most similar
    superpixel pair (single linkage). Levels are made non-decreasing along the merge
    sequence (each merge gets at least the previous merge's level), so they form an
    ultrametric.

    Args:
      labels: ``(H, W)`` int superpixel labels in ``[0, m)``.
      features: ``(m, C)`` float superpixel features ``v_i`` (rows of labels without pixels
        are ignored).
      recompute: recompute merged regions' features (True) or single linkage (False).
      linkage: a linkage of :func:`agglomerate` (``"single"``, ``"average"``,
        ``"boundary"``, ``"upgma"``) in place of ``recompute`` (None: from ``recompute``).
      pair_distances: optional ``(P,)`` levels in ``[0, 1]`` of the adjacent superpixel
        pairs in place of ``tanh(|v_i - v_j|_1 / 2)`` (see :func:`agglomerate`).

    Returns:
      ``pairs`` ``(P, 2)`` int64 adjacent superpixel pairs (``i < j``, as
      :func:`adjacent_pairs_np`) and ``levels`` ``(P,)`` float64 in ``[0, 1)``: the level of
      the merge that put ``i`` and ``j`` in one region.
    """
    if linkage is None:
        linkage = "average" if recompute else "single"
    agg = agglomerate(
        labels, features, distance="level", linkage=linkage, pair_distances=pair_distances
    )
    return agg.pairs, monotone_levels(agg)


def ultrametric_levels(labels, pair_levels) -> np.ndarray:
    """The largest ultrametric below per-pair levels (single linkage on them).

    Args:
      labels: ``(H, W)`` int labels ``0..m-1``.
      pair_levels: ``(P,)`` float level of each pair of :func:`adjacent_pairs_np` ``(labels)``.

    Returns:
      ``(P,)`` float64: for each adjacent pair, the smallest ``t`` at which its two labels
      are connected through pairs with level ``<= t`` (so thresholding the UCM at ``t``
      gives exactly the connected components of the pairs with level ``<= t``).
    """
    labels = _check_labels(labels)
    num = int(labels.max()) + 1
    _, levels = hierarchy_levels(
        labels, np.zeros((num, 1)), linkage="single", pair_distances=pair_levels
    )
    return levels


def project_levels(fine, coarse, coarse_pairs, coarse_levels) -> np.ndarray:
    """A coarser superpixel hierarchy carried onto the adjacency graph of finer superpixels.

    Each fine superpixel takes the coarse superpixel covering most of it
    (:func:`jaxseg.regions.labels.majority_label`), so every coarse boundary is moved onto
    fine superpixel boundaries. Fine pairs inside one coarse superpixel get level 0, pairs
    across two coarse superpixels that are adjacent the level of that coarse pair, other
    pairs 1; the result is made an ultrametric (:func:`ultrametric_levels`), which gives
    two fine superpixels the coarse hierarchy's level of their coarse superpixels.

    Args:
      fine: ``(H, W)`` int fine labels ``0..m-1``.
      coarse: ``(H, W)`` int coarse labels of the same image.
      coarse_pairs, coarse_levels: the coarse hierarchy (:func:`hierarchy_levels`).

    Returns:
      ``(P,)`` float64 level of each pair of :func:`adjacent_pairs_np` ``(fine)``.
    """
    from jaxseg.regions.labels import majority_label

    fine = _check_labels(fine)
    owner = majority_label(fine, coarse)
    pairs = adjacent_pairs_np(fine)
    a, b = owner[pairs[:, 0]], owner[pairs[:, 1]]
    coarse_pairs = np.asarray(coarse_pairs, dtype=np.int64).reshape(-1, 2)
    num = int(max(owner.max(initial=0), coarse_pairs.max(initial=0))) + 1
    keys = coarse_pairs.min(axis=1) * num + coarse_pairs.max(axis=1)
    order = np.argsort(keys)
    sorted_keys = np.append(keys[order], np.iinfo(np.int64).max)
    sorted_levels = np.append(np.asarray(coarse_levels, np.float64)[order], 1.0)
    query = np.minimum(a, b) * num + np.maximum(a, b)
    pos = np.searchsorted(sorted_keys, query)
    levels = np.where(sorted_keys[pos] == query, sorted_levels[pos], 1.0)
    return ultrametric_levels(fine, np.where(a == b, 0.0, levels))


def combine_levels(fine, hierarchies) -> tuple[np.ndarray, np.ndarray]:
    """The mean of several superpixel hierarchies of one image, on the finest superpixels.

    Each hierarchy is carried onto ``fine``'s adjacency graph (:func:`project_levels`;
    ``fine``'s own is used as is), their levels are averaged pair by pair, and the mean is
    made an ultrametric (:func:`ultrametric_levels`), so that the UCM and its cuts agree.

    Args:
      fine: ``(H, W)`` int labels ``0..m-1`` of the base superpixels.
      hierarchies: ``(labels, pairs, levels)`` per scale; a scale whose labels are
        ``fine`` itself must have ``pairs == adjacent_pairs_np(fine)``.

    Returns:
      ``pairs`` ``(P, 2)`` (:func:`adjacent_pairs_np` of ``fine``) and ``(P,)`` levels.
    """
    fine = _check_labels(fine)
    pairs = adjacent_pairs_np(fine)
    total = np.zeros(len(pairs))
    for labels, hpairs, levels in hierarchies:
        if labels is fine or np.array_equal(labels, fine):
            if not np.array_equal(np.asarray(hpairs).reshape(-1, 2), pairs):
                raise ValueError("the finest hierarchy's pairs must be adjacent_pairs_np(fine).")
            total += np.asarray(levels, np.float64)
        else:
            total += project_levels(fine, labels, hpairs, levels)
    if not hierarchies:
        raise ValueError("combine_levels needs at least one hierarchy.")
    return pairs, ultrametric_levels(fine, total / len(hierarchies))


def monotone_levels(agg: Agglomeration) -> np.ndarray:
    """``(P,)`` level of each initial pair of ``agg``: the running maximum of the merge
    distances at the merge that joined it (an ultrametric), 1 where never joined."""
    running = np.maximum.accumulate(agg.distances) if len(agg.distances) else agg.distances
    return np.where(agg.pair_merge >= 0, running[np.maximum(agg.pair_merge, 0)], 1.0)


def merge_to_counts(labels, features, counts, *, distance: str = "squared") -> list[np.ndarray]:
    """Greedy agglomeration of adjacent regions into coarser segmentations.

    Repeatedly merges the adjacent pair at the smallest distance between size-weighted
    mean features (:func:`agglomerate`, ``"closest_pair"``; squared Euclidean by default)
    and records the segmentation when the region count reaches each requested count.

    Args:
      labels: ``(H, W)`` int regions ``0..k-1`` (e.g. ``jaxseg.nn.dsc.DSCResult.labels``).
      features: ``(k, D)`` region features (e.g. mean logits).
      counts: region counts wanted; counts ``>= k`` give ``labels`` itself; a count below
        what merging adjacent regions can reach gives one region per connected group.
      distance: a key of :data:`DISTANCES`.

    Returns:
      one ``(H, W) int32`` label image ``0..n-1`` per entry of ``counts`` (numbered by the
      smallest initial label of each region).
    """
    counts = [int(c) for c in counts]
    if not counts:
        return []
    agg = agglomerate(labels, features, distance=distance, target=min(counts))
    return [agg.partition(c) for c in counts]


def merge_hierarchy(labels, features, *, recompute: bool = True) -> np.ndarray:
    """Agglomerative merging of superpixels, written as a ucm2 (ultrametric contour map).

    The hierarchy of :func:`hierarchy_levels` drawn in the BSDS double-size layout of
    :func:`labels_to_ucm2`: each boundary between two superpixels carries the level at
    which they were merged. Thresholding at ``t`` (connected components of ``ucm2 <= t``,
    as the region benchmark does) gives the segmentation at similarity ``1 - t``; with
    ``recompute=False`` this is :func:`merge_threshold` at ``T = 1 - t``.

    Args:
      labels: ``(H, W)`` int superpixel labels in ``[0, m)``.
      features: ``(m, C)`` float superpixel features (``Prediction.region_features``).
      recompute: see :func:`hierarchy_levels`.

    Returns:
      ``(2H+1, 2W+1)`` float64 ucm2 with values in ``[0, 1]``.

    Example:
      >>> labels = np.array([[0, 1, 2]])
      >>> ucm2 = merge_hierarchy(labels, np.array([[0.0], [0.1], [3.0]]))
      >>> np.round(ucm2[1, 2:-1:2], 3)  # the edges 0|1 and 1|2 of the pixel row
      array([0.05 , 0.901])
    """
    pairs, levels = hierarchy_levels(labels, features, recompute=recompute)
    return labels_to_ucm2(labels, pairs, levels)
