"""Choose `jaxseg.slic`'s ``"l1"`` distance settings on BSDS500 val: lightness weight and
compactness.

Run (from the project root):

    .venv/bin/python benchmarks/slic_metric.py [--data-dir D] [--images 20:60]
        [--n-segments 100 300 600] [--lightness 0.15 0.25 0.35] [--compactness 3 4 6]

For each n, ``metric="l2"`` at compactness 10 (skimage's distance and default) and then
every ``"l1"`` setting (``jaxseg.ops.slic.L1_LIGHTNESS`` x compactness): the mean number of
connected superpixels (and its ratio to n), boundary recall (BR, 2-pixel tolerance) and
undersegmentation error (UE), averaged over the images and annotators
(`jaxseg.metrics.superpixel`). The last table ranks the settings by BR - UE averaged over
the n values: the rule the defaults were chosen by. The default images (val 20-59) are
not those of ``benchmarks/slic_speed.py`` (val 0-19), which reports the result.
"""

import itertools

import jax
import numpy as np
from tqdm import tqdm

from jaxseg.cli import ArgumentParser
from jaxseg.data import bsds500
from jaxseg.metrics.superpixel import boundary_recall, undersegmentation_error
from jaxseg.ops import slic as slic_module


def scores(records, **kw) -> tuple[float, float, float]:
    """Mean ``(count, BR, UE)`` of ``slic(image, **kw)`` over ``records``."""
    rows = []
    for rec in records:
        labels = slic_module.slic(rec.image, **kw)
        gts = list(rec.segmentations)
        rows.append(
            (labels.max() + 1, boundary_recall(labels, gts), undersegmentation_error(labels, gts))
        )
    return tuple(np.mean(rows, axis=0).tolist())


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="BSDS500 root (default: $JAXSEG_DATA)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--images", default="20:60", help="slice of the split's sorted ids")
    parser.add_argument("--n-segments", type=int, nargs="+", default=[100, 300, 600])
    parser.add_argument("--lightness", type=float, nargs="+", default=[0.15, 0.25, 0.35])
    parser.add_argument("--compactness", type=float, nargs="+", default=[3.0, 4.0, 6.0])
    args = parser.parse_args(argv)

    lo, hi = (int(v) for v in args.images.split(":"))
    records = bsds500.load_split(args.data_dir, args.split, limit=hi)[lo:]
    print(f"{len(records)} BSDS500 {args.split} images ({args.images})")
    settings = list(itertools.product(args.lightness, args.compactness))
    default = slic_module.L1_LIGHTNESS
    table = {}
    try:
        for n in args.n_segments:
            table[n, "l2"] = scores(records, n_segments=n, metric="l2", compactness=10.0)
            for w, c in tqdm(settings, desc=f"n={n}", leave=False):
                slic_module.L1_LIGHTNESS = w  # read when the device function is traced
                jax.clear_caches()
                table[n, (w, c)] = scores(records, n_segments=n, metric="l1", compactness=c)
    finally:
        slic_module.L1_LIGHTNESS = default
        jax.clear_caches()

    def columns(key) -> str:  # metric | L weight | compactness
        return "l2 | 1 | 10" if key == "l2" else f"l1 | {key[0]:g} | {key[1]:g}"

    def merit(key) -> float:  # BR - UE, mean over n: the rule
        return float(np.mean([table[n, key][1] - table[n, key][2] for n in args.n_segments]))

    keys = ["l2", *settings]
    print("\n| n | metric | L weight | compactness | count (/ n) | BR | UE |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in args.n_segments:
        for key in keys:
            count, br, ue = table[n, key]
            print(f"| {n} | {columns(key)} | {count:.1f} ({count / n:.3f}) | {br:.4f} | {ue:.4f} |")
    print("\n| metric | L weight | compactness | BR - UE, mean over n |")
    print("|---|---:|---:|---:|")
    for key in sorted(keys, key=merit, reverse=True):
        print(f"| {columns(key)} | {merit(key):.4f} |")


if __name__ == "__main__":
    main()
