"""The BSDS500 benchmark driver: per-image evaluation, collection, files, CLI.

Library entry points (in-memory, no files):

* :func:`evaluate_image` (``result, gt, *, nthresh, bench``) -> :class:`ImageEval`
  (per-threshold boundary counts and/or region numbers of one image);
* :func:`collect` (``evals``) -> summary dict (ODS/OIS/AP/R50, covering, PRI, VOI,
  GCE/LCE and the official tables), from per-image numbers rounded to 6 significant
  digits like the official intermediate files;
* :func:`evaluate_results` (``{image_id: ucm2 | segs | pb}``, ground truth) -> summary
  dict, optionally in parallel;
* :func:`run_bench` (results dir, gt dir, out dir) -> summary dict, writing the official
  text files; :func:`main` is its command line (``python eval.py bench ...``).

Files written by :func:`run_bench` into ``out_dir``:

* per image (resumable; an image whose files exist and match the thresholds is
  skipped on a rerun): ``<id>_ev1.txt`` (boundary ``thresh cntR sumR cntP sumP``),
  ``<id>_ev2.txt`` (covering, same columns), ``<id>_ev3.txt`` (best covering count),
  ``<id>_ev4.txt`` (``thresh PRI VOI``), ``<id>_ev5.txt`` (``thresh GCE LCE``, jaxseg's
  addition);
* dataset: ``eval_bdry.txt``, ``eval_bdry_img.txt``, ``eval_bdry_thr.txt``,
  ``eval_cover.txt``, ``eval_cover_img.txt``, ``eval_cover_th.txt``, ``eval_RI_VOI.txt``,
  ``eval_RI_VOI_thr.txt`` (official columns, ``%10g``), ``eval_GCE_LCE_thr.txt``
  (``T GCE LCE``) and ``eval_summary.json``.

Example (in-process, as model evaluation uses it)::

    from jaxseg.metrics import bench
    from jaxseg.metrics.io import load_groundtruth

    gt = load_groundtruth("BSDS500/data/groundTruth/test/2018.mat")
    ev = bench.evaluate_image(ucm2, gt, nthresh=99)  # ucm2: (2H+1, 2W+1) float
    out = bench.collect([ev])  # any number of images, in id order
    out["boundary"]["ods_f"], out["region"]["cover_ods"], out["region"]["pri_ods"]
    # or a whole dict of results, in 2 processes:
    out = bench.evaluate_results({"2018": ucm2}, "BSDS500/data/groundTruth/test", workers=2)

The boundary numbers come from an exact matcher, while the official one is randomly
seeded, so they agree with official runs to about 1e-4 (official runs differ among
themselves by as much); region numbers match the official ones digit for digit.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jaxseg.fileio import write_text_atomic
from jaxseg.metrics import boundary, region
from jaxseg.metrics.io import (
    GroundTruth,
    Result,
    as_result,
    format_table,
    list_image_ids,
    load_groundtruth,
    load_result,
    read_table,
    round_g,
    sorted_ids,
)

BENCHES = ("all", "boundary", "region")


@dataclass
class ImageEval:
    """One image's benchmark numbers.

    Attributes:
        ev1: ``(T, 5)`` boundary rows ``[thresh, cntR, sumR, cntP, sumP]`` or None.
        region: :class:`~jaxseg.metrics.region.RegionImageResult` or None.
    """

    ev1: np.ndarray | None
    region: region.RegionImageResult | None

    def rounded(self) -> ImageEval:
        """Values as the ``%10g`` intermediate files hold them."""
        return ImageEval(
            None if self.ev1 is None else round_g(self.ev1),
            None if self.region is None else self.region.rounded(),
        )


def _check_bench(bench: str) -> None:
    if bench not in BENCHES:
        raise ValueError(f"bench must be one of {BENCHES}, got {bench!r}")


def evaluate_image(
    result: Result | np.ndarray | Sequence[np.ndarray],
    gt: GroundTruth,
    *,
    nthresh: int = 99,
    bench: str = "all",
    thresholds: Sequence[float] | None = None,
    max_dist: float = boundary.MAX_DIST,
    thin_maps: bool = True,
) -> ImageEval:
    """Evaluates one image.

    Args:
        result: ucm2 ``(2H+1, 2W+1)``, segs ``(n, H, W)`` labels >= 1, or a boundary map
            ``(H, W)`` (boundary benchmark only), or a :class:`~jaxseg.metrics.io.Result`.
        gt: the image's ground truth (:func:`~jaxseg.metrics.io.load_groundtruth`).
        nthresh: thresholds ``k/(nthresh+1)``, k = 1..nthresh (segs use their own scales).
        bench: ``"all"``, ``"boundary"`` or ``"region"``.
        thresholds: explicit increasing thresholds for ucm2/pb (instead of ``nthresh``).
        max_dist: boundary matching tolerance (fraction of the diagonal).
        thin_maps: thin machine boundary maps (official default).

    Returns:
        :class:`ImageEval` (not rounded).
    """
    _check_bench(bench)
    result = as_result(result, shape=gt.shape)
    if result.kind == "pb" and bench != "boundary":
        raise ValueError(
            "a boundary map (PNG/pb) can only be evaluated with bench='boundary'; the region "
            "benchmark needs a ucm2 or segs"
        )
    ev1 = reg = None
    if bench in ("all", "boundary"):
        ev1 = boundary.evaluate_image_boundary(
            result,
            gt.boundaries,
            nthresh=nthresh,
            thresholds=thresholds,
            max_dist=max_dist,
            thin_maps=thin_maps,
        )
    if bench in ("all", "region"):
        reg = region.evaluate_image_region(
            result, gt.segmentations, nthresh=nthresh, thresholds=thresholds
        )
    return ImageEval(ev1, reg)


def collect(evals: Sequence[ImageEval], *, round_intermediates: bool = True) -> dict:
    """Dataset figures of the per-image results (official collectors).

    Args:
        evals: per-image results in image order (use byte-sorted ids to match official
            row numbers).
        round_intermediates: round per-image numbers to 6 significant digits first, as
            the official intermediate files do (needed for digit-exact output).

    Returns:
        dict with ``"boundary"`` (see :func:`~jaxseg.metrics.boundary.collect_boundary`)
        and/or ``"region"`` (see :func:`~jaxseg.metrics.region.collect_region`) entries
        and ``"n_images"``.
    """
    if len(evals) == 0:
        raise ValueError("no images to collect")
    if round_intermediates:
        evals = [e.rounded() for e in evals]
    out: dict = {"n_images": len(evals)}
    if all(e.ev1 is not None for e in evals):
        thr = evals[0].ev1[:, 0]
        out["boundary"] = boundary.collect_boundary(thr, [e.ev1[:, 1:5] for e in evals])
    if all(e.region is not None for e in evals):
        thr = evals[0].region.ev2[:, 0]
        out["region"] = region.collect_region(thr, [e.region for e in evals])
    return out


def _jsonable(collected: dict) -> dict:
    """Scalar figures only (tables stay in the text files), plus the boundary P-R curve."""

    def scalar(v):
        if isinstance(v, str | bool | type(None)):
            return v
        if isinstance(v, int | np.integer):
            return int(v)
        return float(v)

    out = {}
    for key, val in collected.items():
        if isinstance(val, dict):
            out[key] = {
                k: scalar(v)
                for k, v in val.items()
                if np.ndim(v) == 0 and not isinstance(v, list | np.ndarray)
            }
            if key == "boundary":
                out[key]["thr"] = val["thr"].tolist()
        else:
            out[key] = val
    return out


def _eval_worker(args) -> tuple[str, ImageEval]:
    image_id, result, gt, kwargs = args
    if isinstance(result, str | Path):
        result = load_result(result)
    if isinstance(gt, str | Path):
        gt = load_groundtruth(gt)
    return image_id, evaluate_image(result, gt, **kwargs)


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: the parent may hold JAX threads, which do not survive fork.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _map_images(tasks: list, workers: int, progress: bool, desc: str):
    """Yields ``(image_id, ImageEval)`` as they finish."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not progress, smoothing=0.1)
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield _eval_worker(task)
                bar.update()
        else:
            pool = _pool(min(workers, len(tasks)))
            try:
                futures = [pool.submit(_eval_worker, task) for task in tasks]
                for fut in as_completed(futures):
                    yield fut.result()
                    bar.update()
            finally:
                # on an error (or Ctrl-C) do not wait for the queued images
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()


def evaluate_results(
    results: Mapping[str, Result | np.ndarray | Sequence[np.ndarray]],
    groundtruth: Mapping[str, GroundTruth] | str | os.PathLike,
    *,
    nthresh: int = 99,
    bench: str = "all",
    workers: int = 1,
    progress: bool = False,
    thresholds: Sequence[float] | None = None,
    max_dist: float = boundary.MAX_DIST,
    thin_maps: bool = True,
) -> dict:
    """Runs the whole benchmark on in-memory results.

    Args:
        results: ``{image_id: ucm2 | segs | pb}`` (arrays as in :func:`evaluate_image`).
        groundtruth: ``{image_id: GroundTruth}`` or a directory of ``<id>.mat`` files.
        nthresh, bench, thresholds, max_dist, thin_maps: as in :func:`evaluate_image`.
        workers: processes (1 = in this process).
        progress: show a tqdm bar.

    Returns:
        The :func:`collect` dict, images in byte-sorted id order, plus ``"images"`` (ids).
    """
    _check_bench(bench)
    ids = sorted_ids(results)
    if not ids:
        raise ValueError("results is empty; pass at least one image")
    if isinstance(groundtruth, str | os.PathLike):
        gt_dir = Path(groundtruth)
        missing = [i for i in ids if not (gt_dir / f"{i}.mat").is_file()]
        if missing:
            raise FileNotFoundError(f"no ground truth in {gt_dir} for images {missing[:10]}")
        gts = {i: gt_dir / f"{i}.mat" for i in ids}
    else:
        missing = [i for i in ids if i not in groundtruth]
        if missing:
            raise KeyError(f"no ground truth for images {missing[:10]}")
        gts = groundtruth
    kwargs = dict(
        nthresh=nthresh, bench=bench, thresholds=thresholds, max_dist=max_dist, thin_maps=thin_maps
    )
    tasks = [(i, results[i], gts[i], kwargs) for i in ids]
    evals = dict(_map_images(tasks, workers, progress, "bench"))
    out = collect([evals[i] for i in ids])
    out["images"] = ids
    return out


# ---------------------------------------------------------------------------------------
# Files


def _ev_paths(out_dir: Path, image_id: str) -> dict[str, Path]:
    return {k: out_dir / f"{image_id}_{k}.txt" for k in ("ev1", "ev2", "ev3", "ev4", "ev5")}


def _needed(bench: str) -> tuple[str, ...]:
    return {
        "boundary": ("ev1",),
        "region": ("ev2", "ev3", "ev4", "ev5"),
        "all": ("ev1", "ev2", "ev3", "ev4", "ev5"),
    }[bench]


def _write_image_files(out_dir: Path, image_id: str, ev: ImageEval) -> None:
    paths = _ev_paths(out_dir, image_id)
    # ev1 last for "all", so a half-written image is never taken as finished.
    if ev.region is not None:
        r = ev.region
        write_text_atomic(paths["ev2"], format_table(r.ev2))
        write_text_atomic(paths["ev3"], format_table([[r.cnt_r_best]]))
        write_text_atomic(paths["ev4"], format_table(r.ev4))
        write_text_atomic(paths["ev5"], format_table(r.ev5))
    if ev.ev1 is not None:
        write_text_atomic(paths["ev1"], format_table(ev.ev1))


def _read_image_files(out_dir: Path, image_id: str, bench: str) -> ImageEval:
    paths = _ev_paths(out_dir, image_id)
    ev1 = read_table(paths["ev1"]) if "ev1" in _needed(bench) else None
    reg = None
    if "ev2" in _needed(bench):
        reg = region.RegionImageResult(
            read_table(paths["ev2"]),
            float(read_table(paths["ev3"])[0, 0]),
            read_table(paths["ev4"]),
            read_table(paths["ev5"]),
        )
    return ImageEval(ev1, reg)


def _is_done(out_dir: Path, image_id: str, bench: str, nthresh: int) -> bool:
    """Finished iff every needed file parses and holds the expected thresholds."""
    paths = _ev_paths(out_dir, image_id)
    expected = round_g(np.linspace(1.0 / (nthresh + 1), 1.0 - 1.0 / (nthresh + 1), nthresh))
    try:
        for key in _needed(bench):
            if key == "ev3":
                read_table(paths[key])[0, 0]
                continue
            thr = read_table(paths[key])[:, 0]
            scales = np.arange(1, thr.size + 1)
            if not (np.array_equal(thr, expected) or np.array_equal(thr, scales)):
                return False
    except (OSError, ValueError, IndexError):
        return False
    return True


def find_result_file(results_dir: Path, image_id: str) -> Path | None:
    """``<id>.mat``, else ``<id>.npz``, else ``<id>.png`` in ``results_dir``."""
    for ext in (".mat", ".npz", ".png"):
        p = results_dir / f"{image_id}{ext}"
        if p.is_file():
            return p
    return None


def write_outputs(out_dir: str | os.PathLike, collected: dict) -> None:
    """Writes the official dataset text files and ``eval_summary.json``."""
    out_dir = Path(out_dir)
    if "boundary" in collected:
        b = collected["boundary"]
        write_text_atomic(out_dir / "eval_bdry_img.txt", format_table(b["img"], int_first=True))
        write_text_atomic(out_dir / "eval_bdry_thr.txt", format_table(b["thr"]))
        write_text_atomic(out_dir / "eval_bdry.txt", format_table([b["summary"]]))
    if "region" in collected:
        r = collected["region"]
        write_text_atomic(
            out_dir / "eval_cover_img.txt", format_table(r["cover_img"], int_first=True)
        )
        write_text_atomic(out_dir / "eval_cover_th.txt", format_table(r["cover_th"]))
        write_text_atomic(out_dir / "eval_cover.txt", format_table([r["cover"]]))
        write_text_atomic(out_dir / "eval_RI_VOI_thr.txt", format_table(r["ri_voi_thr"]))
        write_text_atomic(out_dir / "eval_RI_VOI.txt", format_table([r["ri_voi"]]))
        write_text_atomic(out_dir / "eval_GCE_LCE_thr.txt", format_table(r["gce_lce_thr"]))
    write_text_atomic(
        out_dir / "eval_summary.json", json.dumps(_jsonable(collected), indent=2) + "\n"
    )


def run_bench(
    results_dir: str | os.PathLike,
    gt_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    nthresh: int = 99,
    bench: str = "all",
    workers: int = 1,
    images_dir: str | os.PathLike | None = None,
    max_dist: float = boundary.MAX_DIST,
    thin_maps: bool = True,
    progress: bool = True,
) -> dict:
    """Benchmarks a folder of results and writes the official files (resumable).

    Args:
        results_dir: ``<id>.mat`` / ``<id>.npz`` / ``<id>.png`` per image.
        gt_dir: ``<id>.mat`` ground truth per image.
        out_dir: where per-image and dataset files go (created).
        nthresh: number of thresholds for ucm2/png results.
        bench: ``"all"``, ``"boundary"`` or ``"region"``.
        workers: parallel processes.
        images_dir: take the image ids from ``<id>.jpg`` there (as the official code
            does) instead of from ``results_dir``.
        max_dist, thin_maps: as in :func:`evaluate_image`.
        progress: show a tqdm bar.

    Returns:
        The :func:`collect` dict plus ``images``, ``n_evaluated`` and ``n_skipped``.
    """
    _check_bench(bench)
    results_dir, gt_dir, out_dir = Path(results_dir), Path(gt_dir), Path(out_dir)
    if images_dir is not None:
        ids = list_image_ids(images_dir, [".jpg"])
        if not ids:
            raise FileNotFoundError(f"no .jpg images in {images_dir}")
    else:
        ids = list_image_ids(results_dir, [".mat", ".npz", ".png"])
        if not ids:
            raise FileNotFoundError(f"no result files (.mat, .npz, .png) in {results_dir}")
    if not gt_dir.is_dir():
        raise FileNotFoundError(f"ground-truth directory {gt_dir} does not exist")
    missing_res = [i for i in ids if find_result_file(results_dir, i) is None]
    if missing_res:
        raise FileNotFoundError(
            f"no result file (.mat/.npz/.png) in {results_dir} for {len(missing_res)} images, "
            f"e.g. {missing_res[:5]}"
        )
    missing_gt = [i for i in ids if not (gt_dir / f"{i}.mat").is_file()]
    if missing_gt:
        raise FileNotFoundError(
            f"no ground truth <id>.mat in {gt_dir} for {len(missing_gt)} images, "
            f"e.g. {missing_gt[:5]}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [i for i in ids if not _is_done(out_dir, i, bench, nthresh)]
    kwargs = dict(nthresh=nthresh, bench=bench, max_dist=max_dist, thin_maps=thin_maps)
    tasks = [(i, find_result_file(results_dir, i), gt_dir / f"{i}.mat", kwargs) for i in todo]
    for image_id, ev in _map_images(tasks, workers, progress, "bench"):
        _write_image_files(out_dir, image_id, ev)
    collected = collect(
        [_read_image_files(out_dir, i, bench) for i in ids], round_intermediates=False
    )
    collected.update(images=ids, n_evaluated=len(todo), n_skipped=len(ids) - len(todo))
    collected["settings"] = {
        "results": str(results_dir),
        "gt": str(gt_dir),
        "bench": bench,
        "nthresh": nthresh,
        "max_dist": max_dist,
        "thin": thin_maps,
        "matcher": "exact min-cost matching (deterministic; official CSA is randomly seeded)",
    }
    write_outputs(out_dir, collected)
    return collected


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eval.py bench",
        description="BSDS500 benchmark (boundary P/R, covering, PRI, VOI) of a folder of results.",
    )
    p.add_argument("--results", required=True, help="folder of <id>.mat (ucm2/segs), .npz or .png")
    p.add_argument("--gt", required=True, help="folder of ground-truth <id>.mat files")
    p.add_argument("--out", required=True, help="output folder (per-image and eval_*.txt files)")
    p.add_argument("--nthresh", type=int, default=99, help="thresholds for ucm2/png (default 99)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--images", default=None, help="take image ids from <id>.jpg in this folder")
    p.add_argument("--bench", choices=BENCHES, default="all", help="which benchmark (default all)")
    p.add_argument("--max-dist", type=float, default=boundary.MAX_DIST, help="matching tolerance")
    p.add_argument("--no-thin", action="store_true", help="do not thin machine boundary maps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _print_summary(collected: dict) -> None:
    if "boundary" in collected:
        b = collected["boundary"]
        print(
            f"Boundary  ODS F={b['ods_f']:.4f} (R={b['ods_r']:.4f} P={b['ods_p']:.4f} "
            f"t={b['ods_t']:g})  OIS F={b['ois_f']:.4f}  AP={b['ap']:.4f}  R50={b['r50']:.4f}"
        )
    if "region" in collected:
        r = collected["region"]
        print(
            f"Covering  ODS={r['cover_ods']:.4f} OIS={r['cover_ois']:.4f}"
            f" Best={r['cover_best']:.4f}"
            f"  PRI ODS={r['pri_ods']:.4f} OIS={r['pri_ois']:.4f}"
            f"  VOI ODS={r['voi_ods']:.4f} OIS={r['voi_ois']:.4f}"
            f"  GCE@PRI-ODS={r['gce_at_pri_ods']:.4f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of :func:`run_bench`; returns the exit status."""
    args = build_parser().parse_args(argv)
    collected = run_bench(
        args.results,
        args.gt,
        args.out,
        nthresh=args.nthresh,
        bench=args.bench,
        workers=args.workers,
        images_dir=args.images,
        max_dist=args.max_dist,
        thin_maps=not args.no_thin,
        progress=not args.no_progress,
    )
    print(
        f"{collected['n_images']} images ({collected['n_evaluated']} evaluated, "
        f"{collected['n_skipped']} already done) -> {args.out}"
    )
    _print_summary(collected)
    return 0
