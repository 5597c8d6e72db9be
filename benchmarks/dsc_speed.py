"""DSC seconds per image: per-image loop against one vmapped batch of B images, or
against an earlier revision of the code.

    .venv/bin/python benchmarks/dsc_speed.py --data-dir ../shared/data/BSDS500 \
        [--superae workdirs/superae_cpu_model] [--batch 4] [--scale 0.5] \
        [--num-iters 128] [--num-classes 16] [--train-encoder] [--json out.json] \
        [--baseline REV [--rounds 3]]

Takes the first ``--batch`` landscape BSDS500 ``--split`` images (same size, as
``dsc_optimize_batch`` needs), rescaled by ``--scale``, with ~100 EGB
superpixels each, and times ``jaxseg.nn.dsc.dsc_optimize`` on each image in turn
and ``jaxseg.nn.dsc.dsc_optimize_batch`` on all of them, both after a warm-up
call with the same shapes (compilation excluded; best of ``--repeats``).
Without ``--superae`` a randomly initialised SuperAE is used (same cost).

``--baseline REV`` times the per-image loop of git revision ``REV``'s code (a temporary
worktree) and of this code instead, each in its own process, alternating for ``--rounds``
rounds on the same images, and prints the ratio of the best times and how many of the
final superpixel classes agree (the two may differ by float rounding, which 128 iterations
can turn into a different class for some superpixels).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
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
    p.add_argument("--baseline", default=None, help="git revision to time in the same run")
    p.add_argument("--rounds", type=int, default=3, help="with --baseline: alternating rounds")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.baseline:
        return _against_baseline(args, argv if argv is not None else sys.argv[1:])

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
        return [
            jax.block_until_ready(dsc.dsc_optimize(model, images[i], sps[i], key=keys[i], **kw))
            for i in range(len(images))
        ]

    if args.worker:  # one process of a --baseline comparison: the loop only
        loop()  # compiles
        best = min(_timed(loop) for _ in range(args.repeats))
        classes = np.stack([np.asarray(out.sp_class) for out in loop()])
        np.savez(args.worker, seconds_per_image=best / len(images), sp_class=classes,
                 superpixels=np.asarray([int(s.max()) + 1 for s in sps]))  # fmt: skip
        return 0

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


def _against_baseline(args, argv: list[str]) -> int:
    """Alternating worker processes of this code and of ``args.baseline``; prints ratios."""
    from baseline import REPO, worktree

    drop = {"--baseline", "--rounds", "--json"}
    passed, skip = [], False
    for a in argv:  # this run's options for the workers, less the comparison's own
        if skip:
            skip = False
            continue
        name = a.split("=")[0]
        if name in drop:
            skip = "=" not in a
            continue
        passed.append(a)
    times = {"this": [], args.baseline: []}
    classes = {}  # first round's (final classes, superpixel counts) of each code
    with tempfile.TemporaryDirectory() as tmp, worktree(args.baseline, Path(tmp) / "tree") as tree:
        code = {"this": REPO, args.baseline: tree}
        for r in range(args.rounds):
            order = ("this", args.baseline) if r % 2 == 0 else (args.baseline, "this")
            for who in order:
                out = Path(tmp) / f"{r}_{who}.npz"
                cmd = [sys.executable, str(Path(__file__).resolve()), *passed, "--worker", str(out)]
                env = dict(os.environ, PYTHONPATH=str(code[who]))
                subprocess.run(cmd, cwd=REPO, env=env, check=True)
                with np.load(out) as z:
                    times[who].append(float(z["seconds_per_image"]))
                    if r == 0:
                        classes[who] = (z["sp_class"], z["superpixels"])
                print(f"round {r + 1} {who}: {times[who][-1]:.3f} s per image", flush=True)
    (new, counts), (old, _) = classes["this"], classes[args.baseline]
    valid = np.arange(new.shape[1])[None, :] < counts[:, None]  # padding rows excluded
    agree = float((new == old)[valid].mean())
    best_new, best_old = min(times["this"]), min(times[args.baseline])
    result = {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "num_iters": args.num_iters,
        "num_classes": args.num_classes,
        "baseline": args.baseline,
        "seconds_per_image": {"this": times["this"], args.baseline: times[args.baseline]},
        "speedup_of_best": best_old / best_new,
        "superpixel_classes_agreeing": agree,
    }
    print(
        f"this code {best_new:.3f} s per image, {args.baseline} {best_old:.3f} s (best of "
        f"{args.rounds}): {best_old / best_new:.2f}x; final superpixel classes agreeing: "
        f"{agree:.3f}"
    )
    if args.json:
        write_text_atomic(Path(args.json), json.dumps(result, indent=2) + "\n")
    return 0


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
