"""The ``wang2020`` method: the trained network's SSN superpixels and learned region features.

For a batch of same-shape images, one compiled call of :func:`jaxseg.nn.wang2020.predict`
(image after image with ``jax.lax.map``, or a ``vmap`` with ``vectorize``) gives the
superpixels and the pooled region features (head 2). On the host the superpixels are made
4-connected (pieces smaller than ``min_size_factor * H*W / n_segments`` pixels absorbed),
each connected superpixel keeps the feature of the predicted superpixel covering most of it
(:func:`jaxseg.regions.labels.majority_label`), and
:func:`jaxseg.regions.merge.hierarchy_levels` merges them (single linkage on eq. 6
similarities unless ``recompute``): thresholding that hierarchy at ``t`` is wang2020's
Algorithm 1 at ``T = 1 - t``. The settings ``linkage``, ``edge_weights`` and ``scales``
change that merging (:class:`Wang2020`); the packaged model records ``linkage="boundary"``
with fitted ``edge_weights``.

The model is the packaged one (:data:`PACKAGED`) unless a ``checkpoint`` folder is given.
Its default settings are :data:`BUILTIN_DEFAULTS` overridden by the ``settings`` of the
model folder's ``settings.json`` (``{"method", "settings", "chosen_on", "command"}``),
written for the packaged model by the BSDS500 evaluation's val selection.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxseg import WEIGHTS_DIR
from jaxseg.pipeline import (
    TRACE_COUNT,
    VECTORIZE_MEANING,
    Hierarchy,
    Method,
    check_bool,
    check_count,
    check_positive,
    check_unit,
    register,
)

__all__ = [
    "BUILTIN_DEFAULTS",
    "EDGE_FEATURES",
    "PACKAGED",
    "SETTINGS_FILE",
    "Wang2020",
    "edge_evidence",
    "fit_edge_weights",
    "recorded_settings",
]

PACKAGED = WEIGHTS_DIR / "wang2020_cpu_long"
"""The packaged trained model (the default ``checkpoint``)."""
SETTINGS_FILE = "settings.json"
BUILTIN_DEFAULTS = {
    "n_segments": 100,
    "threshold": 0.5,
    "num_iters": 10,
    "min_size_factor": 0.25,
    "recompute": False,
    "which": "best",
    "scales": None,
    "linkage": None,
    "edge_weights": None,
    "vectorize": False,
}
"""Settings of a model folder without ``settings.json`` (the network trains with 100
superpixels). ``which``: the checkpoint of a training workdir, ``best`` or ``latest``.
``scales``: superpixel counts whose hierarchies are averaged (None: ``n_segments`` alone);
``linkage``: the hierarchy's linkage (None: from ``recompute``); ``edge_weights``: the
logistic weights of the boundary evidence (None: the eq. 6 levels), see :class:`Wang2020`.
``vectorize``: :data:`jaxseg.pipeline.VECTORIZE_MEANING` (false: one image after another
inside the compiled call)."""

EDGE_FEATURES = ("bias", "level", "gradient", "log_length")
"""What each number of the ``edge_weights`` setting multiplies (:func:`edge_evidence`)."""
GRADIENT_SIGMA = 1.0
"""Gaussian scale (pixels) of the CIELAB gradient magnitude of :func:`edge_evidence`."""


def _gradient(image) -> np.ndarray:
    """``(h, w)`` CIELAB gradient magnitude of an RGB image in ``[0, 1]``, scaled by 1/100."""
    from scipy import ndimage
    from skimage.color import rgb2lab

    lab = rgb2lab(np.clip(np.asarray(image, np.float64), 0.0, 1.0))
    squares = sum(
        ndimage.gaussian_gradient_magnitude(lab[..., c], GRADIENT_SIGMA) ** 2 for c in range(3)
    )
    return np.sqrt(squares) / 100.0


def edge_evidence(labels, region, gradient) -> tuple[np.ndarray, np.ndarray]:
    """Per adjacent superpixel pair, the evidence that ``edge_weights`` weighs.

    Args:
      labels: ``(h, w)`` int connected superpixels ``0..m-1``.
      region: ``(m, C)`` float region feature of each superpixel.
      gradient: ``(h, w)`` CIELAB gradient magnitude / 100 of the image (``_gradient``).

    Returns:
      ``pairs`` ``(P, 2)`` (:func:`jaxseg.regions.merge.adjacent_pairs_np`) and ``(P, 4)``
      float64 columns :data:`EDGE_FEATURES`: 1, the eq. 6 level ``tanh(|v_i - v_j|_1 / 2)``,
      the mean gradient along the shared boundary (:func:`jaxseg.regions.merge.boundary_stats`)
      and the log of its length in pixel sides.
    """
    from jaxseg.regions.merge import DISTANCES, adjacent_pairs_np, boundary_stats

    pairs = adjacent_pairs_np(labels)
    lengths, grad = boundary_stats(labels, pairs, gradient)
    level = DISTANCES["level"](region[pairs[:, 0]], region[pairs[:, 1]], None, None)
    ones = np.ones(len(pairs))
    return pairs, np.stack([ones, level, grad, np.log(np.maximum(lengths, 1.0))], axis=1)


def _weighted_levels(evidence: np.ndarray, weights) -> np.ndarray:
    """Pair levels ``sigmoid(evidence @ weights)`` in ``(0, 1)``."""
    return 0.5 * (1.0 + np.tanh(0.5 * (evidence @ np.asarray(weights, np.float64))))


def recorded_settings(folder: str | Path) -> dict:
    """The ``settings`` recorded in ``folder/settings.json`` for ``wang2020`` ({} if none).

    Raises:
      ValueError: the file is not JSON, names another method, or records unknown settings.
    """
    path = Path(folder) / SETTINGS_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read recorded settings ({e}); fix or remove it") from e
    if not isinstance(record, dict) or record.get("method") != "wang2020":
        raise ValueError(f"{path} records settings of {record.get('method')!r}, not wang2020")
    settings = dict(record.get("settings", {}))
    unknown = sorted(set(settings) - set(BUILTIN_DEFAULTS))
    if unknown:
        raise ValueError(
            f"{path}: unknown wang2020 settings {unknown}; known: {sorted(BUILTIN_DEFAULTS)}"
        )
    return settings


@functools.cache
def _batch_fn(graphdef, n_segments: int, num_iters: int, vectorize: bool) -> Callable:
    import jax
    from flax import nnx

    from jaxseg.nn import wang2020
    from jaxseg.ops.batching import map_each

    def run(state, images):  # (B, H, W, 3) -> labels (B, H, W), region features (B, m, C)
        TRACE_COUNT["wang2020"] += 1
        model = nnx.merge(graphdef, state)

        def one(image):
            pred = wang2020.predict(model, image, n_segments=n_segments, num_iters=num_iters)
            return pred.labels, pred.region_features

        if vectorize:
            return jax.vmap(one)(images)
        # One image at a time: an image's result does not depend on its batch, and a CPU
        # runs it faster than a vmapped batch (whose temporaries are B times larger).
        return map_each(one, images)

    return jax.jit(run)


def _check_levers(settings: dict) -> None:
    """Checks (and normalises) the ``scales``, ``linkage`` and ``edge_weights`` settings."""
    from jaxseg.regions.merge import LINKAGES

    scales = settings["scales"]
    if scales is not None:
        ok = isinstance(scales, list | tuple) and len(scales) > 0
        ok = ok and all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in scales
        )
        if not ok:
            raise ValueError(
                f"scales must be a non-empty list of superpixel counts >= 1 (e.g. "
                f"[100, 300, 600]) or null, got {scales!r}"
            )
        scales = sorted({int(n) for n in scales})
        if settings["n_segments"] not in scales:
            raise ValueError(
                f"n_segments={settings['n_segments']} is not one of scales={scales}; "
                "add it to scales or set scales=null"
            )
        settings["scales"] = scales
    linkage = settings["linkage"]
    if linkage is not None:
        if linkage not in LINKAGES:
            raise ValueError(f"linkage must be one of {LINKAGES} or null, got {linkage!r}")
        if settings["recompute"] and linkage != "average":
            raise ValueError(
                f"recompute=true is linkage 'average'; it conflicts with linkage={linkage!r}: "
                "set recompute=false"
            )
    weights = settings["edge_weights"]
    if isinstance(weights, list | tuple) and len(weights) == 0:
        weights = settings["edge_weights"] = None  # [] switches recorded weights off
    if weights is not None:
        try:
            values = [float(w) for w in weights]
        except (TypeError, ValueError):
            values = []
        if (
            isinstance(weights, str)
            or len(values) != len(EDGE_FEATURES)
            or not np.all(np.isfinite(values))
        ):
            raise ValueError(
                f"edge_weights must be {len(EDGE_FEATURES)} finite numbers (weights of "
                f"{', '.join(EDGE_FEATURES)}) or null, got {weights!r}"
            )
        if linkage in ("average", "upgma") or (linkage is None and settings["recompute"]):
            raise ValueError(
                "edge_weights weigh the superpixel pairs' levels, which the 'average' and "
                "'upgma' linkages do not use: pick linkage 'single' or 'boundary'"
            )
        settings["edge_weights"] = values


def _hierarchy(labels, region, gradient, settings) -> tuple[np.ndarray, np.ndarray]:
    """The merge hierarchy (pairs, levels) of one scale's connected superpixels."""
    from jaxseg.regions.merge import hierarchy_levels

    linkage = settings["linkage"]
    if linkage is None:
        linkage = "average" if settings["recompute"] else "single"
    weights = settings["edge_weights"]
    if weights is None:
        return hierarchy_levels(labels, region, linkage=linkage)
    _, evidence = edge_evidence(labels, region, gradient)
    levels = _weighted_levels(evidence, weights)
    return hierarchy_levels(labels, region, linkage=linkage, pair_distances=levels)


def _connected(labels_raw, rows, n_segments: int, min_size_factor: float):
    """Connected superpixels of one prediction and their region features."""
    from jaxseg.regions.connectivity import enforce_connectivity
    from jaxseg.regions.labels import majority_label

    height, width = labels_raw.shape
    min_size = max(1, int(min_size_factor * height * width / n_segments))
    labels = np.asarray(enforce_connectivity(labels_raw, min_size=min_size), np.int32)
    return labels, rows.astype(np.float64)[majority_label(labels, labels_raw)]


@register("wang2020")
class Wang2020(Method):
    """The trained wang2020 network: SSN superpixels + learned region features, batched.

    Settings: ``checkpoint`` (model folder or training workdir), ``n_segments``,
    ``threshold`` (UCM level of the segments), ``num_iters`` (SSN iterations),
    ``min_size_factor``, ``recompute`` (hierarchy linkage), ``which`` (workdir checkpoint),
    ``vectorize`` (false, the default: the images of a batch go through the network one
    after another inside one compiled call, so an image's result is the same in any batch;
    true: side by side under ``jax.vmap``, for accelerators), and three ways to merge
    differently:

    * ``scales`` (list of superpixel counts, containing ``n_segments``): one network pass
      per count, one hierarchy per count, and their mean carried onto the finest
      superpixels (:func:`jaxseg.regions.merge.combine_levels`); the result's superpixels
      are the finest scale's.
    * ``linkage``: ``single`` (``recompute=false``), ``average`` (``recompute=true``:
      distances of the size-weighted mean features), ``boundary`` (the length-weighted mean
      of the superpixel pairs' levels along the shared boundary) or ``upgma`` (the
      size-weighted mean level of every superpixel pair across the two regions); see
      :func:`jaxseg.regions.merge.agglomerate`.
    * ``edge_weights`` (4 numbers, :data:`EDGE_FEATURES`; ``[]`` or None: none): each
      superpixel pair's level becomes
      ``sigmoid(w0 + w1 * level + w2 * gradient + w3 * log(length))`` of its eq. 6 level
      and the CIELAB gradient along and length of its boundary (:func:`edge_evidence`;
      weights from :func:`fit_edge_weights`).
    """

    batched = True

    @classmethod
    def defaults(cls, checkpoint=None) -> dict:
        path = PACKAGED if checkpoint is None else Path(checkpoint)
        return {**BUILTIN_DEFAULTS, **recorded_settings(path), "checkpoint": str(path)}

    def check(self, settings):
        check_count(settings, "n_segments")
        check_count(settings, "num_iters")
        check_unit(settings, "threshold")
        check_positive(settings, "min_size_factor", zero=True)
        settings["recompute"] = bool(settings["recompute"])
        check_bool(settings, "vectorize", VECTORIZE_MEANING)
        settings["checkpoint"] = str(settings["checkpoint"])
        if settings["which"] not in ("best", "latest"):
            raise ValueError(f"which must be 'best' or 'latest', got {settings['which']!r}")
        _check_levers(settings)

    def __init__(self, **settings):
        super().__init__(**settings)
        from flax import nnx

        from jaxseg.train.checkpointing import restore_model

        path = Path(self.settings["checkpoint"])
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"method wang2020: no trained model in {path} (config.json missing); pass a "
                "checkpoint folder (a training workdir or an exported model folder), or use "
                "the method slic"
            )
        model, config = restore_model(path, which=self.settings["which"])
        if config.get("task") != "wang2020":
            raise ValueError(f"{path} holds a {config.get('task')!r} model, not wang2020")
        self.graphdef, self.state = nnx.split(model)

    def predictions(self, images) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Per image, per scale (ascending), the connected superpixels and their features."""
        s = self.settings
        per_scale = []
        for n in s["scales"] or [s["n_segments"]]:
            fn = _batch_fn(self.graphdef, n, s["num_iters"], s["vectorize"])
            raw, feats = (np.asarray(a) for a in fn(self.state, images))
            per_scale.append(
                [_connected(r, f, n, s["min_size_factor"]) for r, f in zip(raw, feats, strict=True)]
            )
        return [list(one) for one in zip(*per_scale, strict=True)]

    def __call__(self, images):
        from jaxseg.regions.merge import combine_levels

        s = self.settings
        out = []
        for image, scales in zip(images, self.predictions(images), strict=True):
            gradient = None if s["edge_weights"] is None else _gradient(image)
            hiers = [(lab, *_hierarchy(lab, reg, gradient, s)) for lab, reg in scales]
            if len(hiers) == 1:
                labels, pairs, levels = hiers[0]
            else:  # the finest scale's superpixels carry the mean of the hierarchies
                labels = hiers[-1][0]
                pairs, levels = combine_levels(labels, hiers)
            out.append(Hierarchy(labels, pairs=pairs, levels=levels))
        return out


def fit_edge_weights(
    images, ground_truths, *, n_segments: int = 300, checkpoint=None, iters: int = 50
) -> list[float]:
    """Logistic weights of :data:`EDGE_FEATURES` for the ``edge_weights`` setting.

    For every adjacent pair of the connected superpixels of each image, the target is the
    fraction of annotators whose segments differ under the two superpixels (each
    superpixel takes the segment covering most of it); pairs are weighted by their
    boundary length. Fitted by Newton's method (iteratively reweighted least squares,
    with a small ridge term for stability).

    Args:
      images: ``(h, w, 3)`` float RGB images in ``[0, 1]``.
      ground_truths: per image, a list of ``(h, w)`` int human segmentations.
      n_segments: superpixels; checkpoint: the model folder (default: the packaged one).
      iters: Newton steps.

    Returns:
      the weights, in the order of :data:`EDGE_FEATURES`.
    """
    from jaxseg.regions.labels import majority_label
    from jaxseg.regions.merge import boundary_stats

    given = {} if checkpoint is None else {"checkpoint": checkpoint}
    method = Wang2020(**given, n_segments=n_segments, scales=None, edge_weights=None)
    xs, ys, ws = [], [], []
    for image, gts in zip(images, ground_truths, strict=True):
        image = np.asarray(image, np.float32)  # as the method gets it
        batch = image[None]
        ((labels, region),) = method.predictions(batch)[0]
        pairs, evidence = edge_evidence(labels, region, _gradient(image))
        lengths, _ = boundary_stats(labels, pairs)
        differ = np.zeros(len(pairs))
        for gt in gts:
            seg = majority_label(labels, np.asarray(gt) - np.min(gt))
            differ += seg[pairs[:, 0]] != seg[pairs[:, 1]]
        xs.append(evidence)
        ys.append(differ / len(gts))
        ws.append(lengths)
    x, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)
    w = w / w.sum()
    beta = np.zeros(x.shape[1])
    for _ in range(iters):
        p = _weighted_levels(x, beta)
        grad = x.T @ (w * (p - y)) + 1e-6 * beta
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(x.shape[1])
        beta = beta - np.linalg.solve(hess, grad)
    return [float(b) for b in beta]
