"""``jaxseg segment``: superpixels, a segmentation hierarchy and pictures of them, for any images.

Usage (see ``docs/segment.md``)::

    jaxseg segment photo.jpg holiday/ --out results/ [--method slic] [--level medium] [--html]
    python -m jaxseg segment --sample astronaut --out results/ --html

The pipeline for one image (all methods):

1. read it whatever its format (:func:`jaxseg.io.read_image`), downscaled to
   ``--max-side``;
2. superpixels ``(h, w) int32`` ``0..m-1`` and one feature vector per superpixel: for
   ``slic`` the mean CIELAB colour / :data:`LAB_SCALE`, for ``felzenszwalb`` the same, for
   ``wang2020`` the learned region features of the network (head 2); ``dsc`` gives SLIC
   superpixels of the SuperAE reconstruction, its own regions (the hierarchy's first
   level) and their mean logits;
3. the merge hierarchy (:func:`jaxseg.regions.merge.hierarchy_levels`): the level ``1 - s`` in
   ``[0, 1]`` at which each adjacent superpixel pair joins; the segmentation at threshold
   ``t`` joins every pair with level ``<= t`` (``--level fine|medium|coarse`` is ``t`` =
   0.3 | 0.5 | 0.7);
4. back at the original size: superpixels upsampled with nearest-neighbour, segments and the
   ``ucm2`` drawn from them (:func:`jaxseg.regions.merge.labels_to_ucm2`).

Images of one shape go through one compiled, ``vmap``-ped function in batches of
``--batch-size`` (a partial batch is padded to the next power of two, so a folder of
same-size photos compiles at most ``1 + log2(batch_size)`` times).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import html
import math
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jaxseg import io

__all__ = [
    "LEVELS",
    "METHODS",
    "TRACE_COUNT",
    "Segmentation",
    "Segmenter",
    "default_method",
    "main",
    "segment",
]

METHODS = ("wang2020", "dsc", "slic", "felzenszwalb")
LEVELS = {"fine": 0.3, "medium": 0.5, "coarse": 0.7}
"""Named UCM thresholds (merge level ``1 - s``; higher = fewer, larger segments)."""
LAB_SCALE = 20.0
"""CIELAB units per feature unit for the classic methods: two regions whose mean colours
differ by an L1 distance of ``d`` Lab units merge at level ``tanh(d / (2 * LAB_SCALE))``, so
``medium`` (0.5) joins regions closer than about 22 Lab units."""
SAMPLES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
}
"""``--sample`` names: images shipped inside scikit-image's wheel (``skimage/data``)."""
PACKAGED_WANG2020 = Path(__file__).resolve().parent / "weights" / "wang2020_cpu_long"
PACKAGED_SUPERAE = Path(__file__).resolve().parent / "weights" / "superae_cpu"

MAX_BATCH_PIXELS = 1 << 21
"""At most this many pixels (~2.1 M) go through one device call, whatever ``--batch-size``
says, to bound the memory of the vmapped networks: 8 BSDS images (13 fit, rounded down to
a power of two), 2 at 1024x768."""

TRACE_COUNT: collections.Counter[str] = collections.Counter()
"""How many times each method's batched device function was traced (compiled); tests use
it to check that same-shape images do not recompile."""


def default_method() -> str:
    """``wang2020`` when its packaged checkpoint is installed, else ``slic``."""
    packaged = (PACKAGED_WANG2020 / "config.json").is_file()
    return "wang2020" if packaged and (PACKAGED_WANG2020 / "model.npz").is_file() else "slic"


DEFAULT_N_SEGMENTS = {"wang2020": 100, "dsc": 200, "slic": 200, "felzenszwalb": 200}
"""``--n-segments`` default per method (wang2020 is trained and evaluated with 100)."""


@dataclasses.dataclass
class Segmentation:
    """The result for one image, at the size of the image given.

    Attributes:
      superpixels: ``(H, W) int32`` labels ``0..m-1``, each one 4-connected region.
      segments: ``(H, W) int32`` labels ``0..k-1``, unions of superpixels at the threshold.
      ucm2: ``(2H+1, 2W+1) float64`` ultrametric contour map in ``[0, 1]`` (BSDS layout).
      timings: seconds per stage (``superpixels`` is the batch time divided by its size).
      compiled: whether this image's batch traced (compiled) the device function.
    """

    superpixels: np.ndarray
    segments: np.ndarray
    ucm2: np.ndarray
    timings: dict[str, float]
    compiled: bool = False


class _Method:
    """Superpixels + features for a batch of same-shape images ``(B, h, w, 3)``.

    Returns, per image, ``(superpixels, features, regions)``: connected superpixels
    ``0..m-1``; ``(m, C)`` features of the superpixels, or, when ``regions`` (a coarser
    labelling, a union of superpixels ``0..k-1``) is given, ``(k, C)`` features of the
    regions, which then are the hierarchy's first level (``dsc``).
    """

    batched = False  # runs a vmapped device function over a batch

    def __call__(
        self, images: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
        raise NotImplementedError


def _lab_features(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(m, 3)`` mean CIELAB colour of each superpixel / LAB_SCALE (host NumPy)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(image).reshape(-1, 3)
    flat = labels.ravel()
    m = int(flat.max()) + 1
    counts = np.maximum(np.bincount(flat, minlength=m), 1)
    sums = np.stack([np.bincount(flat, lab[:, c], minlength=m) for c in range(3)], axis=1)
    return sums / counts[:, None] / LAB_SCALE


@functools.cache
def _slic_batch_fn(n_segments: int, num_iters: int, compactness: float) -> Callable:
    import jax

    from jaxseg.ops.slic import slic_batch

    def run(images):  # (B, H, W, 3) float32 -> (B, H, W) int32
        TRACE_COUNT["slic"] += 1
        return slic_batch(
            images, n_segments=n_segments, compactness=compactness, num_iters=num_iters
        )

    return jax.jit(run)


class _Slic(_Method):
    """jaxseg's SLIC (:func:`jaxseg.ops.slic`) batched: k-means on device
    (:func:`jaxseg.ops.slic.slic_batch`), connectivity on host."""

    batched = True

    def __init__(self, *, n_segments: int, compactness: float, num_iters: int = 10):
        self.n_segments, self.compactness, self.num_iters = n_segments, compactness, num_iters

    def __call__(self, images):
        from jaxseg.ops.slic import grid_shape
        from jaxseg.regions.connectivity import enforce_connectivity

        fn = _slic_batch_fn(self.n_segments, self.num_iters, float(self.compactness))
        raw = np.asarray(fn(images))  # (B, H, W)
        _, height, width, _ = images.shape
        gh, gw = grid_shape(height, width, self.n_segments)
        min_size = int(0.5 * height * width / (gh * gw))  # as jaxseg.ops.slic.slic
        out = []
        for image, labels in zip(images, raw, strict=True):
            labels = enforce_connectivity(labels, min_size=min_size)
            out.append((labels, _lab_features(image, labels), None))
        return out


class _Felzenszwalb(_Method):
    """skimage's Felzenszwalb-Huttenlocher, ``scale`` searched to give ``n_segments`` regions."""

    def __init__(self, *, n_segments: int):
        self.n_segments = n_segments

    def __call__(self, images):
        from jaxseg.regions.generators import generate

        out = []
        for image in images:
            labels = generate("felzenszwalb", image, n_segments=self.n_segments)
            out.append((labels, _lab_features(image, labels), None))
        return out


@functools.cache
def _wang2020_batch_fn(graphdef, n_segments: int, num_iters: int) -> Callable:
    import jax
    from flax import nnx

    from jaxseg.train.tasks import wang2020

    def run(state, images):  # (B, H, W, 3) -> labels (B, H, W), region features (B, m, C)
        TRACE_COUNT["wang2020"] += 1
        model = nnx.merge(graphdef, state)

        def one(image):
            pred = wang2020.predict(model, image, n_segments=n_segments, num_iters=num_iters)
            return pred.labels, pred.region_features

        return jax.vmap(one)(images)

    return jax.jit(run)


def _majority_rows(connected: np.ndarray, raw: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` of the raw label covering most of each connected label (features follow the
    relabelling done by the connectivity step)."""
    k, m = int(connected.max()) + 1, int(raw.max()) + 1
    table = np.bincount(connected.ravel() * m + raw.ravel(), minlength=k * m).reshape(k, m)
    return rows[np.argmax(table, axis=1)]


class _Wang2020(_Method):
    """The trained wang2020 network: SSN superpixels + learned region features, batched."""

    batched = True
    MIN_SIZE_FACTOR = 0.25  # as jaxseg.experiments.wang2020: pieces < 0.25 * H*W/n pixels absorbed

    def __init__(self, *, n_segments: int, checkpoint, num_iters: int = 10):
        from flax import nnx

        from jaxseg.train.checkpointing import restore_model

        path = Path(checkpoint) if checkpoint is not None else PACKAGED_WANG2020
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"--method wang2020: no trained model in {path} (config.json missing); pass "
                "--checkpoint DIR (a training workdir or an exported model folder), or use "
                "--method slic"
            )
        model, config = restore_model(path)
        if config.get("task") != "wang2020":
            raise ValueError(f"{path} holds a {config.get('task')!r} model, not wang2020")
        self.graphdef, self.state = nnx.split(model)
        self.n_segments, self.num_iters = n_segments, num_iters

    def __call__(self, images):
        from jaxseg.regions.connectivity import enforce_connectivity

        fn = _wang2020_batch_fn(self.graphdef, self.n_segments, self.num_iters)
        raw, feats = (np.asarray(a) for a in fn(self.state, images))
        _, height, width, _ = images.shape
        min_size = max(1, int(self.MIN_SIZE_FACTOR * height * width / self.n_segments))
        out = []
        for labels_raw, rows in zip(raw, feats, strict=True):
            labels = enforce_connectivity(labels_raw, min_size=min_size)
            feats = _majority_rows(labels, labels_raw, rows.astype(np.float64))
            out.append((labels, feats, None))
        return out


class _Dsc(_Method):
    """Deep Superpixel Cut (lin2021): SLIC superpixels of the SuperAE reconstruction, then
    the per-image DSC optimisation (:func:`jaxseg.nn.dsc.dsc_segment_batch`, vmapped)."""

    batched = True

    def __init__(self, *, n_segments: int, compactness: float, checkpoint, num_iters: int):
        from jaxseg.train.checkpointing import restore_model

        path = Path(checkpoint) if checkpoint is not None else PACKAGED_SUPERAE
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"--method dsc: no trained SuperAE in {path} (config.json missing); pass "
                "--checkpoint DIR (a superae training workdir or exported model folder)"
            )
        self.model, config = restore_model(path)
        if config.get("task") != "superae":
            raise ValueError(f"{path} holds a {config.get('task')!r} model, not superae")
        self.scale = float(config.get("image_scale", 1.0))
        self.slic = _Slic(n_segments=n_segments, compactness=compactness)
        self.n_segments, self.num_iters = n_segments, num_iters

    def __call__(self, images):
        import jax
        import jax.numpy as jnp
        from skimage.transform import rescale

        from jaxseg.nn import dsc
        from jaxseg.train.tasks.superae import reconstruct

        if self.scale != 1.0:  # the SuperAE's training resolution, as jaxseg.experiments.lin2021
            images = np.stack(
                [rescale(im, self.scale, channel_axis=-1, anti_aliasing=True) for im in images]
            )
            images = np.clip(images, 0.0, 1.0).astype(np.float32)
        recon = np.stack([np.clip(reconstruct(self.model, im), 0.0, 1.0) for im in images])
        superpixels = np.stack([labels for labels, _, _ in self.slic(recon)])
        # A fixed padded superpixel count keeps one compiled function across batches.
        max_segments = 64 * math.ceil(2 * self.n_segments / 64)
        if int(superpixels.max()) + 1 > max_segments:
            max_segments = None
        # One key for every image: results do not depend on the batch an image lands in.
        key = jax.random.key_data(jax.random.key(0))
        keys = jax.random.wrap_key_data(jnp.broadcast_to(key, (len(images), *key.shape)))
        results = dsc.dsc_segment_batch(
            self.model,
            images,
            superpixels,
            keys=keys,
            max_segments=max_segments,
            num_iters=self.num_iters,
        )
        return [
            (sp, res.region_features.astype(np.float64), res.labels)
            for sp, res in zip(superpixels, results, strict=True)
        ]


def _make_method(
    method: str, *, n_segments: int, compactness: float, checkpoint, dsc_iters: int
) -> _Method:
    if method == "slic":
        return _Slic(n_segments=n_segments, compactness=compactness)
    if method == "felzenszwalb":
        return _Felzenszwalb(n_segments=n_segments)
    if method == "wang2020":
        return _Wang2020(n_segments=n_segments, checkpoint=checkpoint)
    if method == "dsc":
        return _Dsc(
            n_segments=n_segments,
            compactness=compactness,
            checkpoint=checkpoint,
            num_iters=dsc_iters,
        )
    raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")


def _segments_of_superpixels(num: int, pairs: np.ndarray, levels: np.ndarray, threshold: float):
    """``(m,)`` segment id of each superpixel: components of the pairs with level <= t."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    keep = levels <= threshold
    graph = coo_matrix(
        (np.ones(int(keep.sum())), (pairs[keep, 0], pairs[keep, 1])), shape=(num, num)
    )
    _, comp = connected_components(graph, directed=False)
    return comp.astype(np.int32)


def _levels_from_regions(labels: np.ndarray, regions: np.ndarray, features: np.ndarray):
    """Superpixel pairs and levels when the hierarchy starts from coarser ``regions``.

    Superpixels inside one region join at level 0; across regions, at the level at which
    :func:`jaxseg.regions.merge.hierarchy_levels` merges the two (adjacent) regions.
    """
    from jaxseg.regions.merge import adjacent_pairs_np, hierarchy_levels

    rpairs, rlevels = hierarchy_levels(regions, features)
    pairs = adjacent_pairs_np(labels)
    region = regions.ravel()[_first_pixels(labels)]  # region of each superpixel
    a, b = region[pairs[:, 0]], region[pairs[:, 1]]
    k = int(regions.max()) + 1
    keys = rpairs[:, 0] * k + rpairs[:, 1]  # sorted: rpairs come sorted, i < j
    query = np.minimum(a, b) * k + np.maximum(a, b)
    pos = np.clip(np.searchsorted(keys, query), 0, max(len(keys) - 1, 0))
    found = rlevels[pos] if len(keys) else np.ones(len(query))
    levels = np.where(a == b, 0.0, found)
    return pairs, levels


def _first_pixels(labels: np.ndarray) -> np.ndarray:
    """``(m,)`` flat index of the first pixel of each label ``0..m-1``."""
    _, first = np.unique(labels.ravel(), return_index=True)
    return first


def _raster_order(labels: np.ndarray) -> np.ndarray:
    """Renumbers labels ``0..k-1`` in the order of their first pixel (row-major)."""
    flat = labels.ravel()
    _, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int32)
    rank[np.argsort(first)] = np.arange(len(first), dtype=np.int32)
    return rank[inverse].reshape(labels.shape)


class Segmenter:
    """One method with its options; call it on same-shape images (host arrays).

    Args:
      method: one of :data:`METHODS`.
      n_segments: requested number of superpixels.
      threshold: UCM level in ``[0, 1]`` of the segmentation (see :data:`LEVELS`).
      compactness: SLIC's colour/position trade-off (``slic``, and ``dsc``'s superpixels).
      checkpoint: model folder: the wang2020 network for ``wang2020``, the SuperAE for
        ``dsc`` (default: the packaged ones, ``jaxseg/weights/{wang2020,superae}_cpu``).
      dsc_iters: DSC optimisation steps per image (lin2021: 128).
    """

    def __init__(
        self,
        method: str,
        *,
        n_segments: int = 200,
        threshold: float = LEVELS["medium"],
        compactness: float = 10.0,
        checkpoint: str | os.PathLike | None = None,
        dsc_iters: int = 128,
    ):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if isinstance(n_segments, bool) or not isinstance(n_segments, int) or n_segments < 1:
            raise ValueError(f"n_segments must be an int >= 1, got {n_segments!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1] (a UCM level), got {threshold!r}")
        if not float(compactness) > 0:
            raise ValueError(f"compactness must be > 0, got {compactness!r}")
        self.method = method
        self.threshold = float(threshold)
        if isinstance(dsc_iters, bool) or not isinstance(dsc_iters, int) or dsc_iters < 1:
            raise ValueError(f"dsc_iters must be an int >= 1, got {dsc_iters!r}")
        self.checkpoint = None
        if method in ("wang2020", "dsc"):
            default = PACKAGED_WANG2020 if method == "wang2020" else PACKAGED_SUPERAE
            self.checkpoint = Path(checkpoint) if checkpoint is not None else default
        self._impl = _make_method(
            method,
            n_segments=n_segments,
            compactness=compactness,
            checkpoint=checkpoint,
            dsc_iters=dsc_iters,
        )

    @property
    def batched(self) -> bool:
        return self._impl.batched

    def batch_for(self, shape: tuple[int, int], batch_size: int) -> int:
        """Images of ``shape`` per call: ``batch_size``, capped at :data:`MAX_BATCH_PIXELS`
        pixels per batch (a power of two below that when capped), 1 for host methods."""
        if not self.batched:
            return 1
        fit = max(1, MAX_BATCH_PIXELS // (shape[0] * shape[1]))
        return min(batch_size, 1 << (fit.bit_length() - 1))

    def __call__(
        self,
        images: Sequence[np.ndarray],
        *,
        output_shapes: Sequence[tuple[int, int]] | None = None,
    ) -> list[Segmentation]:
        """Segments a batch of ``(h, w, 3) float32`` images in ``[0, 1]`` of one shape.

        Args:
          images: the batch (one shape). A batched method pads it to the next power of two.
          output_shapes: ``(H, W)`` per image to upsample the results to (nearest
            neighbour); default: the input size.

        Returns:
          One :class:`Segmentation` per image.
        """
        from jaxseg.regions.merge import hierarchy_levels, labels_to_ucm2

        if not images:
            return []
        if len({im.shape for im in images}) != 1:
            raise ValueError("a batch must hold images of one shape; group them first")
        batch = np.stack(images).astype(np.float32)  # (B, h, w, 3)
        count = len(images)
        if self.batched:
            padded = 1 << (count - 1).bit_length()
            batch = np.concatenate([batch, np.repeat(batch[-1:], padded - count, axis=0)])
        traces = sum(TRACE_COUNT.values())
        start = time.perf_counter()
        results = self._impl(batch)[:count]
        sp_time = (time.perf_counter() - start) / count
        compiled = sum(TRACE_COUNT.values()) > traces
        out = []
        for i, (labels, features, regions) in enumerate(results):
            start = time.perf_counter()
            labels = np.asarray(labels, dtype=np.int32)
            if regions is None:
                pairs, levels = hierarchy_levels(labels, features)
            else:
                pairs, levels = _levels_from_regions(labels, regions, features)
            seg_of_sp = _segments_of_superpixels(
                int(labels.max()) + 1, pairs, levels, self.threshold
            )
            # Number segments in raster order of the processed image (cheaper than at
            # full size; upsampling keeps them consecutive).
            seg_of_sp = _raster_order(seg_of_sp[labels])[
                tuple(np.unravel_index(_first_pixels(labels), labels.shape))
            ]
            shape = images[i].shape[:2] if output_shapes is None else tuple(output_shapes[i])
            full = io.upsample_labels(labels, shape)
            ucm2 = labels_to_ucm2(full, pairs, levels)
            out.append(
                Segmentation(
                    superpixels=full.astype(np.int32),
                    segments=seg_of_sp[full],
                    ucm2=ucm2,
                    timings={"superpixels": sp_time, "hierarchy": time.perf_counter() - start},
                    compiled=compiled,
                )
            )
        return out


def segment(
    images: Sequence[np.ndarray],
    *,
    method: str = "slic",
    n_segments: int = 200,
    threshold: float = LEVELS["medium"],
    batch_size: int = 8,
    compactness: float = 10.0,
    checkpoint: str | os.PathLike | None = None,
    dsc_iters: int = 128,
) -> list[Segmentation]:
    """Segments images of any shapes in process (what ``jaxseg segment`` runs per image).

    Images of one shape are batched together (``batch_size`` at a time) through one
    compiled function.

    Args:
      images: ``(H, W, 3)`` float32 in ``[0, 1]`` (or uint8) arrays.
      method, n_segments, threshold, compactness, checkpoint, dsc_iters: see
        :class:`Segmenter`.
      batch_size: images per device batch.

    Returns:
      One :class:`Segmentation` per image, in order.

    Example:
      >>> import numpy as np
      >>> image = np.zeros((40, 60, 3), np.float32); image[:, 30:] = 1.0
      >>> [res] = segment([image], n_segments=6)
      >>> int(res.segments.max()) + 1, res.ucm2.shape
      (2, (81, 121))
    """
    segmenter = Segmenter(
        method,
        n_segments=n_segments,
        threshold=threshold,
        compactness=compactness,
        checkpoint=checkpoint,
        dsc_iters=dsc_iters,
    )
    arrays = [_as_float_image(im, i) for i, im in enumerate(images)]
    groups: dict[tuple, list[int]] = collections.defaultdict(list)
    for i, im in enumerate(arrays):
        groups[im.shape].append(i)
    out: list[Segmentation | None] = [None] * len(arrays)
    for shape, idx in groups.items():
        step = segmenter.batch_for(shape[:2], batch_size)
        for s in range(0, len(idx), step):
            chunk = idx[s : s + step]
            for i, res in zip(chunk, segmenter([arrays[i] for i in chunk]), strict=True):
                out[i] = res
    return out  # type: ignore[return-value]


def _as_float_image(image, index: int) -> np.ndarray:
    from jaxseg.ops.slic import as_float_rgb  # jax only when an image is segmented

    return np.asarray(as_float_rgb(image, name=f"images[{index}]"))


# --------------------------------------------------------------------------- the command


class _UsageError(Exception):
    """Bad command-line values: printed, exit code 2."""


@dataclasses.dataclass
class _Input:
    path: Path
    name: str  # output name: relative path without suffix, '/'-separated


@dataclasses.dataclass
class _Pending:
    item: _Input
    loaded: io.LoadedImage
    read_s: float


OUTPUT_FILES = (
    "superpixels.png",
    "superpixels.npy",
    "segments.png",
    "segments.npy",
    "ucm.png",
    "overlay_superpixels.png",
    "overlay_segments.png",
    "result.json",
)
DONE_FILE = "result.json"
"""Written last, removed first: an image folder is finished only when it is there (and the
files of :data:`REQUIRED_FILES` and the bench file with it)."""
REQUIRED_FILES = tuple(f for f in OUTPUT_FILES if f not in ("superpixels.png", "segments.png"))
"""What every finished image has (the label PNGs are left out above 65536 labels)."""
BENCH_DIR = "bench"
INDEX_FILE = "index.html"
RESERVED_NAMES = (BENCH_DIR, INDEX_FILE)
"""Names in ``OUT`` that belong to the command, not to an image."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1] (a UCM level), got {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxseg", description="Differentiable superpixels and segmentation in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "segment",
        help="superpixels, segments and a UCM hierarchy for images or folders of images",
        description=(
            "Segment images: writes OUT/<name>/ (superpixels, segments, UCM, overlays, "
            "result.json) and OUT/bench/<name>.npz (ucm2 + segs for `eval.py bench`). "
            "Exit code 1 when any input failed, 2 on bad options."
        ),
    )
    p.add_argument("inputs", nargs="*", metavar="IMAGE_OR_DIR", help="image files or folders")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument(
        "--sample",
        action="append",
        default=[],
        choices=sorted(SAMPLES),
        help="add an image shipped with scikit-image (repeatable), e.g. astronaut",
    )
    p.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help=f"segmentation method (default: {default_method()}; wang2020 when its "
        "packaged checkpoint is installed)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="model folder: the wang2020 network (--method wang2020) or the SuperAE "
        "(--method dsc); default: the packaged one",
    )
    p.add_argument(
        "--dsc-iters",
        type=_positive_int,
        default=128,
        help="DSC optimisation steps per image (default 128, as lin2021)",
    )
    p.add_argument(
        "--n-segments",
        type=_positive_int,
        help="requested superpixels (default 100 for wang2020, else 200)",
    )
    level = p.add_mutually_exclusive_group()
    level.add_argument("--threshold", type=_unit_float, help="UCM level in [0, 1] of the segments")
    level.add_argument(
        "--level",
        choices=sorted(LEVELS, key=LEVELS.get),
        default="medium",
        help="named threshold: fine=0.3 medium=0.5 (default) coarse=0.7",
    )
    p.add_argument("--compactness", type=float, default=10.0, help="SLIC compactness (default 10)")
    p.add_argument("--device", choices=("cpu", "gpu"), help="JAX device (default: JAX's)")
    p.add_argument(
        "--batch-size", type=_positive_int, default=8, help="images per batch (default 8)"
    )
    p.add_argument(
        "--max-side",
        type=int,
        default=1024,
        help="downscale images whose longer side exceeds this before segmenting; results "
        "are upsampled back (nearest-neighbour). 0 = never (default 1024)",
    )
    p.add_argument("-r", "--recursive", action="store_true", help="descend into subfolders")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument(
        "--html",
        action="store_true",
        help="write OUT/index.html to browse every finished image in OUT",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_segment)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxseg`` console script; returns the exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _UsageError as e:
        print(f"jaxseg {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # finished images are complete; no partial file is left
        print(f"jaxseg {args.command}: interrupted", file=sys.stderr)
        return 130


def _select_device(name: str | None):
    """The ``jax.Device`` for ``--device`` (None: JAX's default)."""
    if name is None:
        return None
    if name == "cpu" and "jax" not in sys.modules:
        os.environ["JAX_PLATFORMS"] = "cpu"  # before jax starts: do not initialise a GPU
    import jax

    try:
        return jax.devices(name)[0]
    except RuntimeError as e:
        raise _UsageError(
            f"--device {name}: JAX has no {name.upper()} here ({e}). Use --device cpu, or "
            "install a GPU build of JAX (pip install 'jax[cuda12]')."
        ) from None


def _collect_inputs(paths: Sequence[str], recursive: bool, out: Path, note, fail) -> list[_Input]:
    """Image files named or found in folders; notes skipped files, fails missing paths.

    Files under ``out`` are never inputs (a re-run must not segment its own overlays).
    """
    items: list[_Input] = []
    out = out.resolve()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            walker = path.rglob("*") if recursive else path.iterdir()
            found, skipped, subdirs = [], 0, 0
            for p in sorted(walker):
                if p.resolve().is_relative_to(out):
                    continue
                if p.is_dir():
                    subdirs += not recursive
                    continue
                if p.name.startswith(".") or p.suffix.lower() not in io.IMAGE_SUFFIXES:
                    skipped += 1
                    note(f"{p}: not an image file (by its suffix), skipped")
                    continue
                found.append(p)
            if subdirs:
                note(f"{path}: {subdirs} subfolder(s) not searched (use --recursive)")
            if not found:
                fail(path, "folder holds no image files")
            items += [_Input(p, p.relative_to(path).with_suffix("").as_posix()) for p in found]
        elif path.exists():
            items.append(_Input(path, path.stem))
        else:
            fail(path, "no such file or folder")
    return _unique_names(items)


def _unique_names(items: list[_Input]) -> list[_Input]:
    """Drops repeated files; colliding names get their suffix (``a_jpg``) or a number.

    A name that would land on the command's own outputs (:data:`RESERVED_NAMES`, any case)
    gets a suffix too: ``bench.jpg`` -> ``bench_jpg``, a subfolder ``bench/`` ->
    ``bench_dir/``, so ``OUT/bench/`` holds only benchmark files.
    """
    seen, unique = set(), []
    for item in items:
        key = item.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    groups: dict[str, list[_Input]] = collections.defaultdict(list)
    for item in unique:
        groups[item.name].append(item)
    for name, group in groups.items():
        suffixes = {item.path.suffix.lower() for item in group}
        if len(group) > 1 and len(suffixes) == len(group):  # a.jpg, a.png -> a_jpg, a_png
            for item in group:
                item.name = f"{name}_{item.path.suffix.lstrip('.').lower()}"
    for item in unique:
        first, sep, rest = item.name.partition("/")
        if first.casefold() in RESERVED_NAMES:
            tag = "dir" if sep else item.path.suffix.lstrip(".").lower() or "image"
            item.name = f"{first}_{tag}{sep}{rest}"
    # Still equal (the same relative name in two folders given, or two names that give
    # one bench file, a/b and a__b): number them in order.
    taken: set[str] = set()
    for item in unique:
        name, n = item.name, 1
        while _bench_key(name) in taken:
            n += 1
            name = f"{item.name}_{n}"
        item.name = name
        taken.add(_bench_key(name))
    return unique


def _bench_key(name: str) -> str:
    """The bench file stem of ``name`` (nested names flattened), compared without case."""
    return name.replace("/", "__").casefold()


def _bench_path(out: Path, name: str) -> Path:
    return out / BENCH_DIR / (name.replace("/", "__") + ".npz")


def _required_outputs(out: Path, name: str) -> list[Path]:
    """The files a finished image has, :data:`DONE_FILE` and the bench file last."""
    return [out / name / f for f in REQUIRED_FILES] + [_bench_path(out, name)]


def _has_any_output(out: Path, name: str) -> bool:
    paths = [out / name / f for f in OUTPUT_FILES] + [_bench_path(out, name)]
    return any(p.exists() for p in paths)


def _remove_stale_temps(out: Path, name: str) -> None:
    """Temp files an interrupted run left for image ``name`` (its folder and bench file)."""
    from jaxseg.fileio import remove_stale_temps

    remove_stale_temps(out / name)
    bench = _bench_path(out, name)
    remove_stale_temps(bench.parent, bench.name)


def _check_out(out: Path) -> None:
    """Creates ``out`` and writes and removes a probe file in it: a folder that cannot be
    written is a usage error before anything is read or computed."""
    from jaxseg.fileio import write_bytes_atomic

    probe = out / f".jaxseg_write_check.{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(probe, b"")
        probe.unlink()
    except OSError as e:
        blocker = next((p for p in (out, *out.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            why = f"{blocker} is a file, not a folder"
            fix = f"choose another --out folder, or move {blocker} away"
        else:
            why = e.strerror or str(e)
            fix = f"choose another --out folder you can write to, or make {out} writable"
        raise _UsageError(f"--out {out}: cannot write there ({why}); {fix}") from None


def _label_png(labels: np.ndarray) -> np.ndarray | None:
    return labels.astype(np.uint16) if labels.max() <= np.iinfo(np.uint16).max else None


def _write_outputs(
    out: Path, pending: _Pending, res: Segmentation, info: dict, write_input: bool
) -> None:
    from jaxseg import overlay
    from jaxseg.metrics.io import save_npz_result

    start = time.perf_counter()
    folder = out / pending.item.name
    display = pending.loaded.display
    # Unfinished until DONE_FILE is back: a rewrite stopped half-way is redone, not skipped.
    (folder / DONE_FILE).unlink(missing_ok=True)
    for kind, labels in (("superpixels", res.superpixels), ("segments", res.segments)):
        io.write_npy(folder / f"{kind}.npy", labels)
        png = _label_png(labels)
        if png is None:
            info["notes"].append(f"{kind}: more than 65536 labels, {kind}.png not written")
            (folder / f"{kind}.png").unlink(missing_ok=True)  # an earlier run's
        else:
            io.write_png(folder / f"{kind}.png", png)
        io.write_png(folder / f"overlay_{kind}.png", overlay.draw_boundaries(display, labels))
    io.write_png(folder / "ucm.png", overlay.ucm_image(res.ucm2))
    if write_input:
        with io.atomic_write(folder / "input.jpg") as f:
            from PIL import Image

            Image.fromarray(display).save(f, format="JPEG", quality=90)
    save_npz_result(_bench_path(out, pending.item.name), ucm2=res.ucm2, segs=res.segments[None] + 1)
    info["timings_s"]["write"] = time.perf_counter() - start
    info["timings_s"]["total"] = sum(info["timings_s"].values())
    io.write_json(folder / DONE_FILE, info)


def _cmd_segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import jaxseg

    if args.max_side < 0:
        raise _UsageError(f"--max-side must be >= 0 (0 = never downscale), got {args.max_side}")
    if not args.inputs and not args.sample:
        raise _UsageError("give at least one IMAGE_OR_DIR (or --sample astronaut)")
    _check_out(args.out)
    method = args.method or default_method()
    n_segments = args.n_segments or DEFAULT_N_SEGMENTS[method]
    threshold = args.threshold if args.threshold is not None else LEVELS[args.level]
    device = _select_device(args.device)
    max_side = args.max_side or None

    failures: list[str] = []

    def note(msg: str) -> None:
        tqdm.write(f"note: {msg}", file=sys.stderr)

    def fail(path, reason: str) -> None:
        failures.append(str(path))
        tqdm.write(f"error: {path}: {reason}", file=sys.stderr)

    paths = list(args.inputs)
    if args.sample:
        import skimage.data

        data_dir = Path(skimage.data.__file__).resolve().parent
        paths += [str(data_dir / SAMPLES[s]) for s in args.sample]
    items = _collect_inputs(paths, args.recursive, args.out, note, fail)
    try:
        segmenter = Segmenter(
            method,
            n_segments=n_segments,
            threshold=threshold,
            compactness=args.compactness,
            checkpoint=args.checkpoint,
            dsc_iters=args.dsc_iters,
        )
    except (ValueError, NotImplementedError, FileNotFoundError) as e:
        raise _UsageError(str(e)) from None
    params = {
        "n_segments": n_segments,
        "threshold": threshold,
        "level": None if args.threshold is not None else args.level,
        "compactness": args.compactness if method in ("slic", "dsc") else None,
        "dsc_iters": args.dsc_iters if method == "dsc" else None,
        "checkpoint": str(segmenter.checkpoint) if segmenter.checkpoint else None,
        "max_side": args.max_side,
        "batch_size": args.batch_size if segmenter.batched else 1,
    }
    done: list[_Input] = []
    skipped = 0
    buckets: dict[tuple, list[_Pending]] = collections.defaultdict(list)

    def run_batch(batch: list[_Pending]) -> None:
        try:
            results = segmenter(
                [p.loaded.image for p in batch],
                output_shapes=[p.loaded.original_shape for p in batch],
            )
        except Exception as e:  # noqa: BLE001 - report, keep going with the other images
            for p in batch:
                fail(p.item.path, f"segmentation failed ({type(e).__name__}: {e})")
            bar.update(len(batch))
            return
        for p, res in zip(batch, results, strict=True):
            info = {
                "input": str(p.item.path),
                "name": p.item.name,
                "method": method,
                "params": params,
                "jaxseg_version": jaxseg.__version__,
                "original_size": list(p.loaded.original_shape),
                "processed_size": list(p.loaded.image.shape[:2]),
                "n_superpixels": int(res.superpixels.max()) + 1,
                "n_segments": int(res.segments.max()) + 1,
                "batch_images": len(batch),
                "includes_compile": res.compiled,
                "notes": list(p.loaded.notes),
                "timings_s": {"read": p.read_s, **res.timings},
            }
            try:
                _write_outputs(args.out, p, res, info, args.html)
            except OSError as e:
                fail(p.item.path, f"cannot write outputs ({e})")
            else:
                done.append(p.item)
            bar.update(1)

    import contextlib

    import jax

    ctx = jax.default_device(device) if device is not None else contextlib.nullcontext()
    bar = tqdm(
        total=len(items),
        unit="img",
        desc=f"segment [{method}]",
        disable=args.quiet,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with ctx, bar:
        for item in items:
            _remove_stale_temps(args.out, item.name)
            required = _required_outputs(args.out, item.name)
            missing = [p.name for p in required if not p.is_file()]
            if not args.overwrite and not missing:
                done_file = args.out / item.name / DONE_FILE
                note(f"{item.path}: {done_file} exists, skipped (use --overwrite)")
                skipped += 1
                done.append(item)
                bar.update(1)
                continue
            if not args.overwrite and _has_any_output(args.out, item.name):
                note(
                    f"{item.path}: outputs in {args.out / item.name} are incomplete (no "
                    f"{', '.join(missing)}: an earlier run stopped); segmenting it again"
                )
            start = time.perf_counter()
            try:
                loaded = io.read_image(item.path, max_side=max_side)
            except io.ImageReadError as e:
                fail(item.path, e.reason)
                bar.update(1)
                continue
            for msg in loaded.notes:
                if msg.startswith("downscaled"):
                    note(f"{item.path}: {msg}")
            bucket = buckets[loaded.image.shape]
            bucket.append(_Pending(item, loaded, time.perf_counter() - start))
            if len(bucket) >= segmenter.batch_for(loaded.image.shape[:2], args.batch_size):
                run_batch(bucket)
                buckets[loaded.image.shape] = []
        for bucket in buckets.values():
            if bucket:
                run_batch(bucket)
    if args.html:
        try:
            _write_index(args.out)
        except OSError as e:
            fail(args.out / INDEX_FILE, f"cannot write the index ({e})")
    segmented = len(done) - skipped
    print(
        f"jaxseg segment: {segmented} segmented, {skipped} skipped (exist), "
        f"{len(failures)} failed; outputs in {args.out}"
        + (f" (open {args.out / 'index.html'})" if args.html else ""),
        file=sys.stderr,
    )
    return 1 if failures else 0


def _finished_names(out: Path) -> list[str]:
    """Names of every finished image in ``out`` (this run's and earlier runs'), sorted."""
    names = []
    for done in out.rglob(DONE_FILE):
        name = done.parent.relative_to(out).as_posix()
        first = name.partition("/")[0]
        if name != "." and first.casefold() not in RESERVED_NAMES:
            if all(p.is_file() for p in _required_outputs(out, name)):
                names.append(name)
    return sorted(names)


def _write_index(out: Path) -> None:
    """``OUT/index.html``: input, superpixel and segment overlays side by side, one row per
    finished image in ``out``."""
    from jaxseg.fileio import remove_stale_temps

    remove_stale_temps(out, INDEX_FILE)

    def cell(name: str, file: str, alt: str) -> str:
        if not (out / name / file).exists():
            return "<td>(not written)</td>"
        src = urllib.parse.quote(f"{name}/{file}")
        return f'<td><a href="{src}"><img src="{src}" alt="{html.escape(alt)}"></a></td>'

    rows = []
    for name in _finished_names(out):
        rows.append(
            f"<tr><th>{html.escape(name)}</th>"
            + cell(name, "input.jpg", f"{name} input")
            + cell(name, "overlay_superpixels.png", f"{name} superpixels")
            + cell(name, "overlay_segments.png", f"{name} segments")
            + cell(name, "ucm.png", f"{name} hierarchy")
            + "</tr>"
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>jaxseg segment</title>"
        "<style>img{max-width:320px;height:auto}td,th{vertical-align:top;padding:4px}"
        "</style></head><body>\n<table>\n<tr><th>image</th><th>input</th><th>superpixels</th>"
        "<th>segments</th><th>hierarchy (UCM)</th></tr>\n" + "\n".join(rows) + "\n</table>\n"
        "</body></html>\n"
    )
    io.write_text(out / INDEX_FILE, page)
