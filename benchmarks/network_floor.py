"""The wang2020 network's time per image against the compute floor of this machine.

    .venv/bin/python benchmarks/network_floor.py [--model jaxseg/weights/wang2020_cpu_long] \
        [--height 321 --width 481] [--repeats 5] [--json out.json]

``jaxseg segment``'s wang2020 method runs the feature network once per image at full size.
This script counts the network's floating-point operations (XLA's cost analysis of the
compiled forward pass), times the forward pass and the whole :func:`jaxseg.nn.wang2020.predict`
(network, SSN at n 300, pooling, pair similarities) on one image, and times, in the same
run, the peer that bounds them: one float32 matrix product of the shape of the network's
largest layer (``(H*W, 576) @ (576, 256)``: the 3x3 convolution 64 -> 256 of head 2 as a
matrix product), whose rate (GFLOP/s) is the best this machine's XLA reaches. The floor is
the network's FLOPs at that rate; the ratio says how close the network is to it.
Also timed: the same product in bfloat16 (with float32 accumulation), to show whether the
CPU has a faster low-precision path that XLA uses (AMX, for instance).

Every time is the best of ``--repeats`` calls after a warm-up call (compilation excluded).
"""

from __future__ import annotations

import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxseg.cli import ArgumentParser
from jaxseg.fileio import write_text_atomic


def _best(fn, repeats: int) -> float:
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="jaxseg/weights/wang2020_cpu_long")
    p.add_argument("--height", type=int, default=321)
    p.add_argument("--width", type=int, default=481)
    p.add_argument("--n-segments", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from flax import nnx

    from jaxseg.nn import wang2020
    from jaxseg.train.checkpointing import restore_model

    model, _ = restore_model(args.model)
    graphdef, state = nnx.split(model)
    image = np.random.default_rng(0).random((args.height, args.width, 3), dtype=np.float32)
    forward = jax.jit(lambda st, x: nnx.merge(graphdef, st)(x[None]))
    cost = forward.lower(state, image).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = float(cost["flops"])

    n = args.height * args.width
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.random((n, 576), dtype=np.float32))
    b = jnp.asarray(rng.random((576, 256), dtype=np.float32))
    mm = jax.jit(lambda a, b: a @ b)
    mm16 = jax.jit(
        lambda a, b: jnp.dot(
            a.astype(jnp.bfloat16), b.astype(jnp.bfloat16), preferred_element_type=jnp.float32
        )
    )
    mm_flops = 2.0 * n * 576 * 256

    t_net = _best(lambda: forward(state, image), args.repeats)
    t_pred = _best(lambda: wang2020.predict(model, image, n_segments=args.n_segments), args.repeats)
    t_mm = _best(lambda: mm(a, b), args.repeats)
    t_mm16 = _best(lambda: mm16(a, b), args.repeats)
    rate = mm_flops / t_mm
    floor = flops / rate
    out = {
        "image": [args.height, args.width],
        "network_gflop": flops / 1e9,
        "network_s": t_net,
        "predict_s": t_pred,
        "matmul_f32_gflops": rate / 1e9,
        "matmul_bf16_gflops": mm_flops / t_mm16 / 1e9,
        "network_floor_s": floor,
        "network_over_floor": t_net / floor,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}",
    }
    print(
        f"network {flops / 1e9:.1f} GFLOP at {args.height}x{args.width}: {t_net:.3f} s "
        f"({flops / t_net / 1e9:.0f} GFLOP/s); predict (n {args.n_segments}) {t_pred:.3f} s\n"
        f"peer, f32 matrix product (H*W, 576) @ (576, 256): {rate / 1e9:.0f} GFLOP/s "
        f"(bf16: {mm_flops / t_mm16 / 1e9:.0f}); the network at that rate: {floor:.3f} s\n"
        f"network / floor: {t_net / floor:.2f}x"
    )
    if args.json:
        write_text_atomic(args.json, json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
