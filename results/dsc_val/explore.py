"""Val exploration for docs/dsc.md: per-level metrics and region counts of img/rec/dsc.

    python results/dsc_val/explore.py --superae workdirs/superae_cpu --limit 10 \
        --gen-kw '{"min_size_frac": 0.25}' --dsc '[{}]'

Run from the repository root. Caches the superpixels in workdirs/dsc_explore/ and
appends one line per variant to workdirs/dsc_explore/log.txt (copied to log.txt here):
ODS/OIS, mean region count per level ("nreg", counts 100/50/20/10) and SC, VI, PRI
per level. DSC runs with max_segments=128 (the run in the log before that change used
the automatic padding; results are the same up to float rounding).
"""

import json
import pickle
import time

import jax
from report import add_run_arguments, load_run, run_tag
from report import report as report_line

from jaxseg.cli import ArgumentParser
from jaxseg.nn import dsc
from jaxseg.nn.superae import prepare_input, reconstruct
from jaxseg.regions.generators import generate

p = ArgumentParser()
add_run_arguments(p, superae="workdirs/superae_cpu_model", limit=10, generator="felzenszwalb")
p.add_argument("--dsc", default="[]", help="json list of dicts: dsc settings (+source)")
p.add_argument("--tag", default="")
a = p.parse_args()
gen_kw = json.loads(a.gen_kw)
model, recs, counts, cache_p = load_run(a)
cache = pickle.load(open(cache_p, "rb")) if cache_p.exists() else {}
imgs = []
t0 = time.time()
for r in recs:
    img = prepare_input(r.image, 0.5)
    imgs.append(img)
    for src in ("img", "rec"):
        for n in counts:
            if (r.id, src, n) not in cache:
                s = img if src == "img" else reconstruct(model, img)
                cache[(r.id, src, n)] = generate(a.generator, s, n_segments=n, **gen_kw)
pickle.dump(cache, open(cache_p, "wb"))
print(f"superpixels {time.time() - t0:.0f}s", flush=True)


def report(name, segs_per_image, secs=0.0):
    report_line(recs, name, segs_per_image, secs, run_tag(a, len(recs), a.tag))


for src in ("img", "rec"):
    report(src, [[cache[(r.id, src, n)] for n in counts] for r in recs])
key = jax.random.key(0)
for st in json.loads(a.dsc):
    st = dict(st)
    src = st.pop("source", "rec")
    name = st.pop("name", None) or f"dsc[{src}] " + ",".join(f"{k}={v}" for k, v in st.items())
    t0 = time.time()
    allsegs = []
    merge = st.pop("merge", False)
    for i, (r, img) in enumerate(zip(recs, imgs, strict=False)):
        k_img = jax.random.fold_in(key, i)
        if merge:  # one DSC run at the first count, merged down to every count
            res = dsc.dsc_segment(
                model, img, cache[(r.id, src, counts[0])], key=k_img, max_segments=128, **st
            )
            allsegs.append(dsc.merge_to_counts(res.labels, res.region_features, counts))
            continue
        allsegs.append(
            [
                dsc.dsc_segment(
                    model, img, cache[(r.id, src, n)], key=k_img, max_segments=128, **st
                ).labels
                for n in counts
            ]
        )
    report(name, allsegs, (time.time() - t0) / len(recs))
