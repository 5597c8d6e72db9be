"""``jaxseg bench`` (and ``eval.py bench``): the command line of the BSDS500 benchmark
(:func:`jaxseg.metrics.bench.run_bench`).

    jaxseg bench RESULTS --gt GT --out OUT [--split test] [--nthresh N] [--workers N]
    python eval.py bench --results RESULTS --gt GT --out OUT [...]      (the same command)

``RESULTS`` holds one file per image: ucm2 or segs ``.mat``, jaxseg's ``.npz``, or PNGs
(boundary maps, or label images with ``--png-kind labels``). ``--gt`` is a folder of
ground-truth ``<id>.mat`` files or a BSDS500 root (``data/groundTruth/<--split>`` is used).
Writes the official files, ``eval_summary.json``, ``eval_summary.md`` (a markdown table)
and ``eval_pr.png`` (the boundary P-R curve; boundary benchmark only) into ``OUT``.

Exit codes: 0 every image evaluated or reused; 1 some result files were skipped (listed on
stderr and in ``eval_summary.json``); 2 bad settings, a missing file or a broken ground
truth; 130 Ctrl-C (the finished images are kept; the same command continues).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from jaxseg.cli import ArgumentParser
from jaxseg.data import bsds500
from jaxseg.metrics import bench, boundary
from jaxseg.metrics.io import PNG_KINDS

__all__ = ["REPORT_FILES", "add_arguments", "build_parser", "main", "resolve_gt", "run"]

SPLITS = ("train", "val", "test")
REPORT_FILES = ("eval_summary.md", "eval_pr.png")
"""Written by the command after :func:`~jaxseg.metrics.bench.run_bench`'s files."""


def add_arguments(p: argparse.ArgumentParser, *, positional_results: bool) -> None:
    """The benchmark's options on ``p``: ``RESULTS`` positional (``jaxseg bench``) or
    ``--results`` (``eval.py bench``)."""
    results_help = (
        "folder of results, one file per image: <id>.mat (ucm2 or segs), <id>.npz (jaxseg) "
        "or <id>.png (boundary map, or label image with --png-kind labels)"
    )
    if positional_results:
        p.add_argument("results", metavar="RESULTS", help=results_help)
    else:
        p.add_argument("--results", required=True, help=results_help)
    p.add_argument(
        "--gt",
        required=True,
        help="ground truth: a folder of <id>.mat files, or a BSDS500 root (its "
        "data/groundTruth/<split> is used)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="test",
        help="with a BSDS500 root as --gt: which split's ground truth (default test)",
    )
    p.add_argument("--out", required=True, help="output folder (per-image and eval_* files)")
    p.add_argument(
        "--png-kind",
        choices=PNG_KINDS,
        default="boundary",
        help="how <id>.png results are read: grayscale boundary maps (value/255, 16-bit "
        "value/65535; boundary benchmark only) or 8/16-bit label images (default boundary)",
    )
    p.add_argument("--nthresh", type=int, default=99, help="thresholds for ucm2/png (default 99)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--images", default=None, help="take image ids from <id>.jpg in this folder")
    p.add_argument(
        "--bench", choices=bench.BENCHES, default="all", help="which benchmark (default all)"
    )
    p.add_argument("--max-dist", type=float, default=boundary.MAX_DIST, help="matching tolerance")
    p.add_argument("--no-thin", action="store_true", help="do not thin machine boundary maps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> ArgumentParser:
    """The ``eval.py bench`` options (``jaxseg bench`` has the same, RESULTS positional)."""
    p = ArgumentParser(
        prog="eval.py bench",
        description="BSDS500 benchmark (boundary P/R, covering, PRI, VOI) of a folder of results.",
    )
    add_arguments(p, positional_results=False)
    return p


def resolve_gt(gt: str | Path, split: str = "test") -> Path:
    """The folder of ground-truth ``<id>.mat`` files that ``--gt`` names.

    Args:
        gt: a folder holding ``<id>.mat`` files, or a BSDS500 root (or its ``data/``
            folder), whose ``groundTruth/<split>`` is then used.
        split: the BSDS500 split for a root.

    Returns:
        The folder.

    Raises:
        FileNotFoundError: ``gt`` is missing, or neither holds ``.mat`` files nor is a
            BSDS500 folder with that split; the message names both places it looked.
    """
    path = Path(gt).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"--gt {gt}: no such folder")
    if any(path.glob("*.mat")):
        return path
    data = bsds500.find_data_folder(path, f"groundTruth/{split}")
    if data is not None:
        folder = data / "groundTruth" / split
        if not any(folder.glob("*.mat")):
            raise FileNotFoundError(f"--gt {gt}: {folder} holds no <id>.mat files")
        return folder
    raise FileNotFoundError(
        f"--gt {gt}: neither a folder of ground-truth <id>.mat files nor a BSDS500 root "
        f"(no {path / 'data' / 'groundTruth' / split}); pass the BSDS500 root or its "
        "data/groundTruth/<split> folder"
    )


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


def _write_reports(out: Path, collected: dict) -> None:
    """``eval_summary.md`` and, with the boundary benchmark, ``eval_pr.png``."""
    from jaxseg.fileio import write_text_atomic
    from jaxseg.metrics.plot import markdown_table, plot_pr

    write_text_atomic(out / "eval_summary.md", markdown_table([out], labels=[out.name]))
    if "boundary" in collected:
        plot_pr([out], out / "eval_pr.png", labels=[out.name])


def run(args: argparse.Namespace, prog: str) -> int:
    """Runs the benchmark with parsed ``args``; returns the exit status (see module doc)."""
    out = Path(args.out)
    try:
        gt = resolve_gt(args.gt, args.split)
        for name in REPORT_FILES:  # never left beside other inputs' figures
            (out / name).unlink(missing_ok=True)
        collected = bench.run_bench(
            args.results,
            gt,
            out,
            nthresh=args.nthresh,
            bench=args.bench,
            workers=args.workers,
            images_dir=args.images,
            max_dist=args.max_dist,
            thin_maps=not args.no_thin,
            progress=not args.no_progress,
            png=args.png_kind,
        )
        _write_reports(out, collected)
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted; finished images are kept in "
            f"{args.out}, the same command continues",
            file=sys.stderr,
        )
        return 130
    except (OSError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(
        f"{collected['n_images']} images ({collected['n_evaluated']} evaluated, "
        f"{collected['n_reused']} reused) -> {args.out}"
    )
    _print_summary(collected)
    skipped = collected["skipped"]
    if skipped:
        print(
            f"{prog}: {len(skipped)} result files skipped (not in the figures above):",
            file=sys.stderr,
        )
        for s in skipped:
            print(f"  {s['error']}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eval.py bench`` with ``argv``; returns the exit status.

    0: every image evaluated or reused; 1: some result files were skipped (listed on
    stderr and in ``eval_summary.json``); 2: bad settings, a missing file or a broken
    ground truth; 130: Ctrl-C.
    """
    return run(build_parser().parse_args(argv), "eval.py bench")
