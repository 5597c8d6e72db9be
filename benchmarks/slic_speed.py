"""Speed and quality of `jaxseg.ops.slic` against `skimage.segmentation.slic` on BSDS500.

Run (from the project root):

    .venv/bin/python benchmarks/slic_speed.py [--data-dir D] [--num-images 20]

For each requested superpixel count, both methods run on the same images in the
same process with the same settings (n_segments, compactness, 10 iterations,
connectivity enforced, start_label=0); the two calls alternate image by image so
that machine load affects both alike. `jaxseg.ops.slic` is compiled once per image
shape before timing (one warm-up call), and its timing includes the host-side
connectivity step and the device-to-host copy. BR and UE come from
`jaxseg.metrics.superpixel` (defaults: BR with a 2-pixel tolerance, UE = 1 - ASA,
mean over annotators). The table reports medians over images.

It also times (a) the two ways of computing the centre update (dense shifted
grid, used by jaxseg, vs `jax.ops.segment_sum`), and (b) one SSN
forward+backward pass on learned-size features (30 + 5 channels).
"""

import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from skimage.segmentation import slic as sk_slic
from tqdm import tqdm

from jaxseg.cli import ArgumentParser
from jaxseg.data import bsds500
from jaxseg.metrics.superpixel import boundary_recall, undersegmentation_error
from jaxseg.ops import slic as jslic


def _default_data_dir() -> str | None:
    if os.environ.get("JAXSEG_DATA"):
        return None
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "BSDS500"
    return str(shared) if shared.is_dir() else None


def _time(fn, *args, repeats: int = 1):
    """Best-of-`repeats` wall time in ms of ``fn(*args)`` (blocking), and its result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, out


def bench_slic(records, n_values, *, compactness: float, num_iters: int, repeats: int):
    rows = []
    for n in n_values:
        # Compile once per image shape (timed calls below never compile).
        for shape in sorted({r.image.shape for r in records}):
            image = next(r.image for r in records if r.image.shape == shape)
            jslic.slic(image, n_segments=n, compactness=compactness, num_iters=num_iters)
        stats = {"jaxseg": [], "skimage": []}
        for rec in tqdm(records, desc=f"n={n}", leave=False):
            gts = list(rec.segmentations)
            runs = {
                "jaxseg": lambda im, n=n: jslic.slic(
                    im, n_segments=n, compactness=compactness, num_iters=num_iters
                ),
                "skimage": lambda im, n=n: sk_slic(
                    im,
                    n_segments=n,
                    compactness=compactness,
                    max_num_iter=num_iters,
                    enforce_connectivity=True,
                    start_label=0,
                ),
            }
            for name, fn in runs.items():
                ms, labels = _time(fn, rec.image, repeats=repeats)
                stats[name].append(
                    (
                        ms,
                        boundary_recall(labels, gts),
                        undersegmentation_error(labels, gts),
                        labels.max() + 1,
                    )
                )
        med = {k: np.median(np.array(v)[:, 0]) for k, v in stats.items()}
        for name, values in stats.items():
            v = np.array(values)
            rows.append(
                (n, name, med[name], med["skimage"] / med[name], *v[:, 1:].mean(0).tolist())
            )
    return rows


def bench_update(height: int, width: int, n: int, repeats: int):
    """Centre update from hard labels (5 channels), ms: dense shifted grid vs segment_sum.

    Both are jaxseg's own code paths: `_pool` (used by `ssn`, soft weights) fed
    with one-hot weights, and `_pool_hard` (used by `slic`).
    """
    gh, gw = jslic.grid_shape(height, width, n)
    g = jslic._grid(height, width, gh, gw)
    feats = jax.random.normal(jax.random.key(0), (height, width, 5))
    x = jslic._to_cells(feats, g) * g.mask  # (5, gh, gw, P)
    xw = jnp.concatenate([x, jnp.asarray(g.mask)[None]])  # (6, gh, gw, P)
    rows = xw.reshape(6, -1).T  # (slots, 6)
    nearest = jax.random.randint(jax.random.key(1), g.mask.shape, 0, 9)  # (gh, gw, P)
    valid = jnp.asarray(g.cand_valid)[:, :, :, None]  # (9, gh, gw, 1)
    nearest = jnp.where(jnp.take_along_axis(valid, nearest[None], 0)[0], nearest, 4)
    ks = jnp.arange(9).reshape(9, 1, 1, 1)

    @jax.jit
    def dense(nearest, xw):
        return jslic._pool((nearest[None] == ks).astype(xw.dtype), xw)

    @jax.jit
    def scatter(nearest, rows):
        return jslic._pool_hard(nearest, rows, g)

    for a, b in zip(dense(nearest, xw), scatter(nearest, rows), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-2)
    return (
        _time(dense, nearest, xw, repeats=repeats)[0],
        _time(scatter, nearest, rows, repeats=repeats)[0],
    )


def bench_ssn(shape, n: int, num_iters: int, repeats: int) -> tuple[float, float]:
    """One SSN forward, and forward+backward, on (H, W, 35) features, ms."""
    feats = jax.random.normal(jax.random.key(0), (*shape, 35))
    target = jax.random.normal(jax.random.key(1), (*shape, 9))

    def loss(f, t):
        out = jslic.ssn(f, n_segments=n, num_iters=num_iters)
        return jnp.sum(out.assoc * t) + jnp.sum(out.centres**2)

    fwd = jax.jit(loss)
    fwd_bwd = jax.jit(jax.value_and_grad(loss))
    fwd(feats, target)
    fwd_bwd(feats, target)
    return (
        _time(fwd, feats, target, repeats=repeats)[0],
        _time(fwd_bwd, feats, target, repeats=repeats)[0],
    )


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=_default_data_dir())
    parser.add_argument("--split", default="val")
    parser.add_argument("--num-images", type=int, default=20)
    parser.add_argument("--n-segments", type=int, nargs="+", default=[100, 300, 600])
    parser.add_argument("--compactness", type=float, default=10.0)
    parser.add_argument("--num-iters", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1, help="best-of-k timing per image")
    parser.add_argument("--skip-ssn", action="store_true")
    args = parser.parse_args(argv)

    data_dir = bsds500.resolve_data_dir(args.data_dir)
    ids = bsds500.list_ids(data_dir, args.split)[: args.num_images]
    records = []
    for image_id in ids:
        image = bsds500.read_image(bsds500.image_path(data_dir, args.split, image_id))
        gts = bsds500.read_ground_truth(bsds500.ground_truth_path(data_dir, args.split, image_id))
        records.append(
            bsds500.ImageRecord(
                image_id,
                image,
                tuple(g.segmentation for g in gts),
                tuple(g.boundaries for g in gts),
            )
        )
    print(
        f"{len(records)} BSDS500 {args.split} images, compactness={args.compactness}, "
        f"iterations={args.num_iters}, connectivity enforced; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, {os.cpu_count()} CPUs"
    )
    rows = bench_slic(
        records,
        args.n_segments,
        compactness=args.compactness,
        num_iters=args.num_iters,
        repeats=args.repeats,
    )
    print("\n| n_segments | method | median ms/image | speed-up vs skimage | BR | UE | segments |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, name, ms, ratio, br, ue, k in rows:
        print(f"| {n} | {name} | {ms:.1f} | {ratio:.2f}x | {br:.4f} | {ue:.4f} | {k:.0f} |")

    print("\nCentre update from hard labels, 481x321, 5 channels (ms, best of 10):")
    print("| n_segments | dense shifted grid (ssn's form) | segment_sum (slic's form) |")
    print("|---:|---:|---:|")
    for n in args.n_segments:
        a, b = bench_update(481, 321, n, repeats=10)
        print(f"| {n} | {a:.2f} | {b:.2f} |")

    if not args.skip_ssn:
        print("\nSSN on (H, W, 30 + 5) features, n_segments=100, 5 iterations (ms):")
        print("| size | forward | forward + backward |")
        print("|---|---:|---:|")
        for shape in ((201, 201), (481, 321)):
            fwd, both = bench_ssn(shape, 100, 5, repeats=5)
            print(f"| {shape[0]}x{shape[1]} | {fwd:.1f} | {both:.1f} |")


if __name__ == "__main__":
    main()
