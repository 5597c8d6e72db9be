"""``jaxseg plot`` (and ``eval.py plot``): boundary P-R curves and a summary table of
benchmark output folders (:func:`jaxseg.metrics.plot.plot_pr`,
:func:`~jaxseg.metrics.plot.markdown_table`).

    jaxseg plot OUT... --png FILE [--labels NAME...] [--title T] [--md FILE]
    python eval.py plot OUT... --png FILE [...]                  (the same command)

``OUT`` folders are written by ``jaxseg bench`` or by the official MATLAB benchmark.
Exit codes: 0 written; 2 a folder without benchmark files or labels that do not fit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from jaxseg.cli import ArgumentParser

__all__ = ["add_arguments", "build_parser", "main", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The plot options on ``p``."""
    p.add_argument(
        "out_dirs",
        nargs="+",
        metavar="OUT",
        help="benchmark output folders (eval_bdry*.txt; jaxseg bench or the official one)",
    )
    p.add_argument("--png", required=True, help="output PNG file")
    p.add_argument("--labels", nargs="+", default=None, help="legend names, one per folder")
    p.add_argument("--title", default=None)
    p.add_argument("--md", default=None, help="also write a markdown table of the figures here")


def build_parser() -> ArgumentParser:
    """The ``eval.py plot`` options (``jaxseg plot`` has the same)."""
    p = ArgumentParser(prog="eval.py plot", description="Boundary P-R curves.")
    add_arguments(p)
    return p


def run(args: argparse.Namespace, prog: str) -> int:
    """Writes the plot (and table) of parsed ``args``; returns the exit status."""
    from jaxseg.fileio import write_text_atomic
    from jaxseg.metrics.plot import markdown_table, plot_pr

    try:
        plot_pr(args.out_dirs, args.png, labels=args.labels, title=args.title)
        if args.md:
            write_text_atomic(args.md, markdown_table(args.out_dirs, labels=args.labels))
    except (OSError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.png}" + (f" and {args.md}" if args.md else ""))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eval.py plot`` with ``argv``; returns the exit status."""
    return run(build_parser().parse_args(argv), "eval.py plot")
