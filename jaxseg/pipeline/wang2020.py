"""The ``wang2020`` method: the trained network's SSN superpixels and learned region features.

For a batch of same-shape images, one compiled ``vmap`` of
:func:`jaxseg.nn.wang2020.predict` gives the superpixels and the pooled region features
(head 2). On the host the superpixels are made 4-connected (pieces smaller than
``min_size_factor * H*W / n_segments`` pixels absorbed), each connected superpixel keeps
the feature of the predicted superpixel covering most of it
(:func:`jaxseg.regions.labels.majority_label`), and
:func:`jaxseg.regions.merge.hierarchy_levels` merges them (single linkage on eq. 6
similarities unless ``recompute``): thresholding that hierarchy at ``t`` is wang2020's
Algorithm 1 at ``T = 1 - t``.

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
    Hierarchy,
    Method,
    check_count,
    check_positive,
    check_unit,
    register,
)

__all__ = ["BUILTIN_DEFAULTS", "PACKAGED", "SETTINGS_FILE", "Wang2020", "recorded_settings"]

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
}
"""Settings of a model folder without ``settings.json`` (the network trains with 100
superpixels). ``which``: the checkpoint of a training workdir, ``best`` or ``latest``."""


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
def _batch_fn(graphdef, n_segments: int, num_iters: int) -> Callable:
    import jax
    from flax import nnx

    from jaxseg.nn import wang2020

    def run(state, images):  # (B, H, W, 3) -> labels (B, H, W), region features (B, m, C)
        TRACE_COUNT["wang2020"] += 1
        model = nnx.merge(graphdef, state)

        def one(image):
            pred = wang2020.predict(model, image, n_segments=n_segments, num_iters=num_iters)
            return pred.labels, pred.region_features

        return jax.vmap(one)(images)

    return jax.jit(run)


@register("wang2020")
class Wang2020(Method):
    """The trained wang2020 network: SSN superpixels + learned region features, batched.

    Settings: ``checkpoint`` (model folder or training workdir), ``n_segments``,
    ``threshold`` (UCM level of the segments), ``num_iters`` (SSN iterations),
    ``min_size_factor``, ``recompute`` (hierarchy linkage), ``which`` (workdir checkpoint).
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
        settings["checkpoint"] = str(settings["checkpoint"])
        if settings["which"] not in ("best", "latest"):
            raise ValueError(f"which must be 'best' or 'latest', got {settings['which']!r}")

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

    def __call__(self, images):
        from jaxseg.regions.connectivity import enforce_connectivity
        from jaxseg.regions.labels import majority_label
        from jaxseg.regions.merge import hierarchy_levels

        s = self.settings
        fn = _batch_fn(self.graphdef, s["n_segments"], s["num_iters"])
        raw, feats = (np.asarray(a) for a in fn(self.state, images))
        _, height, width, _ = images.shape
        min_size = max(1, int(s["min_size_factor"] * height * width / s["n_segments"]))
        out = []
        for labels_raw, rows in zip(raw, feats, strict=True):
            labels = np.asarray(enforce_connectivity(labels_raw, min_size=min_size), np.int32)
            region = rows.astype(np.float64)[majority_label(labels, labels_raw)]
            pairs, levels = hierarchy_levels(labels, region, recompute=s["recompute"])
            out.append(Hierarchy(labels, pairs=pairs, levels=levels))
        return out
