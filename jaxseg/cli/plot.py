"""``eval.py plot``: boundary P-R curves of benchmark output folders
(:func:`jaxseg.metrics.plot.plot_pr`).

    python eval.py plot OUT_DIR... --png FILE [--labels NAME...] [--title T]
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxseg.cli import ArgumentParser

__all__ = ["build_parser", "main"]


def build_parser() -> ArgumentParser:
    """The ``eval.py plot`` options."""
    p = ArgumentParser(prog="eval.py plot", description="Boundary P-R curves.")
    p.add_argument("out_dirs", nargs="+", help="benchmark output folders (eval_bdry*.txt)")
    p.add_argument("--png", required=True, help="output PNG file")
    p.add_argument("--labels", nargs="+", default=None, help="legend names, one per folder")
    p.add_argument("--title", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eval.py plot`` with ``argv``; returns the exit status."""
    from jaxseg.metrics.plot import plot_pr

    args = build_parser().parse_args(argv)
    plot_pr(args.out_dirs, args.png, labels=args.labels, title=args.title)
    print(f"wrote {args.png}")
    return 0
