"""``eval.py bench``: the command line of the BSDS500 benchmark
(:func:`jaxseg.metrics.bench.run_bench`).

    python eval.py bench --results DIR --gt DIR --out DIR [--nthresh N] [--workers N]

Exit codes: 0 every image evaluated or reused; 1 some result files were skipped (listed on
stderr and in ``eval_summary.json``); 2 bad settings, a missing file or a broken ground
truth; 130 Ctrl-C (the finished images are kept; the same command continues).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jaxseg.cli import ArgumentParser
from jaxseg.metrics import bench, boundary

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The ``eval.py bench`` options."""
    p = ArgumentParser(
        prog="eval.py bench",
        description="BSDS500 benchmark (boundary P/R, covering, PRI, VOI) of a folder of results.",
    )
    p.add_argument("--results", required=True, help="folder of <id>.mat (ucm2/segs), .npz or .png")
    p.add_argument("--gt", required=True, help="folder of ground-truth <id>.mat files")
    p.add_argument("--out", required=True, help="output folder (per-image and eval_*.txt files)")
    p.add_argument("--nthresh", type=int, default=99, help="thresholds for ucm2/png (default 99)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default 1)")
    p.add_argument("--images", default=None, help="take image ids from <id>.jpg in this folder")
    p.add_argument(
        "--bench", choices=bench.BENCHES, default="all", help="which benchmark (default all)"
    )
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
    """Runs ``eval.py bench`` with ``argv``; returns the exit status.

    0: every image evaluated or reused; 1: some result files were skipped (listed on
    stderr and in ``eval_summary.json``); 2: bad settings, a missing file or a broken
    ground truth; 130: Ctrl-C.
    """
    args = build_parser().parse_args(argv)
    try:
        collected = bench.run_bench(
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
    except KeyboardInterrupt:
        print(
            "eval.py bench: interrupted; finished images are kept in "
            f"{args.out}, the same command continues",
            file=sys.stderr,
        )
        return 130
    except (OSError, ValueError) as e:
        print(f"eval.py bench: error: {e}", file=sys.stderr)
        return 2
    print(
        f"{collected['n_images']} images ({collected['n_evaluated']} evaluated, "
        f"{collected['n_reused']} reused) -> {args.out}"
    )
    _print_summary(collected)
    skipped = collected["skipped"]
    if skipped:
        print(
            f"eval.py bench: {len(skipped)} result files skipped (not in the figures above):",
            file=sys.stderr,
        )
        for s in skipped:
            print(f"  {s['error']}", file=sys.stderr)
        return 1
    return 0
