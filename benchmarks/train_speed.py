"""Training speed of the paper config: steps/s, memory, bf16 convolutions, buffer donation.

Run (from the project root):

    .venv/bin/python benchmarks/train_speed.py --device cpu --steps 5
    .venv/bin/python benchmarks/train_speed.py --device gpu --steps 50 --batch 1,8

Uses ``configs/wang2020.py`` (GN8, batch 1, 201x201 crops, m = 100, 5 SSN
iterations, Adam) on synthetic 240x320 images (no dataset needed; the step's
cost does not depend on the pixels' values). Variants, all in one process:

* ``f32``: the train step as ``jaxseg.train.trainer`` runs it (loss + grad + Adam
  update), jitted as a pure function of ``(state, batch)``;
* ``f32+donate``: the same with ``donate_argnums`` on the model/optimiser state,
  so XLA may update parameters and Adam moments in place;
* ``vmap sweep xK``: K copies of the model in one ``jax.vmap``-ed, donated step
  (what ``jaxseg.train.sweep`` runs), reported per model (``--sweep K``);
* ``bf16conv+donate``: every ``nnx.Conv`` of the network computes in bfloat16
  (``conv.dtype = bfloat16``; parameters, GroupNorm statistics, SSN and the
  losses stay float32), set on the model instance by this script -- ``models.py``
  has no dtype option.

And the GN8 network alone (forward + backward of a scalar of its outputs) in
float32 and with bfloat16 convolutions, at the same crop size.

Reported: steps/s (median of ``--steps`` timed steps after a compile step, in
the ``--clock``; CPU time by default on CPU, where the machine may be shared),
XLA's compiled memory analysis (arguments + outputs + temporaries - aliased
= the step's peak buffer bytes; donation shows up as aliased bytes), and the
device's ``peak_bytes_in_use`` where ``memory_stats()`` exists (GPU/TPU).
Ratios are against ``f32`` measured in the same run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from jaxseg.cli import ArgumentParser

CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def _parse_ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _memory(compiled) -> dict[str, float]:
    m = compiled.memory_analysis()
    if m is None:
        return {}
    mb = 2.0**20
    peak = (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )
    return {
        "args_mb": m.argument_size_in_bytes / mb,
        "temp_mb": m.temp_size_in_bytes / mb,
        "alias_mb": m.alias_size_in_bytes / mb,
        "peak_mb": peak / mb,
    }


def main(argv=None) -> list[dict]:
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu", "tpu"), default="cpu")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--batch", type=_parse_ints, default=[1], help="batch sizes")
    parser.add_argument("--crop", type=int, default=201)
    parser.add_argument("--clock", choices=tuple(CLOCK), default=None)
    parser.add_argument(
        "--sweep", type=int, default=4, help="K models in the vmapped-sweep variant (0: skip)"
    )
    args = parser.parse_args(argv)
    clock_name = args.clock or ("cpu" if args.device == "cpu" else "wall")
    clock = CLOCK[clock_name]

    os.environ.setdefault("JAX_PLATFORMS", args.device if args.device != "gpu" else "cuda")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from configs import wang2020 as paper
    from jaxseg.train import trainer as training
    from jaxseg.train.tasks import wang2020

    dev = jax.devices()[0]
    print(
        f"device: {dev.platform} {dev.device_kind}; {os.cpu_count()} host cores; "
        f"clock: {clock_name} time; {args.steps} timed steps per variant"
    )

    def build(config, bf16: bool):
        model = wang2020.create_model(config, nnx.Rngs(0))
        if bf16:
            for _, module in nnx.iter_modules(model):
                if isinstance(module, nnx.Conv):
                    module.dtype = jnp.bfloat16
        optimizer = nnx.Optimizer(model, training.make_optimizer(config), wrt=nnx.Param)
        model.train()
        return nnx.split((model, optimizer))

    def make_step(graphdef, config, donate: bool):
        def step(state, batch):
            model, optimizer = nnx.merge(graphdef, state)

            def loss(model):
                return wang2020.loss_fn(model, batch, config)

            (value, _), grads = nnx.value_and_grad(loss, has_aux=True)(model)
            optimizer.update(model, grads)
            return nnx.state((model, optimizer)), value

        return jax.jit(step, donate_argnums=0 if donate else ())

    def run(fn, state, batches, *, carry: bool):
        """Compile step + timed steps; returns (median seconds, state)."""
        times = []
        for i in range(args.steps + 1):
            t0 = clock()
            out = fn(state, batches[i % len(batches)])
            jax.block_until_ready(out)
            if carry:
                state = out[0]
            if i:  # step 0 compiles
                times.append(clock() - t0)
        return float(np.median(times)), state

    rows = []
    for bs in args.batch:
        config = paper.get_config()
        config.batch_size = bs
        config.data.name = "synthetic"
        config.data.synthetic_size = (max(240, args.crop), max(320, args.crop))
        config.data.max_images = 4
        config.data.crop_size = args.crop
        dataset = wang2020.load_dataset(config, None)
        batches = [wang2020.make_batch(config, dataset, s) for s in range(4)]
        print(
            f"\n### Train step, batch {bs}, {args.crop}x{args.crop} (configs/wang2020.py)\n",
            flush=True,
        )
        print("| variant | steps/s | ms/step | vs f32 | peak MB (XLA) | aliased MB |")
        print("|---|---|---|---|---|---|")
        base = None
        for name, bf16, donate in (
            ("f32", False, False),
            ("f32+donate", False, True),
            ("bf16conv+donate", True, True),
        ):
            graphdef, state = build(config, bf16)
            fn = make_step(graphdef, config, donate)
            mem = _memory(fn.lower(state, batches[0]).compile())
            t, state = run(fn, state, batches, carry=True)
            base = base or t
            row = dict(kind="train_step", batch=bs, variant=name, s=t, **mem)
            stats = dev.memory_stats() or {}
            if "peak_bytes_in_use" in stats:
                row["device_peak_mb"] = stats["peak_bytes_in_use"] / 2**20
            rows.append(row)
            print(
                f"| {name} | {1 / t:.3f} | {t * 1e3:.0f} | {base / t:.2f}x | "
                f"{mem.get('peak_mb', float('nan')):.0f} | "
                f"{mem.get('alias_mb', float('nan')):.0f} |",
                flush=True,
            )
            del state
        if args.sweep:
            # K models in one vmapped step (what jaxseg.train.sweep runs): model-steps/s.
            graphdef, state = build(config, False)
            state = jax.tree.map(lambda x: jnp.stack([x] * args.sweep), state)
            fn = make_step(graphdef, config, True)
            fn = jax.jit(jax.vmap(fn, in_axes=(0, None)), donate_argnums=0)
            mem = _memory(fn.lower(state, batches[0]).compile())
            t, state = run(fn, state, batches, carry=True)
            t_model = t / args.sweep
            rows.append(
                dict(kind="train_step", batch=bs, variant=f"vmap x{args.sweep}", s=t, **mem)
            )
            print(
                f"| vmap sweep x{args.sweep}+donate, per model | {1 / t_model:.3f} | "
                f"{t_model * 1e3:.0f} | {base / t_model:.2f}x | "
                f"{mem.get('peak_mb', float('nan')):.0f} (all {args.sweep}) | "
                f"{mem.get('alias_mb', float('nan')):.0f} |",
                flush=True,
            )
            del state

        print(f"\n### GN8 network forward + backward, batch {bs}\n")
        print("| variant | ms | vs f32 | peak MB (XLA) |")
        print("|---|---|---|---|")
        images = [jnp.asarray(b["image"]) for b in batches]
        nbase = None
        for name, bf16 in (("f32", False), ("bf16conv", True)):
            graphdef, state = build(config, bf16)
            model_def, model_state = nnx.split(nnx.merge(graphdef, state)[0])

            def fwd_bwd(params, image, model_def=model_def):
                def scalar(p):
                    out = nnx.merge(model_def, p)(image)
                    return jnp.mean(out.spix.astype(jnp.float32) ** 2) + jnp.mean(
                        out.seg.astype(jnp.float32) ** 2
                    )

                return jax.value_and_grad(scalar)(params)

            fn = jax.jit(fwd_bwd)
            mem = _memory(fn.lower(model_state, images[0]).compile())
            t, _ = run(lambda s, x, fn=fn: fn(s, x), model_state, images, carry=False)
            nbase = nbase or t
            rows.append(dict(kind="network", batch=bs, variant=name, s=t, **mem))
            print(
                f"| {name} | {t * 1e3:.0f} | {nbase / t:.2f}x | "
                f"{mem.get('peak_mb', float('nan')):.0f} |",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
