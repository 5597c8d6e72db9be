"""One command for a short GPU run: measure speed, train both papers' models, pack it all.

    python benchmarks/device_run.py --data .gl/bsds500.npz --out "$OUT"

(``docs/gpu.md``: the exact command, what it carries, how to prepare the carried
folders.) Within ``--budget-s`` seconds of wall time (default 510, so the command ends
within about 9 minutes) it

a. prints the platform, the devices and the library versions;
b. measures throughput in at most ``--throughput-s`` seconds (``throughput.json``):
   ``slic_batch`` at 481x321, n 600, batch 1 to 256 (images/s); ``ssn`` forward and
   forward+backward; wang2020 prediction; DSC batched; one wang2020 training step at
   batch 1 and at the training batch; each with XLA's compiled memory analysis (the
   step's peak buffer bytes) and the device's cumulative ``peak_bytes_in_use``; and the
   largest training batch that fits, from the memory analysis;
c. trains wang2020 with ``configs/wang2020_gpu.py`` (its ``num_steps`` set to the steps
   the measured rate affords, so the cosine schedule completes; checkpoints about every
   minute; ``jaxseg.train.trainer.train_and_evaluate(time_limit_s=...)`` stops it in time);
d. trains the SuperAE with ``configs/superae.py`` (the paper's: all 500 images, batch 10,
   Adam 1e-3, the template term, 100 epochs or what the budget allows) in a second
   process on the same GPU, at the same time as (c);
e. writes ``device_run.tar.gz`` to ``--out``: both models in the packaged format
   (``weights/<name>/config.json`` + ``model.npz``, loadable with
   ``jaxseg.train.checkpointing.restore_model``), their ``metrics.jsonl`` and ``run.json``, and
   ``throughput.json``; beside it ``device_run.log`` (everything printed) and
   ``throughput.json``.

Every stage is guarded: a stage that fails is logged and the next one runs, so a run
cut short still returns what it has. ``--tiny`` runs the same stages with the tiny test
configs and small shapes (the CPU dry run of the test suite).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from jaxseg.cli import ArgumentParser

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PACKAGES = (
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "orbax-checkpoint",
    "numpy",
    "scipy",
    "scikit-image",
    "ml_collections",
    "tqdm",
)
MB = 2.0**20


class _Tee:
    """Writes to the terminal and to the log file (flushed at every line)."""

    def __init__(self, stream, log):
        self._stream, self._log = stream, log

    def write(self, text):
        self._stream.write(text)
        self._log.write(text)
        if "\n" in text:
            self._log.flush()
        return len(text)

    def flush(self):
        self._stream.flush()
        self._log.flush()

    def isatty(self):
        return False


def _parse_args(argv):
    p = ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="BSDS500 pack (python -m jaxseg.data.pack)")
    p.add_argument("--out", required=True, help="output folder ($OUT on the device machine)")
    p.add_argument("--budget-s", type=float, default=510.0, help="wall-clock budget in s")
    p.add_argument(
        "--throughput-s", type=float, default=90.0, help="cap of stage (b) in s (none with --tiny)"
    )
    p.add_argument("--tiny", action="store_true", help="tiny configs and shapes (CPU dry run)")
    p.add_argument("--work", default=None, help="scratch folder (default: a temp folder)")
    p.add_argument("--stage", choices=("all", "superae"), default="all", help=argparse.SUPPRESS)
    p.add_argument("--time-limit-s", type=float, default=0.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ----------------------------------------------------------------- measurement helpers


def _timed(fn: Callable, *, min_s: float, max_reps: int) -> float:
    """Median seconds of ``fn()`` (already compiled) over repeats filling ``min_s``."""
    import jax
    import numpy as np

    times: list[float] = []
    t_stop = time.perf_counter() + min_s
    while len(times) < max_reps and (len(times) < 3 or time.perf_counter() < t_stop):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _xla_peak_mb(compiled) -> float | None:
    m = compiled.memory_analysis()
    if m is None:
        return None
    peak = (
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )
    return peak / MB


def _device_peak_mb() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    v = stats.get("peak_bytes_in_use")
    return None if v is None else v / MB


def _device_limit_mb() -> float | None:
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    v = stats.get("bytes_limit")
    return None if v is None else v / MB


def _measure(
    name: str, jitted, args: tuple, *, images: int, min_s: float, rows: list, max_reps: int = 50
) -> dict:
    """Compiles ``jitted(*args)`` (timed, with XLA's memory analysis), then as
    :func:`_measure_call`."""
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    extra = dict(compile_s=time.perf_counter() - t0, xla_peak_mb=_xla_peak_mb(compiled))
    return _measure_call(
        name,
        lambda: compiled(*args),
        images=images,
        min_s=min_s,
        rows=rows,
        max_reps=max_reps,
        extra=extra,
    )


def _measure_call(
    name: str,
    fn: Callable,
    *,
    images: int,
    min_s: float,
    rows: list,
    max_reps: int = 50,
    extra: dict | None = None,
) -> dict:
    """Times ``fn()`` (its first call, which compiles a jitted ``fn``, is timed apart);
    appends and returns a row."""
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first_s = time.perf_counter() - t0
    s = _timed(fn, min_s=min_s, max_reps=max_reps)
    row = dict(
        name=name,
        images=images,
        seconds=s,
        images_per_s=images / s,
        first_call_s=first_s,
        **(extra or {}),
        device_peak_mb_cumulative=_device_peak_mb(),
    )
    rows.append(row)
    mem = f", XLA peak {row['xla_peak_mb']:.0f} MB" if row.get("xla_peak_mb") else ""
    print(
        f"  {name}: {images / s:,.2f} images/s ({s * 1e3:.1f} ms/call, first call "
        f"{first_s:.1f} s{mem})",
        flush=True,
    )
    return row


def _synthetic_images(batch: int, height: int, width: int, seed: int = 0):
    """Smooth random colour images (a photo-like cost for SLIC: regions and edges)."""
    import numpy as np
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    small = rng.random((batch, max(height // 16, 2), max(width // 16, 2), 3))
    return np.stack([resize(s, (height, width), order=1) for s in small]).astype(np.float32)


# ----------------------------------------------------------------- stage (b): throughput


def throughput(args, deadline: float, wang_config) -> dict:
    """Stage (b). Stops starting new measurements once ``deadline`` has passed."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from jaxseg.ops import slic as slic_mod
    from jaxseg.train import trainer as training
    from jaxseg.train.tasks import wang2020

    tiny = args.tiny
    h, w = (48, 64) if tiny else (321, 481)
    n = 16 if tiny else 600
    min_s = 0.05 if tiny else 1.0
    # The tiny dry run times each call once (after its first call): it checks that every
    # measurement runs, not the speed of a CPU.
    reps = 1 if tiny else 50
    rows: list[dict] = []
    out = dict(image_shape=[h, w], n_segments=n, rows=rows, device_limit_mb=_device_limit_mb())

    def time_left() -> bool:
        return time.monotonic() < deadline

    def guarded(label, fn):
        if not time_left():
            print(f"  {label}: skipped (throughput time cap reached)", flush=True)
            return
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - one failed measurement must not stop the run
            print(f"  {label}: FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
            rows.append(dict(name=label, error=f"{type(e).__name__}: {str(e)[:300]}"))

    # SLIC, batched (the device part), batch 1 .. 256 (the tiny dry run: batch 2 only).
    images_all = _synthetic_images(4 if tiny else 16, h, w)
    slic_fns = {}  # batch -> the jitted slic_batch measured (the tiny DSC row reuses it)
    for b in (2,) if tiny else (1, 4, 16, 64, 256):

        def slic_b(b=b):
            imgs = jnp.asarray(np.resize(images_all, (b, h, w, 3)))
            fn = jax.jit(lambda x: slic_mod.slic_batch(x, n_segments=n, num_iters=10))
            slic_fns[b] = fn
            _measure(
                f"slic_batch b{b}", fn, (imgs,), images=b, min_s=min_s, rows=rows, max_reps=reps
            )

        guarded(f"slic_batch b{b}", slic_b)

    # SSN on XYLab + 15 random feature channels, forward and forward+backward, batch 16.
    def ssn_rows():
        b = 2 if tiny else 16
        imgs = jnp.asarray(np.resize(images_all, (b, h, w, 3)))

        def features(imgs):
            extra = jax.random.normal(jax.random.key(0), (b, h, w, 15))
            feats = jnp.concatenate(
                [jax.vmap(lambda x: slic_mod.xylab_features(x, n_segments=n))(imgs), extra], -1
            )
            return feats, extra

        # The tiny dry run makes the inputs as one compiled program, not op by op (where
        # each operation compiles).
        feats, extra = (jax.jit(features) if tiny else features)(imgs)

        def fwd(f):
            return jax.vmap(lambda x: slic_mod.ssn(x, n_segments=n, num_iters=5).assoc)(f)

        def loss(f):
            return jnp.sum(fwd(f) * extra[..., :9])

        kw = dict(images=b, min_s=min_s, rows=rows, max_reps=reps)
        _measure(f"ssn fwd b{b}", jax.jit(fwd), (feats,), **kw)
        _measure(f"ssn fwd+bwd b{b}", jax.jit(jax.grad(loss)), (feats,), **kw)

    guarded("ssn", ssn_rows)

    # wang2020 prediction of one image (network + SSN + pair similarities), n 300.
    def predict_row():
        model = wang2020.create_model(wang_config, nnx.Rngs(0))
        model.eval()
        image = jnp.asarray(images_all[0])
        n_pred = 16 if tiny else 300
        _measure_call(
            f"wang2020 predict n{n_pred}",
            lambda: wang2020.predict(model, image, n_segments=n_pred, num_iters=10),
            images=1,
            min_s=min_s,
            rows=rows,
            max_reps=reps,
        )

    guarded("wang2020 predict", predict_row)

    # DSC, batched: B half-size images at once, 128 iterations, K 16, frozen encoder.
    def dsc_row():
        from jaxseg.nn import dsc
        from jaxseg.nn.superae import SuperAE

        b = 2 if tiny else 8
        hh, ww = (h, w) if tiny else (h // 2 + 1, w // 2 + 1)
        imgs = _synthetic_images(b, hh, ww, seed=1)
        if tiny and b in slic_fns:  # the tiny run's SLIC row has these shapes and settings
            sps = np.asarray(slic_fns[b](jnp.asarray(imgs)))
        else:
            sps = np.asarray(slic_mod.slic_batch(imgs, n_segments=16 if tiny else 200))
        model = SuperAE(rngs=nnx.Rngs(0))
        keys = jax.random.split(jax.random.key(0), b)
        iters = 2 if tiny else 128
        kw = dict(num_classes=16, num_iters=iters)
        _measure_call(
            f"dsc batch b{b} {hh}x{ww} {iters} iters",
            lambda: dsc.dsc_optimize_batch(model, imgs, sps, keys=keys, **kw),
            images=b,
            min_s=min_s,
            rows=rows,
            max_reps=min(reps, 5),
        )

    guarded("dsc", dsc_row)

    def train_row(b: int) -> dict:
        # The trainer's own jitted step (compiled_train_step) with the training config at
        # batch b, on a synthetic batch of the training batch's shapes placed as
        # train_and_evaluate places it; at the training batch, stage (c) then runs the
        # program compiled here instead of compiling another.
        from jax.sharding import NamedSharding
        from jax.sharding import PartitionSpec as P

        config = wang_config.copy_and_resolve_references()
        config.batch_size = b
        data = config.copy_and_resolve_references()
        data.data.name = "synthetic"
        data.data.synthetic_size = (max(h, data.data.crop_size), max(w, data.data.crop_size))
        data.data.max_images = 2
        num_devices = int(config.get("num_devices", 0)) or jax.device_count()
        if b % num_devices:  # batch 1 on several devices: one device
            num_devices = 1
        mesh = training.make_mesh(jax.devices()[:num_devices])
        dataset = wang2020.load_dataset(data, None)
        batch = training.make_global_batch(
            functools.partial(training.task_batch_rows, wang2020, data, dataset, 0),
            NamedSharding(mesh, P("data")),
            batch_size=b,
        )
        tx, step = training.compiled_train_step(config)
        model = wang2020.create_model(config, nnx.Rngs(config.seed))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        nnx.update(
            (model, optimizer),
            jax.device_put(nnx.state((model, optimizer)), NamedSharding(mesh, P())),
        )
        model.train()
        t0 = time.perf_counter()
        compiled = step.lower(model, optimizer, batch).compile()
        row = _measure_call(
            f"wang2020 train step b{b}",
            lambda: step(model, optimizer, batch)["loss"],
            images=b,
            min_s=min_s,
            rows=rows,
            max_reps=min(reps, 30),
            extra=dict(compile_s=time.perf_counter() - t0, xla_peak_mb=_xla_peak_mb(compiled)),
        )
        row["steps_per_s"] = 1 / row["seconds"]
        return row

    # One wang2020 training step (loss + grad + optimiser update) at batch 1 and at the
    # training batch (the tiny dry run: the training batch only; batch 1 is the same code
    # at another shape).
    def train_rows():
        step_rows = {}
        train_b = int(wang_config.batch_size)
        for b in sorted({train_b} if tiny else {1, train_b}):
            if not time_left():
                break
            step_rows[b] = train_row(b)
        # Largest batch that fits: the step's buffers grow linearly with the batch.
        limit = _device_limit_mb()
        if len(step_rows) == 2 and limit and all(r["xla_peak_mb"] for r in step_rows.values()):
            b1, bt = sorted(step_rows)
            per = (step_rows[bt]["xla_peak_mb"] - step_rows[b1]["xla_peak_mb"]) / (bt - b1)
            fixed = step_rows[b1]["xla_peak_mb"] - per * b1
            out["train_largest_batch_estimate"] = int((0.9 * limit - fixed) // max(per, 1e-9))
            out["train_mb_per_image"] = per
            print(
                f"  largest training batch that fits (90% of {limit:.0f} MB, linear in "
                f"the batch): ~{out['train_largest_batch_estimate']}",
                flush=True,
            )

    guarded("train step", train_rows)
    return out


# ----------------------------------------------------------------- stages (c), (d)


def _train(config, workdir: Path, data_dir: Path, time_limit_s: float) -> dict:
    from jaxseg.train.trainer import train_and_evaluate

    t0 = time.perf_counter()
    result = train_and_evaluate(config, workdir, data_dir=data_dir, time_limit_s=time_limit_s)
    result["wall_s"] = time.perf_counter() - t0
    return result


def _export(workdir: Path, dest: Path, name: str, extra: dict) -> None:
    """Exports the workdir's latest model to ``dest/weights/name`` with a run.json."""
    from jaxseg.fileio import write_text_atomic
    from jaxseg.train import checkpointing

    model, config = checkpointing.restore_model(workdir, which="latest")
    folder = checkpointing.export_model(model, config, dest / "weights" / name)
    metrics = workdir / "metrics.jsonl"
    if metrics.is_file():
        write_text_atomic(dest / "metrics" / f"{name}.jsonl", metrics.read_text())
    write_text_atomic(folder / "run.json", json.dumps(extra, indent=2, default=str) + "\n")
    print(f"  exported {name} -> {folder}", flush=True)


def _superae_config(tiny: bool):
    if tiny:
        from configs import superae_tiny as mod
    else:
        from configs import superae as mod
    config = mod.get_config()
    if tiny:
        config.num_steps = 1000  # the time limit stops it
    return config


def _wang_config(tiny: bool):
    if tiny:
        from configs import wang2020_tiny as mod
    else:
        from configs import wang2020_gpu as mod
    config = mod.get_config()
    if tiny:
        config.num_steps = 1000
        config.checkpoint_every = 2
        config.eval_every = 1000
    return config


def superae_stage(args) -> int:
    """Stage (d) in its own process: train, then export into ``--work``/export."""
    work = Path(args.work)
    data_dir = work / "bsds500"
    config = _superae_config(args.tiny)
    workdir = work / "superae"
    result = _train(config, workdir, data_dir, args.time_limit_s)
    _export(
        workdir,
        work / "export",
        "superae_gpu",
        dict(result=result, device=_device_name(), time_limit_s=args.time_limit_s),
    )
    return 0


def _device_name() -> str:
    import jax

    d = jax.devices()[0]
    return f"{d.platform} {d.device_kind} x{jax.device_count()}"


def _cheap_compilations(folder: Path) -> None:
    """The tiny dry run compiles cheaply, for this process and the SuperAE process it
    starts: XLA's optimisations off (``jax_disable_most_optimizations``: the dry run checks
    that every stage runs, not how fast; it halved the run's time on a 2-core CPU), and a
    persistent compilation cache in ``folder`` (unless one is set already), so that the
    SuperAE process loads the programs that this one compiled first (the SuperAE's
    initialisation) instead of compiling them again."""
    import jax

    settings = [("jax_disable_most_optimizations", True)]
    if not jax.config.jax_compilation_cache_dir:
        settings += [
            ("jax_compilation_cache_dir", str(folder)),
            ("jax_persistent_cache_min_compile_time_secs", 0.0),
        ]
    for name, value in settings:
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)  # for the SuperAE process


def main(argv=None) -> int:
    args = _parse_args(argv)
    if args.stage == "superae":
        return superae_stage(args)

    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / "device_run.log", "a", buffering=1)  # noqa: SIM115 - closed at exit
    sys.stdout, sys.stderr = _Tee(sys.__stdout__, log), _Tee(sys.__stderr__, log)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="jaxseg_device_"))
    work.mkdir(parents=True, exist_ok=True)
    export = work / "export"
    summary: dict = dict(budget_s=args.budget_s, tiny=args.tiny, stages={})
    if args.tiny:
        _cheap_compilations(work / "jax_cache")

    def stage(name: str, fn: Callable[[], object]):
        t0 = time.monotonic()
        print(f"\n== {name} (at {t0 - t_start:.0f} s of {args.budget_s:.0f} s)", flush=True)
        try:
            result = fn()
            summary["stages"][name] = dict(ok=True, seconds=time.monotonic() - t0)
            return result
        except Exception as e:  # noqa: BLE001 - the next stages still run
            traceback.print_exc()
            summary["stages"][name] = dict(
                ok=False, seconds=time.monotonic() - t0, error=f"{type(e).__name__}: {e}"[:500]
            )
            return None

    # (a) platform, devices, versions.
    def info():
        import jax

        versions = {}
        for pkg in PACKAGES:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                versions[pkg] = importlib.metadata.version(pkg)
        summary["platform"] = platform.platform()
        summary["python"] = sys.version.split()[0]
        summary["versions"] = versions
        summary["devices"] = [str(d) for d in jax.devices()]
        summary["device"] = _device_name()
        print(
            f"platform {summary['platform']}, python {summary['python']}, "
            f"{os.cpu_count()} host cores"
        )
        print(f"devices: {summary['devices']}")
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)

    stage("a: platform", info)

    # The dataset unpacks in the background while stage (b) runs.
    from jaxseg.data.pack import unpack_bsds500

    unpack_error: list[BaseException] = []

    def unpack():
        try:
            unpack_bsds500(args.data, work / "bsds500")
        except BaseException as e:  # noqa: BLE001 - reported when the data is needed
            unpack_error.append(e)

    unpacker = threading.Thread(target=unpack, daemon=True)
    unpacker.start()

    wang_config = _wang_config(args.tiny)
    # The tiny dry run measures every kind once, whatever the machine's load (no cap).
    tp_cap = float("inf") if args.tiny else min(args.throughput_s, 0.2 * args.budget_s)
    tp = stage("b: throughput", lambda: throughput(args, time.monotonic() + tp_cap, wang_config))
    if tp is not None:
        tp["device"] = summary.get("device")
        from jaxseg.fileio import write_text_atomic

        write_text_atomic(out / "throughput.json", json.dumps(tp, indent=2) + "\n")
        write_text_atomic(work / "export" / "throughput.json", json.dumps(tp, indent=2) + "\n")

    unpacker.join()
    if unpack_error:
        print(f"cannot unpack {args.data}: {unpack_error[0]}", flush=True)

    # (c) + (d): both trainings at once, each stopping in time for the export.
    reserve = 10.0 if args.tiny else 45.0
    train_s = max(deadline - time.monotonic() - reserve, 1.0)
    rate = None
    for row in (tp or {}).get("rows", []):
        if row.get("name") == f"wang2020 train step b{int(wang_config.batch_size)}":
            rate = row.get("steps_per_s")
    if rate and not args.tiny:
        # Steps the budget affords (less start-up and evaluations), so the schedule ends.
        wang_config.num_steps = max(int(rate * (train_s - 60.0) * 0.85), 500)
        wang_config.checkpoint_every = max(int(rate * 60.0), 10)
        wang_config.eval_every = max(wang_config.num_steps // 3, 1)
    summary["wang2020_num_steps"] = int(wang_config.num_steps)
    env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION="0.2")
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--data",
        str(args.data),
        "--out",
        str(out / "superae_stage"),
        "--work",
        str(work),
        "--stage",
        "superae",
        "--time-limit-s",
        str(max(train_s - (8.0 if args.tiny else 60.0), 1.0)),
    ]
    if args.tiny:
        cmd.append("--tiny")
    superae_proc = None
    if not unpack_error:
        print(f"\n== d: SuperAE training starts in a second process ({train_s:.0f} s)", flush=True)
        superae_proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )

        def relay(stream=superae_proc.stdout):  # the child's output, into this log
            for line in stream:
                sys.stdout.write("[superae] " + line)

        threading.Thread(target=relay, daemon=True).start()
        wang_result = stage(
            "c: wang2020 training",
            lambda: _train(
                wang_config,
                work / "wang2020",
                work / "bsds500",
                max(train_s - (8.0 if args.tiny else 60.0), 1.0),
            ),
        )
        if wang_result is not None:
            stage(
                "c: wang2020 export",
                lambda: _export(
                    work / "wang2020",
                    export,
                    "wang2020_gpu",
                    dict(
                        result=wang_result,
                        device=summary.get("device"),
                        num_steps=int(wang_config.num_steps),
                    ),
                ),
            )

    def wait_superae():
        if superae_proc is None:
            raise RuntimeError("not started (no data)")
        try:
            # The tiny dry run waits for the stage whatever the budget (a slow CPU).
            left = 300.0 if args.tiny else max(deadline - time.monotonic() - 5.0, 1.0)
            rc = superae_proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            superae_proc.terminate()
            rc = superae_proc.wait(timeout=30)
        if rc != 0:
            raise RuntimeError(f"SuperAE process exited with {rc}")

    stage("d: SuperAE training (wait)", wait_superae)

    # (e) one tarball of everything.
    def pack():
        summary["total_s"] = time.monotonic() - t_start
        from jaxseg.fileio import atomic_write, write_text_atomic

        write_text_atomic(export / "summary.json", json.dumps(summary, indent=2) + "\n")
        with (
            atomic_write(out / "device_run.tar.gz") as f,
            tarfile.open(fileobj=f, mode="w:gz") as tar,
        ):
            tar.add(export, arcname="device_run")
        print(f"wrote {out / 'device_run.tar.gz'}", flush=True)

    stage("e: tarball", pack)
    print(json.dumps(summary["stages"], indent=1), flush=True)
    failed = [k for k, v in summary["stages"].items() if not v["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
