"""``jaxseg segment``: superpixels, segments and pictures of them, for any images.

Usage (see ``docs/segment.md``)::

    jaxseg segment photo.jpg holiday/ --out results/ [--method slic] [--level medium] [--html]
    python -m jaxseg segment --sample astronaut --out results/ --html

This module parses the arguments, finds the input images, reads them
(:func:`jaxseg.io.read_image`, downscaled to ``--max-side``) and writes the outputs; the
segmentation itself is :class:`jaxseg.pipeline.Segmenter`, the same code the BSDS500
evaluations run. Without options a method runs with its recorded settings (for
``wang2020`` and ``dsc`` the ``settings.json`` of the model folder, chosen on BSDS500
val); options override single settings.

Outputs per image ``OUT/<name>/``: ``superpixels`` and ``segments`` (``.npy`` and 16-bit
``.png``), their overlays, ``ucm.png`` (methods with a merge hierarchy) and
``result.json`` (written last: the method's ``settings``, sizes, timings, notes); and
``OUT/bench/<name>.npz`` for ``eval.py bench``: ``ucm2`` and ``segs`` = the segments + 1
for a hierarchy method, ``segs`` = the method's stack of segmentations + 1 for the others
(``felzenszwalb``, ``dsc``).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jaxseg import io
from jaxseg.cli import ArgumentParser

if TYPE_CHECKING:
    from jaxseg.pipeline import Segmentation

__all__ = ["LEVELS", "SAMPLES", "main"]

LEVELS = {"fine": 0.3, "medium": 0.5, "coarse": 0.7}
"""Named UCM thresholds ``--level`` (merge level ``1 - s``; higher = fewer, larger
segments)."""
SAMPLES = {
    "astronaut": "astronaut.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "rocket": "rocket.jpg",
}
"""``--sample`` names: images shipped inside scikit-image's wheel (``skimage/data``)."""


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
OPTIONAL_FILES = ("superpixels.png", "segments.png", "ucm.png")
REQUIRED_FILES = tuple(f for f in OUTPUT_FILES if f not in OPTIONAL_FILES)
"""What every finished image has (the label PNGs are left out above 65536 labels, the
UCM picture for methods without a hierarchy)."""
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


def _setting(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return name.strip().replace("-", "_"), value


def _build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="jaxseg", description="Differentiable superpixels and segmentation in JAX."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "segment",
        help="superpixels, segments and a UCM hierarchy for images or folders of images",
        description=(
            "Segment images: writes OUT/<name>/ (superpixels, segments, UCM, overlays, "
            "result.json) and OUT/bench/<name>.npz (ucm2 and/or segs for `eval.py bench`). "
            "With no settings options, each method runs with its recorded settings (for the "
            "learned methods the settings.json of the model folder). Exit code 1 when any "
            "input failed, 2 on bad options."
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
    from jaxseg.pipeline import METHODS, default_method

    p.add_argument(
        "--method",
        choices=list(METHODS),
        default=None,
        help=f"segmentation method (default: {default_method()}; wang2020 when its "
        "packaged model is installed, else slic)",
    )
    p.add_argument(
        "--checkpoint",
        type=Path,
        help="model folder: the wang2020 network (--method wang2020) or the SuperAE "
        "(--method dsc); default: the packaged one",
    )
    s = p.add_argument_group(
        "settings",
        "Without these, the method runs with its recorded settings: for wang2020 and dsc "
        "those in the model folder's settings.json (chosen on BSDS500 val), for slic and "
        "felzenszwalb those chosen the same way (jaxseg.pipeline.classic). Each option "
        "overrides one setting; a setting the method does not have is an error. The "
        "settings used are written to result.json.",
    )
    s.add_argument(
        "--n-segments",
        type=_positive_int,
        help="requested superpixels (felzenszwalb: regions, its scale searched per image)",
    )
    level = s.add_mutually_exclusive_group()
    level.add_argument("--threshold", type=_unit_float, help="UCM level in [0, 1] of the segments")
    level.add_argument(
        "--level",
        choices=sorted(LEVELS, key=LEVELS.get),
        help="named threshold: fine=0.3 medium=0.5 coarse=0.7",
    )
    s.add_argument("--compactness", type=float, help="SLIC compactness")
    s.add_argument(
        "--num-iters",
        "--dsc-iters",
        type=_positive_int,
        dest="num_iters",
        help="iterations: SLIC/SSN k-means steps, DSC optimisation steps (dsc)",
    )
    s.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        type=_setting,
        help="any setting of the method, VALUE as JSON (else text): e.g. --set "
        "scale=1000 (felzenszwalb), --set 'counts=[100,20]' (dsc); repeatable",
    )
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

    from jaxseg.cli import bench, plot

    b = sub.add_parser(
        "bench",
        help="BSDS500 benchmark of a folder of results (any method's)",
        description=(
            "BSDS500 benchmark (boundary P/R/F, covering, PRI, VI) of a folder of results: "
            "ucm2/segs .mat, jaxseg .npz, boundary-map or label PNGs. Writes the official "
            "eval_*.txt files, eval_summary.json, eval_summary.md and eval_pr.png into OUT. "
            "Exit code 1 when result files were skipped, 2 on bad options or missing files."
        ),
    )
    bench.add_arguments(b, positional_results=True)
    b.set_defaults(func=lambda args: bench.run(args, "jaxseg bench"))
    q = sub.add_parser(
        "plot",
        help="P-R curves (and a table) of benchmark output folders",
        description="Boundary P-R curves with ODS/OIS points over iso-F curves, of folders "
        "written by jaxseg bench or the official benchmark; --md adds a markdown table.",
    )
    plot.add_arguments(q)
    q.set_defaults(func=lambda args: plot.run(args, "jaxseg plot"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jaxseg`` console script (``segment``, ``bench``, ``plot``);
    returns the exit code."""
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
    """Writes one image's files, :data:`DONE_FILE` last."""
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
    if res.ucm2 is not None:
        io.write_png(folder / "ucm.png", overlay.ucm_image(res.ucm2))
    else:  # a stack of segmentations, no hierarchy to draw
        (folder / "ucm.png").unlink(missing_ok=True)  # an earlier run's
    if write_input:
        with io.atomic_write(folder / "input.jpg") as f:
            from PIL import Image

            Image.fromarray(display).save(f, format="JPEG", quality=90)
    bench = _bench_path(out, pending.item.name)
    if res.ucm2 is not None:
        save_npz_result(bench, ucm2=res.ucm2, segs=res.segments[None] + 1)
    else:
        save_npz_result(bench, segs=res.segs + 1)
    info["timings_s"]["write"] = time.perf_counter() - start
    info["timings_s"]["total"] = sum(info["timings_s"].values())
    io.write_json(folder / DONE_FILE, info)


def _settings_from_args(args: argparse.Namespace) -> dict:
    """The settings the options give (None: not given, the method's default)."""
    settings = {
        "n_segments": args.n_segments,
        "threshold": LEVELS[args.level] if args.level else args.threshold,
        "compactness": args.compactness,
        "num_iters": args.num_iters,
    }
    for name, value in args.set:
        if settings.get(name) is not None:
            flag = "--" + ("level/--threshold" if name == "threshold" else name.replace("_", "-"))
            raise _UsageError(f"--set {name}=...: {name} is also given by {flag}; give it once")
        if name == "checkpoint":
            raise _UsageError("--set checkpoint=...: use --checkpoint DIR")
        settings[name] = value
    return {k: v for k, v in settings.items() if v is not None}


def _cmd_segment(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import jaxseg
    from jaxseg.pipeline import Segmenter

    if args.max_side < 0:
        raise _UsageError(f"--max-side must be >= 0 (0 = never downscale), got {args.max_side}")
    if not args.inputs and not args.sample:
        raise _UsageError("give at least one IMAGE_OR_DIR (or --sample astronaut)")
    _check_out(args.out)
    settings = _settings_from_args(args)
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
        segmenter = Segmenter(args.method, checkpoint=args.checkpoint, **settings)
    except (ValueError, NotImplementedError, FileNotFoundError) as e:
        raise _UsageError(str(e)) from None
    method = segmenter.name
    run = {
        "level": args.level,
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
                "settings": segmenter.settings,
                "run": run,
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
    """``OUT/index.html`` and each image's ``page.js``: the gallery of every finished image
    in ``out`` and the hierarchy viewer (:mod:`jaxseg.cli.page`)."""
    from jaxseg.cli import page
    from jaxseg.fileio import remove_stale_temps

    remove_stale_temps(out, INDEX_FILE)
    page.write_page(out, _finished_names(out), _bench_path)
