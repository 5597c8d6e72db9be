"""Images/s of ``jaxseg segment`` (in process, after warm-up) against scikit-image.

    .venv/bin/python benchmarks/segment_speed.py --data-dir ../shared/data/BSDS500 \
        --num-images 20 [--methods slic felzenszwalb] [--batch-size 8] [--json out.json]

On the same folder of BSDS500 images (the first ``--num-images`` of ``--split``, byte-sorted),
times

* ``jaxseg.Segmenter(method).map`` per method: the whole per-image pipeline of ``jaxseg segment``
  (superpixels, merge hierarchy, segments and ucm2 at full size), images batched by shape,
  after one warm-up pass on the same images (so compilation is excluded); the
  ``superpixels`` column is that stage alone (the batch time shared by its images);
* ``skimage.segmentation.slic`` (``n_segments``, compactness 10, ``start_label=0``) and
  ``skimage.segmentation.felzenszwalb`` (scale 100, sigma 0.8, min_size 20), which give
  superpixels only.

File reading and writing are not timed (images are decoded once beforehand).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from jaxseg.cli import ArgumentParser


def _images(data_dir: Path, split: str, num: int) -> list[np.ndarray]:
    from jaxseg.io import read_image

    root = data_dir / "data" / "images" if (data_dir / "data").is_dir() else data_dir / "images"
    files = sorted((root / split).glob("*.jpg"), key=lambda p: p.name.encode())[:num]
    if not files:
        raise SystemExit(f"no .jpg images in {root / split}; pass --data-dir (BSDS500 root)")
    return [read_image(f).image for f in files]


def _time(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and the CPU time (all threads of this process) of that run, seconds.

    CPU time is what the run costs on a machine shared with other jobs, where wall time
    also counts the waiting.
    """
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=os.environ.get("JAXSEG_DATA"))
    p.add_argument("--split", default="val")
    p.add_argument("--num-images", type=int, default=20)
    p.add_argument("--n-segments", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=1, help="timed runs; the best is reported")
    p.add_argument("--methods", nargs="+", default=["slic", "felzenszwalb"])
    p.add_argument("--checkpoint", type=Path, help="model folder for wang2020")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args(argv)
    if args.data_dir is None:
        raise SystemExit("pass --data-dir (the BSDS500 root) or set JAXSEG_DATA")

    import jax
    from skimage.segmentation import felzenszwalb, slic

    from jaxseg import pipeline

    images = _images(args.data_dir, args.split, args.num_images)
    n = len(images)
    shapes = sorted({im.shape[:2] for im in images})
    rows = []
    for method in args.methods:
        # felzenszwalb has no n_segments (its settings are scales) and dsc runs its recorded
        # counts: their defaults.
        kw = {} if method in ("felzenszwalb", "dsc") else dict(n_segments=args.n_segments)
        if method == "wang2020":
            kw["checkpoint"] = args.checkpoint
        segmenter = pipeline.Segmenter(method, **kw)
        segmenter.map(images, args.batch_size)  # warm-up: compiles every (shape, batch size)
        results = []
        seconds, cpu = _time(
            lambda s=segmenter, results=results: results.append(s.map(images, args.batch_size)),
            args.repeats,
        )
        last = results[-1]
        sp = sum(r.timings["superpixels"] for r in last)
        rows.append(
            {
                "name": f"jaxseg segment --method {method}",
                "images_per_s": n / seconds,
                "seconds": seconds,
                "cpu_seconds_per_image": cpu / n,
                "superpixels_images_per_s": n / sp,
                "mean_superpixels": float(np.mean([r.superpixels.max() + 1 for r in last])),
                "mean_segments": float(np.mean([r.segments.max() + 1 for r in last])),
            }
        )
    for name, fn in (
        (
            f"skimage slic (n_segments={args.n_segments})",
            lambda im: slic(im, n_segments=args.n_segments, compactness=10, start_label=0),
        ),
        ("skimage felzenszwalb (scale=100)", lambda im: felzenszwalb(im, scale=100)),
    ):
        fn(images[0])
        labels = []
        seconds, cpu = _time(
            lambda fn=fn, labels=labels: labels.extend(map(fn, images)), args.repeats
        )
        rows.append(
            {
                "name": name,
                "images_per_s": n / seconds,
                "seconds": seconds,
                "cpu_seconds_per_image": cpu / n,
                "superpixels_images_per_s": n / seconds,
                "mean_superpixels": float(np.mean([lab.max() + 1 for lab in labels[-n:]])),
                "mean_segments": None,
            }
        )
    report = {
        "images": n,
        "split": args.split,
        "shapes": [list(s) for s in shapes],
        "load_average": os.getloadavg(),
        "batch_size": args.batch_size,
        "device": str(jax.devices()[0]),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "rows": rows,
    }
    print(
        f"{n} BSDS500 {args.split} images {shapes}, device {report['device']}, "
        f"{report['cpu_count']} CPUs (load average {report['load_average'][0]:.1f}), "
        f"batch {args.batch_size}\n"
    )
    print("| what | images/s | CPU s/image | superpixel stage images/s | superpixels | segments |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        seg = "-" if r["mean_segments"] is None else f"{r['mean_segments']:.1f}"
        print(
            f"| {r['name']} | {r['images_per_s']:.2f} | {r['cpu_seconds_per_image']:.2f} "
            f"| {r['superpixels_images_per_s']:.2f} "
            f"| {r['mean_superpixels']:.1f} | {seg} |"
        )
    if args.json:
        from jaxseg.io import write_json

        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
