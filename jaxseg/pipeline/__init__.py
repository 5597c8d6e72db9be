"""Segmentation pipeline: one registry of methods behind ``jaxseg segment`` and the evaluations.

A *method* (:data:`METHODS`) turns a batch of same-shape images into one :class:`Hierarchy`
per image at the size it was given: connected superpixels and either a merge hierarchy
(the level in ``[0, 1]`` at which each adjacent superpixel pair joins, a UCM) or a stack
of segmentations (one per setting, the lin2021 protocol). :class:`Segmenter` runs a method
over batches and turns each hierarchy into a :class:`Segmentation` at the original size:

* superpixels upsampled nearest-neighbour
  (:func:`jaxseg.regions.labels.upsample_labels`);
* with pairs and levels: ``ucm2`` drawn on the upsampled superpixels
  (:func:`jaxseg.regions.merge.labels_to_ucm2`) and ``segments`` at the method's
  ``threshold`` ``t``: the connected components of the pairs with level ``<= t``
  (:func:`cut`), which is what the benchmark's thresholding of that ``ucm2`` gives and,
  for single-linkage levels, wang2020's Algorithm 1 at ``T = 1 - t``
  (:func:`jaxseg.regions.merge.merge_threshold`; the two differ only for a pair whose
  similarity is exactly ``T``);
* with ``segs``: the stack upsampled, ``segments = segs[segs_level]``, no ``ucm2``.

Segment labels are numbered in raster order of their first pixel.

Images of one shape go through one compiled device function for a batched method; a
partial batch runs as power-of-two chunks (7 images: 4, 2 and 1), so a folder of
same-size photos compiles at most ``1 + log2(batch_size)`` times and no image is computed
twice, and a batch holds at most :data:`MAX_BATCH_PIXELS` pixels.

Example:
  >>> import numpy as np, jaxseg
  >>> image = np.zeros((40, 60, 3), np.float32); image[:, 30:] = 1.0
  >>> res = jaxseg.segment(image, method="slic", n_segments=6, threshold=0.5)
  >>> int(res.segments.max()) + 1, res.ucm2.shape
  (2, (81, 121))
"""

from __future__ import annotations

import collections
import dataclasses
import time
import types
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "MAX_BATCH_PIXELS",
    "METHODS",
    "TRACE_COUNT",
    "Hierarchy",
    "Method",
    "Segmentation",
    "Segmenter",
    "cut",
    "default_method",
    "register",
    "segment",
]

MAX_BATCH_PIXELS = 1 << 21
"""At most this many pixels (~2.1 M) go through one device call, whatever the batch size
asked, to bound the memory of the vmapped networks: 8 BSDS images (13 fit, rounded down
to a power of two), 2 at 1024x768."""

VECTORIZE_MEANING = (
    "the images of a batch side by side under jax.vmap, the throughput an accelerator needs; "
    "an image's labels can then differ by float rounding between batch sizes"
)
"""What the ``vectorize`` setting of the batched network methods does when true. When false
(their default), the images of a batch run one after another inside one compiled call
(``jax.lax.map``): an image's labels are the same in any batch, and on a CPU it is faster
(a vmapped batch's temporaries are the batch size times larger)."""

TRACE_COUNT: collections.Counter[str] = collections.Counter()
"""How many times each method's batched device function was traced (compiled); methods
add one per trace under their name, tests use it to check that same-shape images do not
recompile."""

_REGISTRY: dict[str, type[Method]] = {}
METHODS: Mapping[str, type[Method]] = types.MappingProxyType(_REGISTRY)
"""Read-only mapping method name -> method class (filled by :func:`register`)."""


def register(name: str):
    """Class decorator: adds a :class:`Method` subclass to :data:`METHODS` under ``name``."""

    def add(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method {name!r} is registered twice ({_REGISTRY[name]}, {cls})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return add


@dataclasses.dataclass
class Hierarchy:
    """What a method gives for one image, at the size it processed.

    Attributes:
      superpixels: ``(h, w) int32`` labels ``0..m-1``, each one 4-connected region.
      pairs: ``(P, 2) int`` adjacent superpixel pairs (with ``levels``), or None.
      levels: ``(P,) float`` level in ``[0, 1]`` at which each pair joins (a UCM), or None.
      segs: ``(L, h, w) int32`` segmentations, labels ``0..k-1`` (instead of pairs/levels).
      segs_level: index into ``segs`` of the default segmentation.
    """

    superpixels: np.ndarray
    pairs: np.ndarray | None = None
    levels: np.ndarray | None = None
    segs: np.ndarray | None = None
    segs_level: int = 0

    def __post_init__(self):
        if (self.pairs is None) == (self.segs is None):
            raise ValueError("a Hierarchy holds either pairs and levels or segs, not both/none")
        if self.pairs is not None and self.levels is None:
            raise ValueError("a Hierarchy with pairs needs levels")


@dataclasses.dataclass
class Segmentation:
    """The result for one image, at the size of the image given.

    Attributes:
      superpixels: ``(H, W) int32`` labels ``0..m-1``.
      segments: ``(H, W) int32`` labels ``0..k-1``: the default cut (the UCM at the
        method's ``threshold``, or ``segs[segs_level]``).
      ucm2: ``(2H+1, 2W+1) float64`` ultrametric contour map in ``[0, 1]`` (BSDS layout),
        or None for a method that gives a stack of segmentations.
      segs: ``(L, H, W) int32`` that stack (labels ``0..k-1``), or None.
      settings: the method's resolved settings (JSON-able).
      timings: seconds per stage (``superpixels`` is the batch time divided by its size).
      compiled: whether this image's batch traced (compiled) a device function.
    """

    superpixels: np.ndarray
    segments: np.ndarray
    ucm2: np.ndarray | None
    segs: np.ndarray | None
    settings: dict
    timings: dict[str, float]
    compiled: bool = False


class Method:
    """Base of the registered methods: settings resolution and checks.

    Subclasses set ``batched``, implement :meth:`defaults` (every setting with its default
    value: the names a user may pass), :meth:`check` (raise ``ValueError`` naming a bad
    value and the fix) and ``__call__(images (B, h, w, 3) float32) -> list[Hierarchy]``.
    """

    name: ClassVar[str] = ""
    batched: ClassVar[bool] = False

    @classmethod
    def defaults(cls, checkpoint=None) -> dict[str, Any]:
        """Every setting of the method with its default value."""
        raise NotImplementedError

    def __init__(self, **settings):
        base = self.defaults(settings.get("checkpoint"))
        unknown = sorted(set(settings) - set(base))
        if unknown:
            raise ValueError(
                f"method {self.name!r} has no setting {', '.join(map(repr, unknown))}; its "
                f"settings are: {', '.join(sorted(base))}"
            )
        self.settings: dict[str, Any] = {**base, **settings}
        self.check(self.settings)

    def check(self, settings: dict[str, Any]) -> None:
        """Raises ``ValueError`` for a bad setting (overridden per method)."""

    def __call__(self, images: np.ndarray) -> list[Hierarchy]:
        raise NotImplementedError


def as_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int; it must be an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_count(settings: dict, name: str) -> None:
    """``settings[name]`` must be an int >= 1."""
    settings[name] = as_count(name, settings[name])


def check_unit(settings: dict, name: str) -> None:
    """``settings[name]`` must be a number in ``[0, 1]`` (a UCM level)."""
    value = settings[name]
    try:
        ok = 0.0 <= float(value) <= 1.0
    except (TypeError, ValueError):
        ok = False
    if isinstance(value, bool) or not ok:
        raise ValueError(f"{name} must lie in [0, 1] (a UCM level), got {value!r}")
    settings[name] = float(value)


def check_bool(settings: dict, name: str, meaning: str) -> None:
    """``settings[name]`` must be ``true`` or ``false``; ``meaning`` says what ``true`` does."""
    value = settings[name]
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be true or false (true: {meaning}), got {value!r}")
    settings[name] = bool(value)


def check_positive(settings: dict, name: str, *, zero: bool = False) -> None:
    """``settings[name]`` must be a number > 0 (``>= 0`` with ``zero``)."""
    value = settings[name]
    try:
        ok = float(value) >= 0 if zero else float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if isinstance(value, bool) or not ok or not np.isfinite(float(value)):
        raise ValueError(f"{name} must be a number {'>=' if zero else '>'} 0, got {value!r}")
    settings[name] = float(value)


def default_method() -> str:
    """``wang2020`` when its packaged model is installed, else ``slic``."""
    from jaxseg.pipeline.wang2020 import PACKAGED

    installed = (PACKAGED / "config.json").is_file() and (PACKAGED / "model.npz").is_file()
    return "wang2020" if installed else "slic"


def cut(superpixels: np.ndarray, pairs: np.ndarray, levels: np.ndarray, threshold: float):
    """Segments at UCM threshold ``t``: connected components of the pairs with level ``<= t``.

    Args:
      superpixels: ``(h, w)`` int labels ``0..m-1``.
      pairs: ``(P, 2)`` int superpixel pairs; levels: ``(P,)`` their levels.
      threshold: ``t`` in ``[0, 1]``.

    Returns:
      ``(m,)`` int32 segment id of each superpixel, ``0..k-1`` in raster order of the
      segments' first pixels in ``superpixels``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from jaxseg.regions.labels import raster_order

    num = int(superpixels.max()) + 1
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    keep = np.asarray(levels) <= threshold
    graph = coo_matrix(
        (np.ones(int(keep.sum())), (pairs[keep, 0], pairs[keep, 1])), shape=(num, num)
    )
    _, comp = connected_components(graph, directed=False)
    _, first = np.unique(superpixels.ravel(), return_index=True)  # first pixel per superpixel
    ordered = raster_order(comp[superpixels])
    return ordered.ravel()[first].astype(np.int32)


def _finish(
    hier: Hierarchy, settings: dict, shape: tuple[int, int], timings: dict, compiled: bool
) -> Segmentation:
    from jaxseg.regions.labels import raster_order, upsample_labels
    from jaxseg.regions.merge import labels_to_ucm2

    start = time.perf_counter()
    small = np.asarray(hier.superpixels, dtype=np.int32)
    full = upsample_labels(small, shape).astype(np.int32)
    ucm2 = segs = None
    if hier.pairs is not None:
        if "threshold" not in settings:
            raise ValueError(f"a method with a UCM needs a 'threshold' setting, got {settings}")
        seg_of_sp = cut(small, hier.pairs, hier.levels, settings["threshold"])
        segments = seg_of_sp[full]
        ucm2 = labels_to_ucm2(full, hier.pairs, hier.levels)
    else:
        segs = np.stack(
            [raster_order(upsample_labels(np.asarray(s), shape)) for s in hier.segs]
        ).astype(np.int32)
        segments = segs[hier.segs_level]
    timings = {**timings, "hierarchy": time.perf_counter() - start}
    return Segmentation(
        superpixels=full,
        segments=segments.astype(np.int32),
        ucm2=ucm2,
        segs=segs,
        settings=dict(settings),
        timings=timings,
        compiled=compiled,
    )


class Segmenter:
    """One method with its settings; call it on same-shape images, or :meth:`map` any.

    Args:
      method: a name of :data:`METHODS`; None: :func:`default_method`.
      checkpoint: model folder of a learned method (default: its packaged model).
      **settings: the method's settings (``Segmenter(m).settings`` lists them with their
        defaults); None values mean the default.

    Raises:
      ValueError: an unknown method or setting (the message lists the known ones), or a
        bad value.
    """

    def __init__(self, method: str | None = None, *, checkpoint=None, **settings):
        name = default_method() if method is None else method
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
        given = {k: v for k, v in settings.items() if v is not None}
        if checkpoint is not None:
            given["checkpoint"] = checkpoint
        self.method: Method = METHODS[name](**given)

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def settings(self) -> dict:
        return self.method.settings

    @property
    def batched(self) -> bool:
        return self.method.batched

    def batch_for(self, shape: tuple[int, int], batch_size: int) -> int:
        """Images of ``shape`` per call: ``batch_size``, capped at :data:`MAX_BATCH_PIXELS`
        pixels per batch (a power of two below that when capped), 1 for host methods."""
        if not self.batched:
            return 1
        fit = max(1, MAX_BATCH_PIXELS // (shape[0] * shape[1]))
        return min(batch_size, 1 << (fit.bit_length() - 1))

    def __call__(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        output_shapes: Sequence[tuple[int, int]] | None = None,
    ) -> list[Segmentation]:
        """Segments a batch of ``(h, w, 3) float32`` images in ``[0, 1]`` of one shape.

        Args:
          images: the batch (one shape). A batched method gets it in power-of-two chunks
            (the binary digits of its size: 7 images are 4, 2 and 1), so that one shape
            compiles at most ``1 + log2(batch_size)`` programs.
          output_shapes: ``(H, W)`` per image to upsample the results to (nearest
            neighbour); default: the input size.

        Returns:
          One :class:`Segmentation` per image.
        """
        if len(images) == 0:
            return []
        if len({np.shape(im) for im in images}) != 1:
            raise ValueError("a batch must hold images of one shape; group them (or use map)")
        batch = np.stack([np.asarray(im) for im in images]).astype(np.float32)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"images must be (h, w, 3) RGB arrays, got {batch.shape[1:]}")
        if output_shapes is not None and len(output_shapes) != len(images):
            raise ValueError(
                f"output_shapes has {len(output_shapes)} entries for {len(images)} images"
            )
        count = len(batch)
        sizes = [count]
        if self.batched:
            sizes = [1 << b for b in reversed(range(count.bit_length())) if count >> b & 1]
        traces = sum(TRACE_COUNT.values())
        start = time.perf_counter()
        hierarchies = []
        for first, size in zip(np.cumsum([0, *sizes[:-1]]), sizes, strict=True):
            hierarchies += self.method(batch[first : first + size])
        timings = {"superpixels": (time.perf_counter() - start) / count}
        compiled = sum(TRACE_COUNT.values()) > traces
        shapes = output_shapes or [batch.shape[1:3]] * count
        return [
            _finish(h, self.settings, tuple(s), timings, compiled)
            for h, s in zip(hierarchies, shapes, strict=True)
        ]

    def map(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[Segmentation]:
        """Segments images of any shapes (float in ``[0, 1]`` or uint8), in order.

        Images of one shape are batched together (``batch_size`` at a time, see
        :meth:`batch_for`) through one compiled function.
        """
        from jaxseg.ops.slic import as_float_rgb

        arrays = [np.asarray(as_float_rgb(im, name=f"images[{i}]")) for i, im in enumerate(images)]
        groups: dict[tuple, list[int]] = collections.defaultdict(list)
        for i, im in enumerate(arrays):
            groups[im.shape].append(i)
        out: list[Segmentation | None] = [None] * len(arrays)
        for shape, idx in groups.items():
            step = self.batch_for(shape[:2], batch_size)
            for s in range(0, len(idx), step):
                chunk = idx[s : s + step]
                for i, res in zip(chunk, self([arrays[i] for i in chunk]), strict=True):
                    out[i] = res
        return out  # type: ignore[return-value]


def segment(image, method: str | None = None, **settings) -> Segmentation:
    """Segments one image (``(H, W, 3)`` float in ``[0, 1]`` or uint8).

    Args:
      image: the image.
      method: a name of :data:`METHODS` (None: :func:`default_method`).
      **settings: the method's settings, ``checkpoint`` included; unset ones take the
        method's defaults (for a learned method, those recorded with its model).

    Returns:
      The :class:`Segmentation`.
    """
    return Segmenter(method, **settings).map([image])[0]


from jaxseg.pipeline import classic, wang2020  # noqa: E402, F401 - register the methods

try:
    from jaxseg.pipeline import dsc  # noqa: E402, F401
except ModuleNotFoundError as e:  # pragma: no cover - while the dsc method is not installed
    if e.name != "jaxseg.pipeline.dsc":
        raise
