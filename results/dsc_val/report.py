"""What results/dsc_val/explore.py and beta_sweep.py share: their run's arguments (SuperAE,
split, generator, counts), its model, records and superpixel cache, and the one log line:
region benchmark of a stack of segmentations per image (ODS/OIS SC, PRI, VI), mean region
count per level and SC, VI, PRI per level; printed and appended to
workdirs/dsc_explore/log.txt."""

from pathlib import Path

import numpy as np

from jaxseg.metrics.bench import collect, evaluate_image
from jaxseg.metrics.io import GroundTruth
from jaxseg.regions.labels import upsample_labels

LOG = "workdirs/dsc_explore/log.txt"


def add_run_arguments(parser, *, superae: str, limit: int, generator: str) -> None:
    """The arguments of a val run: the SuperAE, the images, the superpixels and counts."""
    parser.add_argument("--superae", default=superae)
    parser.add_argument("--which", default="best")
    parser.add_argument("--split", default="val")
    parser.add_argument("--limit", type=int, default=limit)
    parser.add_argument("--generator", default=generator)
    parser.add_argument("--gen-kw", default="{}")
    parser.add_argument("--counts", default="100,50,20,10")


def load_run(a):
    """``(model, records, counts, cache_path)`` of the parsed run arguments ``a``; the
    cache holds the superpixels of image and reconstruction per (id, source, count)."""
    from jaxseg.data import bsds500
    from jaxseg.train import checkpointing

    model, _ = checkpointing.restore_model(a.superae, which=a.which)
    recs = bsds500.load_split("../shared/data/BSDS500", a.split, limit=a.limit)
    counts = [int(c) for c in a.counts.split(",")]
    cache = (
        Path("workdirs/dsc_explore")
        / f"sp_{a.split}_{a.generator}_{a.gen_kw}_{Path(a.superae).name}_{a.which}.pkl"
    )
    return model, recs, counts, cache


def run_tag(a, n_images: int, extra: str | None = None) -> str:
    """The bracketed prefix of a run's log lines (``extra``, even empty, after a space)."""
    tag = f"{a.split} n={n_images} {a.generator} {a.gen_kw} {a.superae}:{a.which}"
    return f"[{tag}]" if extra is None else f"[{tag} {extra}]"


def report(recs, name, segs_per_image, secs, tag):
    """``recs``: BSDS500 records; ``segs_per_image``: per record, its list of label images
    (one per level); ``secs``: s/image; ``tag``: the run's bracketed prefix in the log."""
    evs, nreg = [], []
    for r, segs in zip(recs, segs_per_image, strict=False):
        gt = GroundTruth(list(r.segmentations), list(r.boundaries))
        stack = np.stack([upsample_labels(s, gt.shape) + 1 for s in segs])
        evs.append(evaluate_image(stack, gt, bench="region"))
        nreg.append([int(s.max()) + 1 for s in segs])
    reg = collect(evs)["region"]
    nreg = np.mean(nreg, 0)

    def fmt(xs, d=3):
        return " ".join(f"{x:.{d}f}" for x in xs)

    line = (
        f"{name:40s} SC {reg['cover_ods']:.3f}/{reg['cover_ois']:.3f} "
        f"PRI {reg['pri_ods']:.3f}/{reg['pri_ois']:.3f} "
        f"VI {reg['voi_ods']:.3f}/{reg['voi_ois']:.3f} | nreg {fmt(nreg, 1)} | "
        f"SC/l {fmt(reg['cover_th'][:, 1])} | VI/l {fmt(reg['ri_voi_thr'][:, 2])} | "
        f"PRI/l {fmt(reg['ri_voi_thr'][:, 1])} | {secs:.1f}s/img"
    )
    print(line, flush=True)
    with open(LOG, "a") as f:
        f.write(f"{tag} {line}\n")
