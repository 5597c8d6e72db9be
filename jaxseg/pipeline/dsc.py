"""The ``"dsc"`` method of :mod:`jaxseg.pipeline`: Deep Superpixel Cut, the lin2021 protocol.

For each image (``docs/lin2021.md``):

1. rescale it by ``scale`` (:func:`jaxseg.nn.superae.prepare_input`; default the
   SuperAE's training ``image_scale``) and reconstruct it with the SuperAE
   (:func:`jaxseg.nn.superae.reconstruct`);
2. superpixels of the reconstruction by ``generator`` at each of ``counts``
   (:func:`jaxseg.regions.generators.generate`, native parameters ``gen_kw``);
3. one DSC run per count (:func:`jaxseg.nn.dsc.dsc_segment_batch`: the images of a batch
   under one vmapped, compiled function), ``K = num_classes`` classes.

The :class:`~jaxseg.pipeline.Hierarchy` holds ``segs``, one DSC labelling per count in
the order of ``counts``, ``segs_level`` the default cut, and the superpixels of the
finest (largest) count. This is what ``eval.py dsc`` benchmarks as its ``dsc`` variant
(:mod:`jaxseg.experiments.lin2021` calls this class), so ``jaxseg segment --method dsc``
and the evaluation give the same labels for the same settings.

Randomness: every image's DSC head starts from ``jax.random.key(seed)``, whatever its
place in a batch or a dataset, so results do not depend on how images are batched. The
padded superpixel count is ``max_segments`` for each image that fits it (else its count
rounded up to 64), decided per image for the same reason.

Defaults: ``settings.json`` in the model folder (the packaged
``jaxseg/weights/superae_cpu_long/settings.json`` holds the settings of the measured test
table, chosen on BSDS500 val); a folder without one gets those packaged settings with
``scale`` from the model's own config.

Example:
  >>> from jaxseg.pipeline import METHODS
  >>> dsc = METHODS["dsc"](counts=[100, 20], num_iters=32)
  >>> [h] = dsc(image[None])  # image (H, W, 3) float32 in [0, 1]
  >>> h.segs.shape  # (2, H/2, W/2) at the default scale 0.5
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxseg import WEIGHTS_DIR
from jaxseg.pipeline import VECTORIZE_MEANING, Hierarchy, Method, as_count, check_bool, register

__all__ = ["PACKAGED_MODEL", "SETTINGS_FILE", "Dsc", "padding"]

PACKAGED_MODEL = WEIGHTS_DIR / "superae_cpu_long"
"""The shipped SuperAE used when no ``checkpoint`` is given (1200 steps; ``superae_cpu``
beside it is the 600-step model of the lin2021 tables in docs/lin2021.md)."""
SETTINGS_FILE = "settings.json"

_NAMES = (
    "generator",
    "gen_kw",
    "counts",
    "num_classes",
    "num_iters",
    "beta",
    "sigma",
    "scale",
    "train_encoder",
    "logit_norm",
    "max_segments",
    "seed",
    "segs_level",
)


DSC_OPTIONS = ("num_classes", "num_iters", "beta", "sigma", "train_encoder", "logit_norm")
"""Settings passed on to :func:`jaxseg.nn.dsc.dsc_segment` as they are."""


def _read_settings(folder: Path) -> dict | None:
    """The ``settings`` of ``folder/settings.json``, None when there is no such file."""
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        settings = dict(record["settings"])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path}: not a settings file ({e}); it must be a JSON object "
            '{"method": "dsc", "settings": {...}, ...}; fix or remove it.'
        ) from None
    if record.get("method", "dsc") != "dsc":
        raise ValueError(
            f"{path} holds settings of method {record.get('method')!r}, not 'dsc'; "
            "pass the folder of a SuperAE model."
        )
    return settings


def _check(settings: dict) -> dict:
    """Checked, JSON-able copy of the settings' values (the base class checks the names)."""
    from jaxseg.nn.dsc import LOGIT_NORMS
    from jaxseg.regions.generators import GENERATORS

    s = dict(settings)
    if s["generator"] not in GENERATORS:
        raise ValueError(f"dsc setting generator={s['generator']!r}: choose one of {GENERATORS}.")
    if not isinstance(s["gen_kw"], dict):
        raise ValueError(
            f"dsc setting gen_kw={s['gen_kw']!r}: expected a dict of the generator's native "
            'parameters, e.g. {"min_size_frac": 0.25}.'
        )
    counts = s["counts"]
    if isinstance(counts, int | np.integer) or not isinstance(counts, Sequence) or not counts:
        raise ValueError(
            f"dsc setting counts={counts!r}: expected a non-empty list of superpixel counts, "
            "e.g. [100, 50, 20, 10]."
        )
    s["counts"] = [as_count(f"counts[{i}]", c) for i, c in enumerate(counts)]
    s["num_classes"] = as_count("num_classes", s["num_classes"], 2)
    s["num_iters"] = as_count("num_iters", s["num_iters"])
    s["seed"] = as_count("seed", s["seed"], 0)
    check_bool(s, "vectorize", VECTORIZE_MEANING)
    if s["max_segments"] is not None:
        s["max_segments"] = as_count("max_segments", s["max_segments"])
    for name in ("beta", "sigma"):
        try:
            s[name] = float(s[name])
        except (TypeError, ValueError):
            raise ValueError(f"dsc setting {name}={s[name]!r}: expected a number.") from None
    if not s["sigma"] > 0:
        raise ValueError(f"dsc setting sigma={s['sigma']}: must be > 0.")
    if s["scale"] is not None:
        try:
            s["scale"] = float(s["scale"])
        except (TypeError, ValueError):
            raise ValueError(f"dsc setting scale={s['scale']!r}: expected a number.") from None
        if not 0 < s["scale"] <= 1:
            raise ValueError(
                f"dsc setting scale={s['scale']}: must be in (0, 1] (None: the SuperAE's "
                "training image_scale)."
            )
    if not isinstance(s["train_encoder"], bool):
        raise ValueError(f"dsc setting train_encoder={s['train_encoder']!r}: expected a bool.")
    if s["logit_norm"] not in LOGIT_NORMS:
        raise ValueError(
            f"dsc setting logit_norm={s['logit_norm']!r}: choose one of {LOGIT_NORMS}."
        )
    level = s["segs_level"]
    if isinstance(level, bool) or not isinstance(level, int | np.integer):
        raise ValueError(f"dsc setting segs_level={level!r}: expected an index into counts.")
    if not 0 <= level < len(s["counts"]):
        raise ValueError(
            f"dsc setting segs_level={level}: must index counts={s['counts']} "
            f"(0..{len(s['counts']) - 1}); pass segs_level with counts."
        )
    s["segs_level"] = int(level)
    return s


def padding(superpixels: np.ndarray, max_segments: int | None) -> int:
    """DSC's padded superpixel count for one image (not its batch): ``max_segments`` when
    its ``m`` superpixels fit, else ``m`` rounded up to 64 (one compiled function per
    padded count)."""
    m = int(np.max(superpixels)) + 1
    fits = max_segments is not None and m <= max_segments
    return int(max_segments) if fits else 64 * math.ceil(m / 64)


@register("dsc")
class Dsc(Method):
    """Deep Superpixel Cut as lin2021 evaluates it: one DSC run per superpixel count.

    Settings (:meth:`defaults`): ``checkpoint`` (a SuperAE training workdir or exported
    model folder; None: the packaged ``jaxseg/weights/superae_cpu_long``), ``which``
    (``"best"`` or ``"latest"`` checkpoint of a workdir), ``generator`` (``"slic"``,
    ``"felzenszwalb"``, ``"meanshift"``), ``gen_kw`` (its native parameters), ``counts``
    (superpixel counts, one DSC run and one segmentation each), ``num_classes`` (K),
    ``num_iters``, ``beta``, ``sigma``, ``scale`` (None: the SuperAE's ``image_scale``),
    ``train_encoder``, ``logit_norm``, ``max_segments`` (padded superpixel count; None:
    automatic), ``seed``, ``segs_level`` (index into ``counts`` of the default cut) and
    ``vectorize`` (False: the images of a batch are optimised one after another inside one
    compiled call, so an image's labels are the same in any batch and equal those of
    ``eval.py dsc``; True: side by side under ``jax.vmap``, the throughput an accelerator
    needs, with labels that can differ between batch sizes, see
    :func:`jaxseg.nn.dsc.dsc_optimize_batch`).

    Raises:
      ValueError: an unknown setting (the message lists them), a bad value, or a
        checkpoint that is not a SuperAE.
      FileNotFoundError: no model at ``checkpoint``.
    """

    batched = True

    @classmethod
    def defaults(cls, checkpoint: str | Path | None = None) -> dict:
        """Every setting with its default: those recorded for the model (``settings.json``
        in its folder).

        A folder without ``settings.json`` (a training workdir) gets the packaged model's
        settings with ``scale`` None (the model's own ``image_scale``).
        """
        folder = PACKAGED_MODEL if checkpoint is None else Path(checkpoint)
        recorded = _read_settings(folder)
        if recorded is None:
            recorded = _read_settings(PACKAGED_MODEL)
            if recorded is None:
                raise FileNotFoundError(
                    f"{PACKAGED_MODEL / SETTINGS_FILE} is missing: the dsc method's "
                    "defaults are recorded there; reinstall jaxseg."
                )
            recorded["scale"] = None
        base = {"checkpoint": None, "which": "best", "gen_kw": {}, "max_segments": None}
        base["vectorize"] = False  # exact: an image's labels do not depend on its batch
        return base | {name: recorded[name] for name in _NAMES if name in recorded}

    def check(self, settings: dict) -> None:
        """Checks and normalises ``settings`` in place (``ValueError`` names the value)."""
        settings.update(_check(settings))
        if settings["which"] not in ("best", "latest"):
            raise ValueError(f"dsc setting which={settings['which']!r}: 'best' or 'latest'.")
        if settings["checkpoint"] is not None:
            settings["checkpoint"] = str(settings["checkpoint"])

    def __init__(self, **settings):
        from jaxseg.train.checkpointing import restore_model

        super().__init__(**settings)
        s = self.settings
        folder = PACKAGED_MODEL if s["checkpoint"] is None else Path(s["checkpoint"])
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(
                f"method 'dsc': no trained SuperAE in {folder} (config.json missing); pass "
                "checkpoint= a superae training workdir or exported model folder."
            )
        self.model, config = restore_model(folder, which=s["which"])
        if config.get("task") != "superae":
            raise ValueError(
                f"method 'dsc': {folder} holds a {config.get('task')!r} model, not a superae "
                "one; pass the folder of a SuperAE."
            )
        if s["scale"] is None:
            s["scale"] = float(config.get("image_scale", 1.0))

    def dsc_options(self) -> dict:
        """The keyword options of :func:`jaxseg.nn.dsc.dsc_segment` from the settings."""
        return {k: self.settings[k] for k in DSC_OPTIONS}

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """``(h, w, 3) float32``: ``image`` at ``scale``, as the DSC runs see it."""
        from jaxseg.nn.superae import prepare_input

        return prepare_input(image, self.settings["scale"])

    def superpixels(self, image: np.ndarray) -> list[np.ndarray]:
        """Superpixels ``(h, w) int32`` of the reconstruction of a prepared image, one per
        count (the DSC inputs)."""
        from jaxseg.nn.superae import reconstruct
        from jaxseg.regions.generators import generate_counts

        s = self.settings
        recon = reconstruct(self.model, image)
        return generate_counts(s["generator"], recon, s["counts"], **s["gen_kw"])

    def __call__(self, images: np.ndarray) -> list[Hierarchy]:
        """Segments a batch of same-shape images.

        Args:
          images: ``(B, H, W, 3) float32`` in ``[0, 1]``.

        Returns:
          one :class:`~jaxseg.pipeline.Hierarchy` per image at the processed size
          ``(h, w)`` (``scale`` times the input size): ``segs (L, h, w) int32`` in the
          order of ``counts``, ``segs_level``, and the finest count's superpixels.
        """
        import jax

        from jaxseg.nn.dsc import dsc_segment_batch

        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"method 'dsc': images must be (B, H, W, 3) float32 in [0, 1], got shape "
                f"{images.shape}; stack same-shape images."
            )
        s = self.settings
        prepared = np.stack([self.prepare(im) for im in images])  # (B, h, w, 3)
        sps = [self.superpixels(im) for im in prepared]  # [B][L] (h, w)
        key = jax.random.key_data(jax.random.key(s["seed"]))
        dsc_kw = self.dsc_options()
        segs = [[None] * len(s["counts"]) for _ in images]
        for level in range(len(s["counts"])):
            groups: dict[int, list[int]] = {}
            for b in range(len(images)):
                groups.setdefault(padding(sps[b][level], s["max_segments"]), []).append(b)
            for pad, members in groups.items():  # one compiled call per padded count
                keys = jax.random.wrap_key_data(np.broadcast_to(key, (len(members), *key.shape)))
                results = dsc_segment_batch(
                    self.model,
                    prepared[members],
                    np.stack([sps[b][level] for b in members]),
                    keys=keys,
                    max_segments=pad,
                    vectorize=s["vectorize"],
                    **dsc_kw,
                )
                for b, res in zip(members, results, strict=True):
                    segs[b][level] = res.labels
        finest = int(np.argmax(s["counts"]))
        return [
            Hierarchy(
                superpixels=sps[b][finest].astype(np.int32),
                segs=np.stack(segs[b]).astype(np.int32),
                segs_level=s["segs_level"],
            )
            for b in range(len(images))
        ]
