"""How SLIC and SSN scale with image size and batch size, against the memory-bandwidth limit.

Run (from the project root):

    .venv/bin/python benchmarks/scaling.py --device cpu            # or --device gpu
    .venv/bin/python benchmarks/scaling.py --device gpu --sizes 0.25,1,4,16 \
        --batches 1,2,4,8,16 --plot docs/slic_scaling.png

Measures, in one process:

1. **Image size** (``--sizes`` megapixels, 3:2 images like BSDS500, superpixels of
   ``--sp-area`` pixels so ``m`` grows with the image): time per image of the jitted
   device part of :func:`jaxseg.ops.slic` (hard k-means, ``--iters`` iterations,
   host connectivity excluded) and of :func:`jaxseg.ops.slic.ssn` (soft, on
   ``--ssn-channels`` random feature channels), best of ``--repeats`` (the largest
   size runs once). A least-squares fit ``t = a + b * pixels`` gives the cost per
   pixel ``b``; ``ns/px`` per size and its ratio to the smallest size show
   whether the cost is linear in the pixels (ratio ~1). Peak memory: the
   device's ``peak_bytes_in_use`` where ``memory_stats()`` has it (GPU/TPU), else
   the process peak RSS (``resource.getrusage``; monotone, so sizes run in
   increasing order and each row shows the peak so far -- the SSN rows include
   the SLIC runs before them). "XLA MB" is the call's own peak buffer size from
   XLA's compiled memory analysis (arguments + outputs + temporaries - aliased),
   on every backend.
2. **Batch size** (``--batches``, at ``--batch-mp`` megapixels): ``vmap`` over a
   batch of images, images per second.
3. **Bandwidth limit**: the SLIC time per iteration, ``(t(iters) - t(0)) / iters``,
   against the bytes an iteration must move at least: the 5 XYLab channels read
   once for the distances and once for the centre update, the nearest-candidate
   index written and read (``2 * 5 * 4 + 2 * 4 = 48`` bytes per pixel; a fully
   fused single pass would need 24). The machine's bandwidth is measured in the
   same run with a large NumPy copy (read + write counted). "x off" is
   achieved bandwidth / measured copy bandwidth.

Writes ``--plot`` (SLIC and SSN time per image vs pixels, log-log, with the
linear fits) and, with ``--json``, the raw numbers.
"""

from __future__ import annotations

import json
import os
import resource
import time

import numpy as np

from jaxseg.cli import ArgumentParser
from jaxseg.fileio import atomic_write, write_text_atomic


def _parse_floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def _parse_ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _peak_memory(jax) -> tuple[float, str]:
    """Peak memory in MB and its source."""
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20, "device peak_bytes_in_use"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10, "process peak RSS"


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def _xla_mb(fn, *args) -> float:
    """Peak buffer MB of one call from XLA's compiled memory analysis (any backend)."""
    m = fn.lower(*args).compile().memory_analysis()
    if m is None:
        return float("nan")
    total = (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )
    return total / 2**20


def _time(fn, *args, repeats: int) -> float:
    """Best-of-``repeats`` seconds of ``fn(*args)`` after one warm-up (compile) call.

    Seconds of the clock chosen by ``--clock``: wall time, or the process CPU time
    (all threads), which a machine shared with other jobs inflates much less.
    """
    import jax

    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(repeats):
        t0 = _clock()
        jax.block_until_ready(fn(*args))
        best = min(best, _clock() - t0)
    return best


def _shape(megapixels: float) -> tuple[int, int]:
    h = int(round(np.sqrt(megapixels * 1e6 / 1.5)))
    return h, int(round(1.5 * h))


def copy_bandwidth(nbytes: int = 512 * 2**20, repeats: int = 3) -> float:
    """Host memory bandwidth in GB/s from a large NumPy copy (read + write counted)."""
    src = np.ones(nbytes // 8, np.float64)
    dst = np.empty_like(src)
    best = np.inf
    for _ in range(repeats):
        t0 = _clock()
        np.copyto(dst, src)
        best = min(best, _clock() - t0)
    return 2 * nbytes / best / 1e9


def device_copy_bandwidth(jax, nbytes: int = 512 * 2**20, repeats: int = 3) -> float:
    """Device memory bandwidth in GB/s from a jitted copy (x + 1) of a large array."""
    x = jax.numpy.ones(nbytes // 4, jax.numpy.float32)
    fn = jax.jit(lambda a: a + 1.0)
    return 2 * nbytes / _time(fn, x, repeats=repeats) / 1e9


def linear_fit(pixels, seconds) -> tuple[float, float]:
    """Least-squares ``t = a + b * pixels``: returns ``(a seconds, b seconds per pixel)``."""
    b, a = np.polyfit(np.asarray(pixels, float), np.asarray(seconds, float), 1)
    return float(a), float(b)


def main(argv=None) -> dict:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu", "tpu"), default="cpu")
    parser.add_argument("--sizes", type=_parse_floats, default=[0.25, 1, 4, 16])
    parser.add_argument(
        "--ssn-sizes", type=_parse_floats, default=None, help="SSN sizes (default: --sizes)"
    )
    parser.add_argument("--batches", type=_parse_ints, default=[1, 2, 4, 8])
    parser.add_argument("--batch-mp", type=float, default=0.25)
    parser.add_argument("--sp-area", type=int, default=2500, help="pixels per superpixel")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--ssn-channels", type=int, default=35)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCK),
        default=None,
        help="timing clock (default: cpu for --device cpu, else wall)",
    )
    parser.add_argument("--plot", default="docs/slic_scaling.png")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    global _clock
    args.clock = args.clock or ("cpu" if args.device == "cpu" else "wall")
    _clock = CLOCK[args.clock]

    os.environ.setdefault("JAX_PLATFORMS", args.device if args.device != "gpu" else "cuda")
    import jax
    import jax.numpy as jnp

    from jaxseg.ops import slic

    devices = jax.devices()
    print(
        f"device: {devices[0].platform} {devices[0].device_kind} x{len(devices)}, "
        f"{os.cpu_count()} host cores; clock: {args.clock} time"
    )

    def slic_fn(n_segments, iters, batched=False):
        def one(image):
            return slic._slic_labels(
                image, jnp.float32(10.0), n_segments=n_segments, num_iters=iters
            )

        return jax.jit(jax.vmap(one) if batched else one)

    def ssn_fn(n_segments, batched=False):
        def one(feats):
            return slic.ssn(feats, n_segments=n_segments, num_iters=args.iters).assoc

        return jax.jit(jax.vmap(one) if batched else one)

    rng = np.random.default_rng(0)
    results: dict = {
        "device": f"{devices[0].platform} {devices[0].device_kind}",
        "clock": args.clock,
    }

    # 1. image size ------------------------------------------------------------------
    rows = []
    for i, mp in enumerate(sorted(args.sizes)):
        h, w = _shape(mp)
        n = h * w
        m = max(1, n // args.sp_area)
        image = jnp.asarray(rng.uniform(size=(h, w, 3)).astype(np.float32))
        reps = 1 if i == len(args.sizes) - 1 else args.repeats
        fn = slic_fn(m, args.iters)
        t = _time(fn, image, repeats=reps)
        t0 = _time(slic_fn(m, 0), image, repeats=reps)
        mem, mem_src = _peak_memory(jax)
        rows.append(
            dict(
                mp=mp,
                shape=(h, w),
                pixels=n,
                m=m,
                slic_s=t,
                slic0_s=t0,
                slic_mem_mb=mem,
                slic_xla_mb=_xla_mb(fn, image),
            )
        )
        del image
        print(f"  slic {h}x{w}: {t * 1e3:.1f} ms, peak {mem:.0f} MB", flush=True)
    ssn_rows = []
    for i, mp in enumerate(sorted(args.ssn_sizes or args.sizes)):
        h, w = _shape(mp)
        n = h * w
        m = max(1, n // args.sp_area)
        feats = jnp.asarray(rng.normal(size=(h, w, args.ssn_channels)).astype(np.float32))
        reps = 1 if i == len(args.ssn_sizes or args.sizes) - 1 else args.repeats
        fn = ssn_fn(m)
        t = _time(fn, feats, repeats=reps)
        mem, _ = _peak_memory(jax)
        ssn_rows.append(
            dict(
                mp=mp,
                shape=(h, w),
                pixels=n,
                m=m,
                ssn_s=t,
                ssn_mem_mb=mem,
                ssn_xla_mb=_xla_mb(fn, feats),
            )
        )
        del feats
        print(f"  ssn {h}x{w}: {t * 1e3:.1f} ms, peak {mem:.0f} MB", flush=True)

    a, b = linear_fit([r["pixels"] for r in rows], [r["slic_s"] for r in rows])
    sa, sb = linear_fit([r["pixels"] for r in ssn_rows], [r["ssn_s"] for r in ssn_rows])
    slope = np.polyfit(np.log([r["pixels"] for r in rows]), np.log([r["slic_s"] for r in rows]), 1)[
        0
    ]
    print(
        f"\n### Image size ({args.iters} iterations, {args.sp_area} px per superpixel; "
        f"memory: {mem_src})\n"
    )
    print("| size | HxW | m | SLIC ms/img | SLIC img/s | SLIC ns/px | ratio | XLA MB | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    base = rows[0]["slic_s"] / rows[0]["pixels"]
    for r in rows:
        per = r["slic_s"] / r["pixels"]
        print(
            f"| {r['mp']:g} MP | {r['shape'][0]}x{r['shape'][1]} | {r['m']} | "
            f"{r['slic_s'] * 1e3:.1f} | {1 / r['slic_s']:.2f} | {per * 1e9:.1f} | "
            f"{per / base:.2f} | {r['slic_xla_mb']:.0f} | {r['slic_mem_mb']:.0f} |"
        )
    print(
        f"\nSLIC fit: t = {a * 1e3:.2f} ms + {b * 1e9:.2f} ns/px * pixels; "
        f"log-log slope {slope:.3f} (1 = linear)\n"
    )
    print(
        f"| size | SSN ({args.ssn_channels} ch) ms/img | img/s | ns/px | ratio | XLA MB | peak MB |"
    )
    print("|---|---|---|---|---|---|---|")
    sbase = ssn_rows[0]["ssn_s"] / ssn_rows[0]["pixels"]
    for r in ssn_rows:
        per = r["ssn_s"] / r["pixels"]
        print(
            f"| {r['mp']:g} MP | {r['ssn_s'] * 1e3:.1f} | {1 / r['ssn_s']:.2f} | "
            f"{per * 1e9:.1f} | {per / sbase:.2f} | {r['ssn_xla_mb']:.0f} | "
            f"{r['ssn_mem_mb']:.0f} |"
        )
    print(f"\nSSN fit: t = {sa * 1e3:.2f} ms + {sb * 1e9:.2f} ns/px * pixels")
    results.update(
        sizes=rows,
        ssn_sizes=ssn_rows,
        slic_fit=(a, b),
        ssn_fit=(sa, sb),
        slic_loglog_slope=float(slope),
        memory_source=mem_src,
    )

    # 2. batch size ------------------------------------------------------------------
    h, w = _shape(args.batch_mp)
    m = max(1, h * w // args.sp_area)
    print(f"\n### Batch size ({h}x{w}, vmap)\n")
    print("| batch | SLIC img/s | SSN img/s |")
    print("|---|---|---|")
    brows = []
    for bs in args.batches:
        images = jnp.asarray(rng.uniform(size=(bs, h, w, 3)).astype(np.float32))
        feats = jnp.asarray(rng.normal(size=(bs, h, w, args.ssn_channels)).astype(np.float32))
        ts = _time(slic_fn(m, args.iters, batched=True), images, repeats=args.repeats)
        tn = _time(ssn_fn(m, batched=True), feats, repeats=args.repeats)
        brows.append(dict(batch=bs, slic_img_s=bs / ts, ssn_img_s=bs / tn))
        print(f"| {bs} | {bs / ts:.2f} | {bs / tn:.2f} |", flush=True)
    results["batches"] = brows

    # 3. bandwidth -------------------------------------------------------------------
    bw = copy_bandwidth() if args.device == "cpu" else device_copy_bandwidth(jax)
    big = rows[-1]
    t_iter = (big["slic_s"] - big["slic0_s"]) / max(args.iters, 1)
    achieved = 48 * big["pixels"] / t_iter / 1e9
    ideal_t = 24 * big["pixels"] / (bw * 1e9)
    print(f"\n### Bandwidth limit ({big['mp']:g} MP)\n")
    print(f"copy bandwidth ({'NumPy' if args.device == 'cpu' else 'jitted x+1'}): {bw:.1f} GB/s")
    print(
        f"SLIC time per iteration: {t_iter * 1e3:.2f} ms = {t_iter / big['pixels'] * 1e9:.2f} ns/px"
    )
    print(f"achieved at 48 B/px: {achieved:.1f} GB/s = {achieved / bw:.2f} of copy bandwidth")
    print(
        f"one-pass limit (24 B/px at copy bandwidth): {ideal_t * 1e3:.2f} ms/iter; "
        f"measured is {t_iter / ideal_t:.1f}x off"
    )
    results["bandwidth"] = dict(
        copy_gb_s=bw,
        t_iter_s=t_iter,
        achieved_gb_s=achieved,
        one_pass_limit_s=ideal_t,
        x_off=t_iter / ideal_t,
    )

    if args.plot:
        label = f"{results['device']}, {os.cpu_count()} host cores, {args.clock} time"
        _plot(args.plot, rows, ssn_rows, (a, b), (sa, sb), label, args)
        print(f"\nwrote {args.plot}")
    if args.json:
        write_text_atomic(args.json, json.dumps(results, indent=2, default=float) + "\n")
    return results


def _plot(path, rows, ssn_rows, fit, ssn_fit, device, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for data, key, f, label in (
        (rows, "slic_s", fit, f"SLIC ({args.iters} it)"),
        (ssn_rows, "ssn_s", ssn_fit, f"SSN ({args.ssn_channels} ch, {args.iters} it)"),
    ):
        px = np.array([r["pixels"] for r in data], float)
        ms = np.array([r[key] for r in data]) * 1e3
        (line,) = ax.loglog(px, ms, "o", label=label)
        grid = np.geomspace(px.min(), px.max(), 50)
        ax.loglog(
            grid,
            (f[0] + f[1] * grid) * 1e3,
            "-",
            color=line.get_color(),
            lw=1,
            label=f"fit {f[1] * 1e9:.1f} ns/px",
        )
    ax.set_xlabel("pixels per image")
    ax.set_ylabel("time per image (ms)")
    ax.set_title(f"jaxseg SLIC/SSN cost vs image size\n{device}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=120)
    finally:
        plt.close(fig)


if __name__ == "__main__":
    main()
