"""Val sweep of DSC's cut weight beta (eq. 9; lost from the paper's text) for docs/lin2021.md.

    python results/dsc_val/beta_sweep.py --superae jaxseg/weights/superae_cpu --limit 20 \
        --generator meanshift --betas 0.25,1,4,16 --num-classes 16

Run from the repository root after results/dsc_val/explore.py has cached the superpixels
of the reconstruction (workdirs/dsc_explore/). Each image and count runs DSC once per beta
in one vmapped call (`jaxseg.nn.dsc.dsc_optimize_sweep`, every member from the same head:
fold_in(key(0), i) for image i, as explore.py). Appends one line per beta to
workdirs/dsc_explore/log.txt in explore.py's format (s/img per beta).
"""

import json
import pickle
import time
from pathlib import Path

import jax
from report import report

from jaxseg.cli import ArgumentParser
from jaxseg.data import bsds500
from jaxseg.nn import dsc
from jaxseg.nn.superae import prepare_input
from jaxseg.train import checkpointing

p = ArgumentParser()
p.add_argument("--superae", default="jaxseg/weights/superae_cpu")
p.add_argument("--which", default="best")
p.add_argument("--split", default="val")
p.add_argument("--limit", type=int, default=20)
p.add_argument("--generator", default="meanshift")
p.add_argument("--gen-kw", default="{}")
p.add_argument("--counts", default="100,50,20,10")
p.add_argument("--betas", default="0.25,1,4,16")
p.add_argument("--num-classes", type=int, default=16)
a = p.parse_args()
counts = [int(c) for c in a.counts.split(",")]
betas = [float(b) for b in a.betas.split(",")]
model, config = checkpointing.restore_model(a.superae, which=a.which)
recs = bsds500.load_split("../shared/data/BSDS500", a.split, limit=a.limit)
cache_p = (
    Path("workdirs/dsc_explore")
    / f"sp_{a.split}_{a.generator}_{a.gen_kw}_{Path(a.superae).name}_{a.which}.pkl"
)
cache = pickle.load(open(cache_p, "rb"))
key = jax.random.key(0)
segs = {b: [] for b in betas}  # beta -> per image -> per count labels
t0 = time.time()
for i, r in enumerate(recs):
    img = prepare_input(r.image, 0.5)
    per_beta = {b: [] for b in betas}
    for n in counts:
        sp = cache[(r.id, "rec", n)]
        out = jax.device_get(
            dsc.dsc_optimize_sweep(
                model, img, sp, betas=betas, key=jax.random.fold_in(key, i),
                num_classes=a.num_classes, max_segments=128,
            )
        )  # fmt: skip
        for s, b in enumerate(betas):
            labels, _ = dsc._finish(out.sp_class[s], out.sp_features[s], sp)
            per_beta[b].append(labels)
    for b in betas:
        segs[b].append(per_beta[b])
    print(f"{i + 1}/{len(recs)} {time.time() - t0:.0f}s", flush=True)
secs = (time.time() - t0) / len(recs) / len(betas)
tag = f"[{a.split} n={len(recs)} {a.generator} {a.gen_kw} {a.superae}:{a.which}]"
for b in betas:
    report(recs, f"dsc k{a.num_classes} beta={b:g} (sweep)", segs[b], secs, tag)
print(json.dumps({"betas": betas, "counts": counts}))
