"""``eval.py`` without a subcommand: the command line of the wang2020 evaluation.

    python eval.py --config configs/eval_default.py --workdir workdirs/wang2020 \\
        --method wang2020 --split test --n-segments 100,300,600

Reads the evaluation settings (:func:`jaxseg.experiments.wang2020.load_config`, else the
defaults of :func:`jaxseg.experiments.wang2020.default_config`), overrides them with the
options given, runs :func:`jaxseg.experiments.wang2020.evaluate` and writes
``results.json`` and ``results.md`` to ``--out``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import ml_collections

from jaxseg.cli import ArgumentParser

__all__ = ["build_parser", "config_from_args", "main"]


def build_parser() -> ArgumentParser:
    """The ``eval.py`` options (unset ones keep the config's values)."""
    from jaxseg.experiments.wang2020 import METHODS

    p = ArgumentParser(
        prog="eval.py",
        description="Evaluate superpixels (wang2020 Table 3) and segmentation (Table 4) on "
        "BSDS500.",
    )
    p.add_argument("--config", help="evaluation config file (configs/eval_default.py)")
    p.add_argument("--workdir", help="training workdir or released model folder (wang2020)")
    p.add_argument(
        "--data-dir",
        help="BSDS500 root or its data/ folder (else $JAXSEG_DATA); --source folder only",
    )
    p.add_argument(
        "--source",
        choices=("folder", "tfds"),
        help="read BSDS500 from the --data-dir tree (folder) or the prepared bsds500 TFDS "
        "dataset in --tfds-dir (tfds); the same images and ground truth",
    )
    p.add_argument(
        "--tfds-dir",
        help="TFDS data directory of --source tfds (default: TFDS's, ~/tensorflow_datasets)",
    )
    p.add_argument("--out", help="output folder (default eval_results/<method>_<split>)")
    p.add_argument("--method", choices=METHODS)
    p.add_argument("--split")
    p.add_argument("--select-split")
    p.add_argument("--limit", type=int, help="first N images of each split (0 = all)")
    p.add_argument("--workers", type=int)
    p.add_argument("--nthresh", type=int)
    p.add_argument("--select-nthresh", type=int)
    p.add_argument("--select-by", choices=("bf", "pri"))
    p.add_argument("--seg-n-segments", type=int)
    p.add_argument(
        "--seg-n-candidates",
        help="comma-separated counts; seg_n_segments is chosen among them on select_split",
    )
    p.add_argument(
        "--select-only",
        action="store_true",
        default=None,
        help="stop after the selection on select_split (tune on val, never on test)",
    )
    p.add_argument("--n-segments", help="comma-separated superpixel counts, e.g. 100,300,600")
    p.add_argument("--which", choices=("best", "latest"))
    return p


def config_from_args(args) -> ml_collections.ConfigDict:
    """The evaluation ``ConfigDict``: ``--config``'s file (else the defaults) and the options.

    Raises:
        SystemExit: a count list that is not comma-separated integers.
    """
    from jaxseg.experiments.wang2020 import default_config, load_config

    cfg = load_config(args.config) if args.config else default_config()
    for key in ("method", "split", "select_split", "limit", "workers", "nthresh",
                "select_nthresh", "select_by", "seg_n_segments", "which",
                "select_only", "source", "tfds_dir"):  # fmt: skip
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    for key, example in (("n_segments", "100,300,600"), ("seg_n_candidates", "100,200,300")):
        text = getattr(args, key)
        if text:
            try:
                cfg[key] = tuple(int(n) for n in text.split(","))
            except ValueError as e:
                flag = "--" + key.replace("_", "-")
                raise SystemExit(f"{flag}={text!r}: give counts like {example}") from e
    return cfg


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eval.py`` (no subcommand) with ``argv``; prints the report. Returns the exit
    status."""
    from jaxseg.experiments.wang2020 import evaluate, markdown_report
    from jaxseg.io import write_json, write_text

    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    out = Path(args.out or Path("eval_results") / f"{cfg.method}_{cfg.split}")
    report = evaluate(cfg, workdir=args.workdir, data_dir=args.data_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", report)
    write_text(out / "results.md", markdown_report(report))
    print(markdown_report(report))
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0
