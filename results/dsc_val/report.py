"""The one log line of results/dsc_val/explore.py and beta_sweep.py: region benchmark of a
stack of segmentations per image (ODS/OIS SC, PRI, VI), mean region count per level and
SC, VI, PRI per level; printed and appended to workdirs/dsc_explore/log.txt."""

import numpy as np

from jaxseg.metrics.bench import collect, evaluate_image
from jaxseg.metrics.io import GroundTruth
from jaxseg.regions.labels import upsample_labels

LOG = "workdirs/dsc_explore/log.txt"


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
