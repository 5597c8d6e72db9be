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

import jax
from report import add_run_arguments, load_run, report, run_tag

from jaxseg.cli import ArgumentParser
from jaxseg.nn import dsc
from jaxseg.nn.superae import prepare_input

p = ArgumentParser()
add_run_arguments(p, superae="jaxseg/weights/superae_cpu", limit=20, generator="meanshift")
p.add_argument("--betas", default="0.25,1,4,16")
p.add_argument("--num-classes", type=int, default=16)
a = p.parse_args()
betas = [float(b) for b in a.betas.split(",")]
model, recs, counts, cache_p = load_run(a)
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
tag = run_tag(a, len(recs))
for b in betas:
    report(recs, f"dsc k{a.num_classes} beta={b:g} (sweep)", segs[b], secs, tag)
print(json.dumps({"betas": betas, "counts": counts}))
