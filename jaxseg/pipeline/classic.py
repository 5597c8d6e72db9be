"""The model-free methods: ``slic`` (jaxseg's SLIC, batched on device) and ``felzenszwalb``.

``slic``
  Superpixels from :func:`jaxseg.ops.slic.slic_batch` (k-means in XYLab on device, one
  compiled ``vmap`` per image shape), made 4-connected on the host with pieces smaller
  than :data:`SLIC_MIN_SIZE_FACTOR` of a grid cell absorbed (the value
  :func:`jaxseg.slic` uses, so the superpixels are those of ``jaxseg.slic`` on each
  image). Features: the mean CIELAB colour of each superpixel / :data:`LAB_SCALE`
  (:func:`jaxseg.regions.labels.region_means`); the hierarchy merges them by
  :func:`jaxseg.regions.merge.hierarchy_levels` (single linkage unless ``recompute``).

``felzenszwalb``
  EGB (:func:`skimage.segmentation.felzenszwalb` via :mod:`jaxseg.regions.generators`)
  at each of ``scales``: a stack of segmentations (``segs``), which the benchmark scores
  as a hierarchy (ODS/OIS over the scales); the segments are the ones at ``scale`` and
  the superpixels the finest segmentation (the smallest scale). With ``n_segments``
  instead, the scale is searched per image to give that many regions
  (:func:`jaxseg.regions.generators.generate` with ``n_segments``): one level, which is
  the superpixels and the segments.

Default settings (:data:`SLIC_DEFAULTS`, :data:`FELZENSZWALB_DEFAULTS`) are the ones the
BSDS500 evaluation chose on val (``jaxseg.experiments.wang2020``, recorded in
``results/wang2020_eval_test200/{slic,felzenszwalb}.json`` under ``selection``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from jaxseg.pipeline import (
    TRACE_COUNT,
    Hierarchy,
    Method,
    check_count,
    check_positive,
    check_unit,
    register,
)

__all__ = [
    "FELZENSZWALB_DEFAULTS",
    "LAB_SCALE",
    "SLIC_DEFAULTS",
    "SLIC_MIN_SIZE_FACTOR",
    "Felzenszwalb",
    "Slic",
    "lab_features",
]

LAB_SCALE = 20.0
"""CIELAB units per feature unit: two regions whose mean colours differ by an L1 distance
of ``d`` Lab units merge at level ``tanh(d / (2 * LAB_SCALE))``, so a threshold of 0.5
joins regions closer than about 22 Lab units."""

SLIC_MIN_SIZE_FACTOR = 0.25
"""Connected SLIC pieces smaller than this fraction of a grid cell (``H*W / (gh*gw)``
pixels) are absorbed by a neighbour: the default of :func:`jaxseg.slic`
(:data:`jaxseg.ops.slic.MIN_SIZE_FACTOR`)."""

SLIC_DEFAULTS = {
    "n_segments": 100,
    "compactness": None,
    "num_iters": 10,
    "threshold": 0.272727,
    "recompute": False,
    "metric": "l2",
}
"""``threshold``: UCM level of SLIC + merging at 100 superpixels chosen on BSDS500 val
(100 images, boundary F ODS over 10 thresholds; Algorithm 1's ``T = 0.727``), in a run
whose SLIC absorbed pieces below a quarter of a grid cell (as now) but ran every
iteration on all pixels (now on a third of them, as :func:`jaxseg.slic`). ``metric``
``"l2"`` (skimage's distance, with which the threshold was chosen and the method's
numbers measured; :func:`jaxseg.slic` defaults to ``"l1"``). ``compactness`` None: the
metric's default (:data:`jaxseg.ops.slic.DEFAULT_COMPACTNESS`: 10 for ``"l2"``, 4 for
``"l1"``), recorded as its value."""

FELZENSZWALB_DEFAULTS = {
    "n_segments": None,
    "scales": (100.0, 250.0, 500.0, 1000.0, 2500.0),
    "scale": 500.0,
    "sigma": 0.8,
    "min_size": 100,
}
"""``scale`` is used on ``[0, 1]`` images (100 gives ~200 regions on BSDS, 2500 ~10); 500
was chosen among ``scales`` on BSDS500 val (100 images, boundary F ODS). ``n_segments``
None: the stack of ``scales``; a count: the scale searched per image to give it."""


def lab_features(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(m, 3)`` mean CIELAB colour of each label ``0..m-1`` / :data:`LAB_SCALE`."""
    from skimage.color import rgb2lab

    from jaxseg.regions.labels import region_means

    return region_means(labels, rgb2lab(image)) / LAB_SCALE


@functools.cache
def _slic_batch_fn(n_segments: int, num_iters: int, compactness: float, metric: str) -> Callable:
    import jax

    from jaxseg.ops.slic import slic_batch

    def run(images):  # (B, H, W, 3) float32 -> (B, H, W) int32
        TRACE_COUNT["slic"] += 1
        return slic_batch(
            images,
            n_segments=n_segments,
            compactness=compactness,
            num_iters=num_iters,
            metric=metric,
        )

    return jax.jit(run)


@register("slic")
class Slic(Method):
    """jaxseg's SLIC superpixels (batched on device) merged by mean CIELAB colour.

    Settings: ``n_segments`` (requested superpixels), ``compactness``, ``num_iters``
    (k-means iterations), ``metric`` (SLIC's distance, ``"l1"`` or ``"l2"``),
    ``threshold`` (UCM level of the segments), ``recompute``
    (hierarchy linkage: False = single linkage, True = merged regions' mean colours).
    """

    batched = True

    @classmethod
    def defaults(cls, checkpoint=None) -> dict:
        return dict(SLIC_DEFAULTS)

    def check(self, settings):
        from jaxseg.ops.slic import DEFAULT_COMPACTNESS, METRICS

        if settings["metric"] not in METRICS:
            raise ValueError(f"slic setting metric={settings['metric']!r}: one of {METRICS}")
        if settings["compactness"] is None:
            settings["compactness"] = DEFAULT_COMPACTNESS[settings["metric"]]
        check_count(settings, "n_segments")
        check_count(settings, "num_iters")
        check_positive(settings, "compactness")
        check_unit(settings, "threshold")
        settings["recompute"] = bool(settings["recompute"])

    def superpixels(self, images: np.ndarray) -> np.ndarray:
        """``(B, h, w) int32`` connected superpixels of a batch (as :func:`jaxseg.slic`)."""
        from jaxseg.ops.slic import connect_superpixels

        s = self.settings
        fn = _slic_batch_fn(s["n_segments"], s["num_iters"], s["compactness"], s["metric"])
        n = s["n_segments"]
        return np.stack(
            [
                connect_superpixels(r, n_segments=n, min_size_factor=SLIC_MIN_SIZE_FACTOR)
                for r in np.asarray(fn(images))
            ]
        )

    def __call__(self, images):
        from jaxseg.regions.merge import hierarchy_levels

        out = []
        for image, labels in zip(images, self.superpixels(images), strict=True):
            feats = lab_features(image, labels)
            pairs, levels = hierarchy_levels(labels, feats, recompute=self.settings["recompute"])
            out.append(Hierarchy(labels, pairs=pairs, levels=levels))
        return out


@register("felzenszwalb")
class Felzenszwalb(Method):
    """EGB at several scales: a stack of segmentations, the default one at ``scale``.

    Settings: ``n_segments`` (None: the stack of ``scales``; a count: one segmentation,
    its scale searched per image to give that many regions, within 10% when EGB can;
    ``scale`` and ``scales`` are then not used), ``scales`` (the stack), ``scale`` (one
    of ``scales``: the segments), ``sigma`` (pre-smoothing), ``min_size`` (smallest
    region, pixels).

    Raises:
      ValueError: ``n_segments`` given together with ``scale`` or ``scales``.
    """

    @classmethod
    def defaults(cls, checkpoint=None) -> dict:
        return dict(FELZENSZWALB_DEFAULTS)

    def __init__(self, **settings):
        both = [k for k in ("scale", "scales") if settings.get(k) is not None]
        if settings.get("n_segments") is not None and both:
            raise ValueError(
                f"felzenszwalb: n_segments={settings['n_segments']!r} searches the scale, so "
                f"{' and '.join(both)} cannot be given too; pass n_segments or scale/scales"
            )
        super().__init__(**settings)

    def check(self, settings):
        if settings["n_segments"] is not None:
            check_count(settings, "n_segments")
        try:
            scales = tuple(float(s) for s in np.atleast_1d(settings["scales"]))
        except (TypeError, ValueError):
            scales = ()
        if not scales or any(not (np.isfinite(s) and s > 0) for s in scales):
            raise ValueError(f"scales must be numbers > 0, got {settings['scales']!r}")
        settings["scales"] = list(scales)  # JSON-able
        check_positive(settings, "scale")
        if settings["scale"] not in scales:
            raise ValueError(
                f"scale {settings['scale']:g} is not one of scales {list(scales)}; pass a "
                "scale from that list or add it to scales"
            )
        check_positive(settings, "sigma", zero=True)
        check_count(settings, "min_size")

    def __call__(self, images):
        from jaxseg.regions.generators import generate

        s = self.settings
        out = []
        for image in images:
            if s["n_segments"] is not None:
                seg = generate(
                    "felzenszwalb",
                    image,
                    n_segments=s["n_segments"],
                    sigma=s["sigma"],
                    min_size=s["min_size"],
                ).astype(np.int32)
                out.append(Hierarchy(seg, segs=seg[None]))
                continue
            segs = np.stack(
                [
                    generate(
                        "felzenszwalb",
                        image,
                        scale=scale,
                        sigma=s["sigma"],
                        min_size=s["min_size"],
                    )
                    for scale in s["scales"]
                ]
            ).astype(np.int32)
            finest = int(np.argmin(s["scales"]))
            out.append(Hierarchy(segs[finest], segs=segs, segs_level=s["scales"].index(s["scale"])))
        return out
