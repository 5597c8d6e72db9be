"""The BSDS500 benchmark driver: per-image evaluation, collection, files.

Library entry points (in-memory, no files):

* :func:`evaluate_image` (``result, gt, *, nthresh, bench``) -> :class:`ImageEval`
  (per-threshold boundary counts and/or region numbers of one image);
* :func:`collect` (``evals``) -> summary dict (ODS/OIS/AP/R50, covering, PRI, VOI,
  GCE/LCE and the official tables), from per-image numbers rounded to 6 significant
  digits like the official intermediate files;
* :func:`evaluate_results` (``{image_id: ucm2 | segs | pb}``, ground truth) -> summary
  dict, optionally in parallel;
* :func:`run_bench` (results dir, gt dir, out dir) -> summary dict, writing the official
  text files; its command line is :mod:`jaxseg.cli.bench` (``python eval.py bench ...``).

Files written by :func:`run_bench` into ``out_dir``:

* per image: ``<id>_ev1.txt`` (boundary ``thresh cntR sumR cntP sumP``),
  ``<id>_ev2.txt`` (covering, same columns), ``<id>_ev3.txt`` (best covering count),
  ``<id>_ev4.txt`` (``thresh PRI VOI``), ``<id>_ev5.txt`` (``thresh GCE LCE``, jaxseg's
  addition), then ``<id>_ev.json``: the fingerprint of what they were made from (SHA-256
  of the result and ground-truth files, bench, nthresh, max_dist, thinning) and of the
  files themselves, written last: an image whose fingerprint is missing or does not
  match is not finished;
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

Reruns: an image is reused only when its ``<id>_ev.json`` matches the inputs and settings
of this run and its per-image files are those it records; every other image is evaluated
again. A result file that cannot be evaluated (unreadable, wrong size for the image, values
outside ``[0, 1]``) is reported in ``skipped`` and left out; the others are evaluated.
Worker processes stop when the parent does, even after ``kill -9``.

The boundary numbers come from an exact matcher, while the official one is randomly
seeded, so they agree with official runs to about 1e-4 (official runs differ among
themselves by as much); region numbers match the official ones digit for digit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jaxseg.fileio import remove_stale_temps, write_text_atomic
from jaxseg.metrics import boundary, region
from jaxseg.metrics.io import (
    PNG_KINDS,
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


def _eval_worker(args) -> tuple[str, ImageEval | None, str | None]:
    """``(image_id, ImageEval, None)``, or ``(image_id, None, reason)`` for a bad result file.

    A result given as a path is the user's file: anything wrong with it (unreadable,
    wrong size, values out of range) skips that image. A broken ground truth, or a bad
    in-memory result, stops the run.
    """
    image_id, result, gt, kwargs = args
    kwargs = dict(kwargs)
    png = kwargs.pop("png", "boundary")
    if isinstance(gt, str | Path):
        gt = load_groundtruth(gt)
    if not isinstance(result, str | Path):
        return image_id, evaluate_image(result, gt, **kwargs), None
    try:
        return image_id, evaluate_image(load_result(result, png=png), gt, **kwargs), None
    except (OSError, ValueError) as e:
        reason = str(e)
        return image_id, None, reason if str(result) in reason else f"{result}: {reason}"


_WATCH_INTERVAL_S = 0.5


def _worker_init(parent_pid: int) -> None:
    """Runs first in each pool process.

    Ctrl-C is the parent's to handle. A watcher thread ends the process once the parent
    is gone: ``kill -9`` of the parent leaves it orphaned, and its parent pid changes.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCH_INTERVAL_S)
        os._exit(1)

    threading.Thread(target=watch, name="jaxseg-parent-watch", daemon=True).start()


@contextlib.contextmanager
def worker_pool(max_workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool for host-side work, safe to interrupt.

    Spawned processes (the parent may hold JAX threads, which do not survive fork)
    that ignore Ctrl-C (the parent's to handle) and end when the parent is gone (even
    after ``kill -9``); on an error or Ctrl-C in the ``with`` block they are terminated
    at once rather than after their current task. Submit inside
    :func:`sigint_ignored` (processes start at submit).
    """
    others = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=max_workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    try:
        yield pool
    except BaseException:
        for process in set(multiprocessing.active_children()) - others:
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def sigint_ignored():
    """SIGINT ignored while pool processes start: they inherit it, so a Ctrl-C during
    their start-up (imports) does not print a traceback from each of them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _map_images(tasks: list, workers: int, progress: bool, desc: str):
    """Yields :func:`_eval_worker` answers as they finish."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not progress, smoothing=0.1)
    try:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                yield _eval_worker(task)
                bar.update()
        else:
            with worker_pool(min(workers, len(tasks))) as pool:
                with sigint_ignored():  # processes start at submit
                    futures = [pool.submit(_eval_worker, task) for task in tasks]
                for fut in as_completed(futures):
                    yield fut.result()
                    bar.update()
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
    with contextlib.closing(_map_images(tasks, workers, progress, "bench")) as answers:
        evals = {image_id: ev for image_id, ev, _ in answers}
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


def _fingerprint_path(out_dir: Path, image_id: str) -> Path:
    return out_dir / f"{image_id}_ev.json"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_fingerprint(path: Path) -> dict:
    with open(path, "rb") as f:
        return {"name": path.name, "sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def _image_texts(ev: ImageEval) -> dict[str, str]:
    """The per-image files' contents, ``{"ev1": text, ...}``."""
    texts = {}
    if ev.ev1 is not None:
        texts["ev1"] = format_table(ev.ev1)
    if ev.region is not None:
        r = ev.region
        texts.update(
            ev2=format_table(r.ev2),
            ev3=format_table([[r.cnt_r_best]]),
            ev4=format_table(r.ev4),
            ev5=format_table(r.ev5),
        )
    return texts


def _write_image_files(out_dir: Path, image_id: str, ev: ImageEval, inputs: dict) -> None:
    """Per-image files, then their fingerprint with the SHA-256 of each file.

    An interrupted write leaves no fingerprint, or one whose files do not match (an
    earlier run's): either way :func:`_is_reusable` is False and the image is redone.
    """
    paths = _ev_paths(out_dir, image_id)
    texts = _image_texts(ev)
    for key, text in texts.items():
        write_text_atomic(paths[key], text)
    record = {"inputs": inputs, "files": {k: _sha256(t.encode()) for k, t in texts.items()}}
    write_text_atomic(_fingerprint_path(out_dir, image_id), json.dumps(record, indent=1) + "\n")


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


def _is_reusable(out_dir: Path, image_id: str, bench: str, inputs: dict) -> bool:
    """True iff the image's fingerprint records ``inputs`` and its files are unchanged."""
    paths = _ev_paths(out_dir, image_id)
    try:
        record = json.loads(_fingerprint_path(out_dir, image_id).read_text())
        if record["inputs"] != inputs or set(record["files"]) != set(_needed(bench)):
            return False
        return all(
            _sha256(paths[k].read_text().encode()) == digest
            for k, digest in record["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def find_result_file(results_dir: Path, image_id: str) -> Path | None:
    """``<id>.mat``, else ``<id>.npz``, else ``<id>.png`` in ``results_dir``."""
    for ext in (".mat", ".npz", ".png"):
        p = results_dir / f"{image_id}{ext}"
        if p.is_file():
            return p
    return None


DATASET_FILES = (
    "eval_bdry.txt",
    "eval_bdry_img.txt",
    "eval_bdry_thr.txt",
    "eval_cover.txt",
    "eval_cover_img.txt",
    "eval_cover_th.txt",
    "eval_RI_VOI.txt",
    "eval_RI_VOI_thr.txt",
    "eval_GCE_LCE_thr.txt",
    "eval_summary.json",
)


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
    png: str = "boundary",
) -> dict:
    """Benchmarks a folder of results and writes the official files (resumable).

    An image's per-image files are reused only when its ``<id>_ev.json`` records the same
    result and ground-truth files (SHA-256), bench, nthresh, max_dist and thinning, and
    the files are unchanged since; other images are evaluated. The dataset files of an
    earlier run are removed first, so they never describe other inputs than the ones
    beside them.

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
        png: how ``.png`` results are read (:func:`~jaxseg.metrics.io.load_result`):
            ``"boundary"`` maps or ``"labels"`` images.

    Returns:
        The :func:`collect` dict plus ``images`` (those in the figures), ``n_evaluated``,
        ``n_reused`` and ``skipped`` (``[{"image", "file", "error"}]``: result files that
        could not be evaluated and are left out of the figures).

    Raises:
        FileNotFoundError: a folder, a result file or a ground-truth file is missing.
        ValueError: bad settings, a broken ground-truth file, or no result file could be
            evaluated.
    """
    _check_bench(bench)
    if nthresh < 1:
        raise ValueError(f"nthresh must be >= 1, got {nthresh}")
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
    result_files = {i: find_result_file(results_dir, i) for i in ids}
    missing_res = [i for i in ids if result_files[i] is None]
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
    if png not in PNG_KINDS:
        raise ValueError(f"png must be one of {PNG_KINDS}, got {png!r}")
    pngs = [result_files[i].name for i in ids if result_files[i].suffix.lower() == ".png"]
    if pngs and bench != "boundary" and png == "boundary":
        raise ValueError(
            f"{results_dir} holds {len(pngs)} PNG boundary maps (e.g. {pngs[0]}); a boundary "
            "map can only be evaluated with bench='boundary' (--bench boundary): the region "
            "benchmark needs a ucm2 or segs (.mat/.npz), or label images (png='labels', "
            "--png-kind labels)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out_dir)
    for name in DATASET_FILES:  # rewritten at the end; never left beside other inputs' images
        (out_dir / name).unlink(missing_ok=True)

    settings = dict(bench=bench, nthresh=nthresh, max_dist=float(max_dist), thin=bool(thin_maps))
    if pngs and png != "boundary":
        settings["png"] = png
    skipped, inputs = [], {}
    for i in ids:
        try:
            result_fp = _file_fingerprint(result_files[i])
        except OSError as e:
            skipped.append({"image": i, "file": str(result_files[i]), "error": str(e)})
            continue
        inputs[i] = {"result": result_fp, "gt": _file_fingerprint(gt_dir / f"{i}.mat")}
        inputs[i].update(settings)
    todo = [i for i in inputs if not _is_reusable(out_dir, i, bench, inputs[i])]
    kwargs = dict(nthresh=nthresh, bench=bench, max_dist=max_dist, thin_maps=thin_maps)
    if png != "boundary":
        kwargs["png"] = png
    tasks = [(i, result_files[i], gt_dir / f"{i}.mat", kwargs) for i in todo]
    with contextlib.closing(_map_images(tasks, workers, progress, "bench")) as answers:
        for image_id, ev, error in answers:
            if ev is None:
                skipped.append(
                    {"image": image_id, "file": str(result_files[image_id]), "error": error}
                )
            else:
                _write_image_files(out_dir, image_id, ev, inputs[image_id])
    skipped.sort(key=lambda s: s["image"].encode())
    bad = {s["image"] for s in skipped}
    done = [i for i in ids if i not in bad]
    if not done:
        raise ValueError(
            f"none of the {len(ids)} result files in {results_dir} could be evaluated: "
            + "; ".join(s["error"] for s in skipped[:5])
        )
    collected = collect(
        [_read_image_files(out_dir, i, bench) for i in done], round_intermediates=False
    )
    n_evaluated = len(todo) - len(bad & set(todo))
    collected.update(
        images=done,
        n_evaluated=n_evaluated,
        n_reused=len(done) - n_evaluated,
        skipped=skipped,
    )
    collected["settings"] = {
        "results": str(results_dir),
        "gt": str(gt_dir),
        **settings,
        "matcher": "exact min-cost matching (deterministic; official CSA is randomly seeded)",
    }
    write_outputs(out_dir, collected)
    return collected
