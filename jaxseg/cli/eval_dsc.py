"""``eval.py dsc``: the command line of the lin2021 evaluation (:mod:`jaxseg.experiments.lin2021`).

    python eval.py dsc --superae workdirs/superae_cpu --limit 20 --out workdirs/dsc_eval \\
        --variants img,rec,dsc_merge,kmeans_rgb,kmeans_deep

Parses the options into the evaluation's ``ConfigDict``
(:func:`jaxseg.experiments.lin2021.default_config`) and runs it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import ml_collections

from jaxseg.cli import ArgumentParser

__all__ = ["build_parser", "config_from_args", "main"]


def _ints(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from e
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return vals


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def _json_dict(text: str) -> dict:
    try:
        val = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({e})") from e
    if not isinstance(val, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return val


def _variants(text: str) -> list[str]:
    from jaxseg.experiments.lin2021 import VARIANTS

    vals = [t for t in text.split(",") if t]
    bad = [v for v in vals if v not in VARIANTS]
    if bad or not vals:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {bad}; choose from {VARIANTS}")
    return vals


def build_parser() -> ArgumentParser:
    """The ``eval.py dsc`` options (defaults: ``lin2021.default_config()``)."""
    from jaxseg.experiments.lin2021 import default_config

    d = default_config()
    p = ArgumentParser(prog="eval.py dsc", description=__doc__.split("\n")[0])
    p.add_argument("--superae", required=True, help="SuperAE workdir or exported model folder")
    p.add_argument(
        "--data-dir", default=None, help="BSDS500 root (default: $JAXSEG_DATA); --source folder"
    )
    p.add_argument(
        "--source",
        default=d.source,
        choices=("folder", "tfds"),
        help="read BSDS500 from the --data-dir tree (folder) or the prepared bsds500 TFDS "
        "dataset in --tfds-dir (tfds); the same images and ground truth",
    )
    p.add_argument(
        "--tfds-dir",
        default=d.tfds_dir,
        help="TFDS data directory of --source tfds (default: TFDS's, ~/tensorflow_datasets)",
    )
    p.add_argument("--split", default=d.split, choices=("train", "val", "test"))
    p.add_argument("--limit", type=int, default=d.limit, help="first N images (0: all)")
    p.add_argument("--out", required=True, help="output folder (results.json, results.md)")
    p.add_argument("--variants", type=_variants, default=list(d.variants))
    p.add_argument("--generator", default=d.generator, help="slic | felzenszwalb | meanshift")
    p.add_argument(
        "--gen-kw",
        type=_json_dict,
        default={},
        help="generator native parameters as JSON, e.g. '{\"min_size_frac\": 0.1}'",
    )
    p.add_argument("--counts", type=_ints, default=list(d.counts), help="superpixel counts")
    p.add_argument("--base-count", type=int, default=d.base_count, help="for dsc_merge etc.")
    p.add_argument("--partitions", type=_ints, default=list(d.partitions))
    p.add_argument(
        "--ncut-thresh",
        type=_floats,
        default=None,
        help="NCut native thresholds, e.g. 0.3,0.1 (default: reach --partitions regions)",
    )
    p.add_argument("--scale", type=float, default=None, help="default: SuperAE image_scale")
    p.add_argument("--num-classes", type=int, default=d.num_classes, help="DSC K")
    p.add_argument("--num-iters", type=int, default=d.num_iters, help="DSC iterations")
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--sigma", type=float, default=d.sigma)
    p.add_argument("--train-encoder", action="store_true", help="optimise the encoder too")
    p.add_argument(
        "--max-segments",
        type=int,
        default=d.max_segments,
        help="DSC's padded superpixel count, one for every count (one compiled function "
        "per image shape); an image with more superpixels is padded to its count rounded "
        f"up to 64. Default {d.max_segments}",
    )
    p.add_argument("--logit-norm", default=d.logit_norm, choices=("standardize", "none"))
    p.add_argument("--which", default=d.which, choices=("best", "latest"))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--write-every",
        type=int,
        default=d.write_every,
        help="rewrite results.json/.md every N images (partial results; 0: only at the end)",
    )
    return p


def config_from_args(args: argparse.Namespace) -> ml_collections.ConfigDict:
    """The evaluation ``ConfigDict`` of parsed ``args``."""
    from jaxseg.experiments.lin2021 import default_config

    config = default_config()
    config.update(vars(args))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Runs ``eval.py dsc`` with ``argv``; prints the table. Returns the exit status."""
    from jaxseg.experiments import lin2021

    args = build_parser().parse_args(argv)
    result = lin2021.run(config_from_args(args))
    print(lin2021.markdown(result["rows"], result["generator"], f"{result['n_images']} images"))
    return 0
