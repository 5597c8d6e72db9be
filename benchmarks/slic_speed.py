"""Speed, superpixel count and quality of `jaxseg.slic` against its peers on BSDS500.

Run (from the project root):

    .venv/bin/python benchmarks/slic_speed.py [--data-dir D] [--num-images 20]

Methods, all in the same process on the same images with the same settings
(n_segments, compactness, 10 iterations, connectivity enforced):

* ``jaxseg``: `jaxseg.slic` with its defaults (``metric="l1"`` and its compactness, 4,
  unless ``--jaxseg-compactness`` is given; compiled once per image shape before
  timing; the timing includes the host-side connectivity step and the device-to-host
  copy);
* ``jaxseg l2``: `jaxseg.slic` with ``metric="l2"`` (skimage's distance) at
  ``--compactness``, the peers' setting;
* ``fast_slic`` and ``fast_slic AVX2``: fast_slic's standard and AVX2 builds
  (`fast_slic.Slic`, `fast_slic.avx2.SlicAvx2`), their default threads
  (``--fast-slic-threads``); ``fast_slic AVX2, 1 thread`` as well;
* ``skimage``: `skimage.segmentation.slic` (``start_label=0``);
* ``opencv``: OpenCV's ``cv2.ximgproc.createSuperpixelSLIC`` (SLIC, region size
  ``sqrt(H * W / n)``, ruler = compactness, on CIELAB, connectivity enforced).

A peer that is not installed is skipped with a message: none is a dependency of
jaxseg. fast_slic builds with ``pip install cython numpy setuptools wheel`` then
``pip install --no-build-isolation fast-slic``; OpenCV's ximgproc is in
``opencv-contrib-python``.

The methods alternate image by image so that machine load affects all alike.
The table gives per method the median ms per image, the median over images of
the per-image speed ratio against fast_slic AVX2 with its default threads and
with one thread (> 1: faster than it; on a loaded machine OpenMP's threads wait
for each other and the default can be many times slower than one thread), the
mean number of superpixels and its ratio to n, and the mean boundary recall (BR,
2-pixel tolerance) and undersegmentation error (UE = 1 - ASA), both from
`jaxseg.metrics.superpixel`, averaged over annotators. Compare BR/UE at the same
count (the count column), e.g. with a second run at other n.
"""

import os
import time
from pathlib import Path

import jax
import numpy as np
from skimage.segmentation import slic as sk_slic
from tqdm import tqdm

import jaxseg
from jaxseg.cli import ArgumentParser
from jaxseg.data import bsds500
from jaxseg.metrics.superpixel import boundary_recall, undersegmentation_error

REFERENCE = "fast_slic AVX2"
SINGLE = "fast_slic AVX2, 1 thread"


def _default_data_dir() -> str | None:
    if os.environ.get("JAXSEG_DATA"):
        return None
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "BSDS500"
    return str(shared) if shared.is_dir() else None


def peers(compactness: float, num_iters: int, threads: int) -> dict:
    """``name -> fn(image uint8 (H, W, 3), n) -> labels`` of the installed peers."""
    runs = {}
    try:
        from fast_slic import Slic
    except ImportError:
        print("fast_slic is not installed: skipped (see the module docstring to build it)")
    else:

        def fast(cls, n_threads):
            def run(image, n):
                model = cls(num_components=n, compactness=compactness, num_threads=n_threads)
                return model.iterate(image, max_iter=num_iters)

            return run

        runs["fast_slic"] = fast(Slic, threads)
        try:
            from fast_slic.avx2 import SlicAvx2
        except ImportError as err:
            print(f"fast_slic's AVX2 build is not available ({err}): skipped")
        else:
            runs[REFERENCE] = fast(SlicAvx2, threads)
            if threads != 1:
                runs[SINGLE] = fast(SlicAvx2, 1)
    runs["skimage"] = lambda image, n: sk_slic(
        image,
        n_segments=n,
        compactness=compactness,
        max_num_iter=num_iters,
        enforce_connectivity=True,
        start_label=0,
    )
    try:
        import cv2

        cv2.ximgproc.createSuperpixelSLIC  # noqa: B018 (present only in opencv-contrib)
    except (ImportError, AttributeError):
        print("OpenCV's ximgproc (opencv-contrib-python) is not installed: skipped")
    else:

        def opencv(image, n):
            height, width, _ = image.shape
            size = max(1, round(np.sqrt(height * width / n)))
            lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
            sp = cv2.ximgproc.createSuperpixelSLIC(
                lab, algorithm=cv2.ximgproc.SLIC, region_size=size, ruler=compactness
            )
            sp.iterate(num_iters)
            sp.enforceLabelConnectivity()
            return sp.getLabels()

        runs["opencv"] = opencv
    return runs


def bench(
    records,
    n_values,
    *,
    compactness: float,
    num_iters: int,
    threads: int,
    jaxseg_compactness: float | None = None,
):
    """Rows ``(n, method, median ms, speed vs AVX2, vs AVX2 1 thread, count, BR, UE)``."""
    runs = {
        "jaxseg": lambda image, n: jaxseg.slic(
            image, n_segments=n, compactness=jaxseg_compactness, num_iters=num_iters
        ),
        "jaxseg l2": lambda image, n: jaxseg.slic(
            image, n_segments=n, compactness=compactness, num_iters=num_iters, metric="l2"
        ),
        **peers(compactness, num_iters, threads),
    }
    rows = []
    for n in n_values:
        for shape in sorted({r.image.shape for r in records}):  # compile outside the timing
            for name in ("jaxseg", "jaxseg l2"):
                runs[name](next(r.image for r in records if r.image.shape == shape), n)
        stats = {name: [] for name in runs}
        for rec in tqdm(records, desc=f"n={n}", leave=False):
            gts = list(rec.segmentations)
            for name, fn in runs.items():
                t0 = time.perf_counter()
                labels = np.asarray(jax.block_until_ready(fn(rec.image, n)))
                ms = (time.perf_counter() - t0) * 1e3
                count = len(np.unique(labels))
                br = boundary_recall(labels, gts)
                stats[name].append((ms, count, br, undersegmentation_error(labels, gts)))
        refs = [np.array(stats[k])[:, 0] if k in stats else None for k in (REFERENCE, SINGLE)]
        for name, values in stats.items():
            v = np.array(values)
            speed = [np.nan if r is None else np.median(r / v[:, 0]) for r in refs]
            rows.append((n, name, np.median(v[:, 0]), *speed, *v[:, 1:].mean(0).tolist()))
    return rows


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=_default_data_dir())
    parser.add_argument("--split", default="val")
    parser.add_argument("--num-images", type=int, default=20)
    parser.add_argument("--n-segments", type=int, nargs="+", default=[100, 300, 600])
    parser.add_argument(
        "--compactness", type=float, default=10.0, help="the peers' (and jaxseg l2's)"
    )
    parser.add_argument(
        "--jaxseg-compactness",
        type=float,
        default=None,
        help="jaxseg's (default: its own for metric l1, 4)",
    )
    parser.add_argument("--num-iters", type=int, default=10)
    parser.add_argument(
        "--fast-slic-threads", type=int, default=-1, help="fast_slic's num_threads (-1: all)"
    )
    args = parser.parse_args(argv)

    records = bsds500.load_split(args.data_dir, args.split, limit=args.num_images)
    load = os.getloadavg()[0]
    print(
        f"{len(records)} BSDS500 {args.split} images, compactness={args.compactness}, "
        f"iterations={args.num_iters}, connectivity enforced; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, {os.cpu_count()} CPUs, load average {load:.2f} at start"
    )
    rows = bench(
        records,
        args.n_segments,
        compactness=args.compactness,
        num_iters=args.num_iters,
        threads=args.fast_slic_threads,
        jaxseg_compactness=args.jaxseg_compactness,
    )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(
        f"\n| n | method | median ms/image | speed vs {REFERENCE} | vs {SINGLE} "
        "| segments (/ n) | BR | UE |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, name, ms, speed, single, count, br, ue in rows:
        print(
            f"| {n} | {name} | {ms:.1f} | {speed:.2f}x | {single:.2f}x "
            f"| {count:.0f} ({count / n:.2f}) | {br:.4f} | {ue:.4f} |"
        )


if __name__ == "__main__":
    main()
