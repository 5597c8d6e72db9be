"""DSC seconds per image: per-image loop against one vmapped batch of B images.

    .venv/bin/python benchmarks/dsc_speed.py --data-dir ../shared/data/BSDS500 \
        [--superae workdirs/superae_cpu_model] [--batch 4] [--scale 0.5] \
        [--num-iters 128] [--train-encoder] [--json out.json]

Takes the first ``--batch`` landscape BSDS500 ``--split`` images (same size, as
``dsc_optimize_batch`` needs), rescaled by ``--scale``, with ~100 EGB
superpixels each, and times ``jaxseg.nn.dsc.dsc_optimize`` on each image in turn
and ``jaxseg.nn.dsc.dsc_optimize_batch`` on all of them, both after a warm-up
call with the same shapes (compilation excluded; best of ``--repeats``).
Without ``--superae`` a randomly initialised SuperAE is used (same cost).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np

from jaxseg.cli import ArgumentParser
from jaxseg.fileio import write_text_atomic


def _load(data_dir, split, batch, scale):
    from jaxseg.data import bsds500
    from jaxseg.nn.superae import prepare_input
    from jaxseg.regions.generators import generate

    images, sps = [], []
    for image_id in bsds500.list_ids(data_dir, split):
        img = bsds500.read_image(bsds500.image_path(data_dir, split, image_id))
        if img.shape[0] > img.shape[1]:
            continue  # landscape only: one shape for the batch
        img = prepare_input(img, scale)
        images.append(img)
        sps.append(generate("felzenszwalb", img, n_segments=100))
        if len(images) == batch:
            break
    return np.stack(images), np.stack(sps)


def main(argv=None) -> int:
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--superae", default=None, help="SuperAE workdir/model folder")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--scale", type=float, default=0.5)
    p.add_argument("--num-iters", type=int, default=128)
    p.add_argument("--num-classes", type=int, default=32)
    p.add_argument("--train-encoder", action="store_true")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from flax import nnx

    from jaxseg.data import bsds500
    from jaxseg.nn import dsc
    from jaxseg.nn.superae import SuperAE
    from jaxseg.train import checkpointing

    data_dir = bsds500.resolve_data_dir(args.data_dir)
    if args.superae:
        model, _ = checkpointing.restore_model(args.superae)
    else:
        model = SuperAE(rngs=nnx.Rngs(0))
    images, sps = _load(data_dir, args.split, args.batch, args.scale)
    keys = jax.random.split(jax.random.key(0), len(images))
    kw = dict(
        num_classes=args.num_classes,
        num_iters=args.num_iters,
        train_encoder=args.train_encoder,
        max_segments=64 * -(-int(sps.max() + 1) // 64),
    )

    def loop():
        for i in range(len(images)):
            jax.block_until_ready(dsc.dsc_optimize(model, images[i], sps[i], key=keys[i], **kw))

    def batch():
        jax.block_until_ready(dsc.dsc_optimize_batch(model, images, sps, keys=keys, **kw))

    def loop_warmup():  # one image compiles the per-image function
        jax.block_until_ready(dsc.dsc_optimize(model, images[0], sps[0], key=keys[0], **kw))

    timings = {}
    load_before = os.getloadavg()
    for name, fn, warm in (("loop", loop, loop_warmup), ("vmap_batch", batch, batch)):
        t0 = time.perf_counter()
        warm()  # compiles (and runs once)
        compile_s = time.perf_counter() - t0
        best = min(_timed(fn) for _ in range(args.repeats))
        timings[name] = {
            "seconds_per_image": best / len(images),
            "first_call_seconds": compile_s,
        }
    result = {
        "device": str(jax.devices()[0]),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "image_shape": list(images.shape[1:3]),
        "batch": len(images),
        "superpixels": [int(s.max()) + 1 for s in sps],
        "num_iters": args.num_iters,
        "train_encoder": args.train_encoder,
        "superae": args.superae or "random init",
        "timings": timings,
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        path = Path(args.json)
        write_text_atomic(path, text + "\n")
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
