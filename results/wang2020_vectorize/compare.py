"""`jaxseg segment`'s wang2020 method with ``vectorize`` false (the default: images one
after another inside the compiled call) and true (a vmapped batch), scored on the first 30
BSDS500 val images (byte-sorted) by the benchmark's own functions, all 99 thresholds.

    PYTHONPATH=. .venv/bin/python results/wang2020_vectorize/compare.py \
        > results/wang2020_vectorize/val30.txt

Prints one line of scalar figures per setting. Both go through ``Segmenter.map`` with
batches of 8 (what ``jaxseg segment`` runs) and ``jaxseg.metrics.bench.evaluate_image`` /
``collect`` (what ``jaxseg bench`` runs), 2 worker processes.
"""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "BSDS500" / "data"


def _evaluate(args):
    from jaxseg.metrics import bench
    from jaxseg.metrics import io as mio

    ucm2, gt_path = args
    return bench.evaluate_image(ucm2, mio.load_groundtruth(gt_path), nthresh=99)


def main() -> None:
    from jaxseg import pipeline
    from jaxseg.io import read_image
    from jaxseg.metrics import bench

    files = sorted((ROOT / "images/val").glob("*.jpg"), key=lambda p: p.name.encode())[:30]
    images = [read_image(f).image for f in files]
    gts = [ROOT / "groundTruth/val" / (f.stem + ".mat") for f in files]
    for vectorize in (False, True):
        results = pipeline.Segmenter("wang2020", vectorize=vectorize).map(images, 8)
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
            evals = list(
                ex.map(_evaluate, [(r.ucm2, g) for r, g in zip(results, gts, strict=True)])
            )
        c = bench.collect(evals)
        flat = {
            f"{group}.{k}": round(float(x), 4)
            for group in ("boundary", "region")
            for k, x in c[group].items()
            if np.ndim(x) == 0 and not isinstance(x, str)
        }
        print("vectorize", vectorize, flat, flush=True)


if __name__ == "__main__":
    main()
