"""Speed of the full BSDS500 benchmark: 200 test images x 99 thresholds, ucm2 input.

Commands (what the reports quote)::

    .venv/bin/python benchmarks/bench_speed.py --workers 2
    .venv/bin/python benchmarks/bench_speed.py --workers 2 --num-images 20   # quick subset
    # jaxseg's own ucm2: what `jaxseg segment` writes to OUT/bench
    .venv/bin/python benchmarks/bench_speed.py --workers 2 --results OUT/bench
    # against another version of the code, in the same run: speed ratio, identical files?
    .venv/bin/python benchmarks/bench_speed.py --workers 2 --baseline REV

``--baseline REV`` checks out the git revision ``REV`` into a temporary worktree, runs the
same evaluation with that code in a subprocess first, then with this code, prints both
times and their ratio, and compares every output file of the two runs byte for byte.

There are no official ucm2 files for the 200 test images here, so the script makes
realistic ones itself, deterministically, for each image (``make_ucm2``):

1. ``skimage.segmentation.slic`` superpixels (``n_segments=1000``, ``compactness=10``,
   ``start_label=1``) on the RGB image: about 1000 regions of ~150 pixels, so the
   lowest thresholds give dense boundary maps (~10-20k boundary pixels before thinning).
   Measured on the 200 test images at t = 0.01: pooled R 0.965, P 0.244, against
   0.965, 0.258 for the official gPb-owt-ucm results, i.e. the same density.
2. Agglomerative merging of adjacent regions by Ward distance on mean CIELAB colour
   (``sqrt(2 n_i n_j / (n_i + n_j)) * ||mu_i - mu_j||``), smallest first, until one
   region is left (:func:`jaxseg.regions.merge.agglomerate`, ``distance="ward"``); the
   merge heights are made monotone (running maximum), which makes them an ultrametric.
3. Every superpixel edge gets the height at which its two sides merged, normalised by the
   largest height and square-rooted (spreading the values over [0, 1] so that all 99
   thresholds give different maps, the hardest case for the benchmark); junctions take
   the max of their incident edges and the outer frame copies its inner neighbour (as in
   ``seg2bdry``), giving a ``(2H+1, 2W+1)`` ucm2.

The ucm2 files are written once as ``.npz`` (jaxseg's result format) into ``--work``
(generation time is reported separately and is not part of the benchmark time), then
``run_bench`` evaluates them (boundary + region, ``--nthresh 99``) into a fresh output
folder. The script prints the total wall time, the CPU time, the time per image and the
projection to 200 images (wall, and CPU time / workers for otherwise idle cores).

Measured (2026-12-01, idle 2-core x86-64 CPU, ``--workers 2 --baseline cfb5495``, the
code before the thinning, labelling and table changes): generated ucm2, 200 images:
445 s wall (881 s CPU) against 613 s for the baseline, 1.38x; ``jaxseg segment``'s ucm2
(``--results OUT/bench``): 363 s (721 s CPU) against 540 s, 1.49x; all output files
byte-identical to the baseline's in both runs. About 60% of the remaining time is the
exact matching solver itself (scipy's LAPJVsp), most of it on a few images whose low
thresholds give components of thousands of pixels.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import skimage.color
import skimage.io
import skimage.segmentation
from baseline import worktree
from tqdm import tqdm

from jaxseg.cli import ArgumentParser
from jaxseg.metrics.bench import find_result_file, run_bench
from jaxseg.metrics.io import list_image_ids, save_npz_result
from jaxseg.regions.labels import region_means
from jaxseg.regions.merge import agglomerate, monotone_levels

REPO = Path(__file__).resolve().parents[1]


def _merge_heights(labels: np.ndarray, lab: np.ndarray) -> dict[tuple[int, int], float]:
    """Ward agglomeration of adjacent regions; returns the merge height of adjacent pairs."""
    agg = agglomerate(labels, region_means(labels, lab), distance="ward")
    return dict(zip(map(tuple, agg.pairs.tolist()), monotone_levels(agg).tolist(), strict=True))


def make_ucm2(image: np.ndarray, *, n_segments: int = 1000) -> np.ndarray:
    """A deterministic, realistic ``(2H+1, 2W+1)`` ucm2 for an RGB uint8 image."""
    labels = skimage.segmentation.slic(
        image, n_segments=n_segments, compactness=10, start_label=1, channel_axis=-1
    )
    lab = skimage.color.rgb2lab(image)
    height = _merge_heights(labels, lab)
    top = max(height.values()) or 1.0
    h, w = labels.shape
    ucm2 = np.zeros((2 * h + 1, 2 * w + 1))

    def edge_values(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        vals = np.array(
            [height.get(k, 0.0) for k in zip(lo.ravel().tolist(), hi.ravel().tolist(), strict=True)]
        )
        return np.sqrt(vals.reshape(a.shape) / top) * (a != b)

    ucm2[1::2, 2 : 2 * w - 1 : 2] = edge_values(labels[:, :-1], labels[:, 1:])
    ucm2[2 : 2 * h - 1 : 2, 1::2] = edge_values(labels[:-1, :], labels[1:, :])
    junction = np.maximum.reduce(
        [
            ucm2[1 : 2 * h - 2 : 2, 2 : 2 * w - 1 : 2],
            ucm2[3 : 2 * h : 2, 2 : 2 * w - 1 : 2],
            ucm2[2 : 2 * h - 1 : 2, 1 : 2 * w - 2 : 2],
            ucm2[2 : 2 * h - 1 : 2, 3 : 2 * w : 2],
        ]
    )
    ucm2[2 : 2 * h - 1 : 2, 2 : 2 * w - 1 : 2] = junction
    ucm2[0, :] = ucm2[1, :]
    ucm2[:, 0] = ucm2[:, 1]
    ucm2[-1, :] = ucm2[-2, :]
    ucm2[:, -1] = ucm2[:, -2]
    return ucm2


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _bench_timed(code_root: Path | None, sel_dir: Path, gt_dir: Path, out_dir: Path, args):
    """Evaluates ``sel_dir`` into a fresh ``out_dir``; returns ``(wall_s, cpu_s, out)``.

    ``code_root`` None: this code, in this process (with its worker processes). Otherwise
    the jaxseg package of that source tree, in a subprocess (``out`` is then None).
    """
    shutil.rmtree(out_dir, ignore_errors=True)
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    out = None
    if code_root is None:
        out = run_bench(
            sel_dir, gt_dir, out_dir, nthresh=args.nthresh, bench="all", workers=args.workers
        )
    else:
        snippet = (
            "import sys; from jaxseg.metrics.bench import run_bench; "
            "run_bench(sys.argv[1], sys.argv[2], sys.argv[3], nthresh=int(sys.argv[4]), "
            "bench='all', workers=int(sys.argv[5]))"
        )
        cmd = [sys.executable, "-c", snippet, str(sel_dir), str(gt_dir), str(out_dir),
               str(args.nthresh), str(args.workers)]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(code_root))
        subprocess.run(cmd, cwd=code_root, env=env, check=True)
    # this process + its finished children (worker processes, the baseline subprocess)
    return time.perf_counter() - t0, _cpu_seconds() - cpu0, out


def _differing_files(a: Path, b: Path) -> list[str]:
    """Names of the files that are not byte-identical in folders ``a`` and ``b``."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return [
        n
        for n in names
        if not ((a / n).is_file() and (b / n).is_file())
        or (a / n).read_bytes() != (b / n).read_bytes()
    ]


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", default=os.environ.get("JAXSEG_DATA", REPO.parent / "shared/data/BSDS500")
    )
    p.add_argument("--split", default="test")
    p.add_argument("--num-images", type=int, default=200, help="first N test images (byte order)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--nthresh", type=int, default=99)
    p.add_argument("--work", default="/tmp/jaxseg_bench_speed", help="scratch folder")
    p.add_argument(
        "--results",
        help="evaluate these result files (e.g. jaxseg segment's OUT/bench) instead of the "
        "generated ucm2",
    )
    p.add_argument(
        "--baseline", help="git revision to time in the same run (and compare files with)"
    )
    args = p.parse_args(argv)
    data = Path(args.data)
    data = data / "data" if (data / "data" / "images").is_dir() else data
    img_dir, gt_dir = data / "images" / args.split, data / "groundTruth" / args.split
    if not gt_dir.is_dir():
        sys.exit(f"no ground truth at {gt_dir}; pass --data BSDS500_ROOT")
    work = Path(args.work)
    t_gen = 0.0
    if args.results:
        res_dir = Path(args.results)
        ids = list_image_ids(res_dir, [".npz", ".mat", ".png"])[: args.num_images]
        if not ids:
            sys.exit(f"no result files (.npz, .mat, .png) in {res_dir}; pass --results DIR")
        files = {i: find_result_file(res_dir, i) for i in ids}
    else:
        if not img_dir.is_dir():
            sys.exit(f"no images at {img_dir}; pass --data BSDS500_ROOT")
        ids = list_image_ids(img_dir, [".jpg"])[: args.num_images]
        res_dir = work / "ucm2"
        t0 = time.perf_counter()
        for i in tqdm(ids, desc="making ucm2", unit="img"):
            if not (res_dir / f"{i}.npz").is_file():
                save_npz_result(
                    res_dir / f"{i}.npz", ucm2=make_ucm2(skimage.io.imread(img_dir / f"{i}.jpg"))
                )
        t_gen = time.perf_counter() - t0
        files = {i: res_dir / f"{i}.npz" for i in ids}
    # Only the chosen images: a folder of links to their results.
    sel_dir = work / f"sel_{len(ids)}"
    shutil.rmtree(sel_dir, ignore_errors=True)
    sel_dir.mkdir(parents=True)
    for f in files.values():
        os.symlink(Path(f).resolve(), sel_dir / Path(f).name)
    n = len(ids)
    base = None
    if args.baseline:
        with worktree(args.baseline, work / "baseline_tree") as tree:
            print(f"baseline {args.baseline}: evaluating with {tree}")
            base = _bench_timed(tree, sel_dir, gt_dir, work / "out_baseline", args)
    wall, cpu, out = _bench_timed(None, sel_dir, gt_dir, work / "out", args)
    b, r = out["boundary"], out["region"]
    what = f"the result files in {args.results}" if args.results else "generated ucm2"
    if not args.results:
        print(f"ucm2 generation (not part of the benchmark time): {t_gen:.1f} s")
    print(
        f"benchmark of {what}: {n} images x {args.nthresh} thresholds, boundary + region, "
        f"--workers {args.workers}, {os.cpu_count()} CPUs: {wall:.1f} s wall, {cpu:.1f} s CPU"
    )
    print(f"per image: {wall / n:.2f} s wall, {cpu / n:.2f} s CPU")
    idle = cpu / n * 200 / args.workers
    print(
        f"projection for 200 images: {wall / n * 200:.0f} s wall; on {args.workers} otherwise "
        f"idle cores about {idle:.0f} s (CPU time / workers); load average now "
        f"{os.getloadavg()[0]:.1f} (the machine may be shared)"
    )
    if base is not None:
        b_wall, b_cpu, _ = base
        print(
            f"baseline {args.baseline}: {b_wall:.1f} s wall, {b_cpu:.1f} s CPU; this code is "
            f"{b_wall / wall:.2f}x its speed (wall), {b_cpu / cpu:.2f}x (CPU)"
        )
        diff = _differing_files(work / "out_baseline", work / "out")
        print(
            "output files: identical to the baseline's"
            if not diff
            else f"output files: {len(diff)} differ from the baseline's: {diff[:10]}"
        )
    print(
        f"(sanity) ODS F {b['ods_f']:.4f} OIS F {b['ois_f']:.4f} AP {b['ap']:.4f}; "
        f"covering ODS {r['cover_ods']:.4f}; PRI ODS {r['pri_ods']:.4f}; VOI ODS {r['voi_ods']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
