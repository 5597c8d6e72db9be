"""Generic trainer: ``train_and_evaluate(config, workdir)`` for any task in ``jaxseg.train.tasks``.

The task module named by ``config.task`` supplies the model, data, loss and
validation (DESIGN.md "Tasks"); this module owns everything else:

* the optimiser (``config.optimizer``: ``name`` adam/sgd, ``learning_rate``,
  ``b1``/``b2`` for Adam, ``momentum`` for SGD, optional ``schedule``
  constant/cosine with ``warmup_steps``, optional ``grad_clip_norm``, optional
  ``skip_nonfinite_updates`` (skip steps whose gradient is not finite)), wrapped as
  ``nnx.Optimizer(model, tx, wrt=nnx.Param)``;
* data parallelism: a ``jax.sharding.Mesh`` over all devices with one axis
  ``data``; each global batch is split over it and the model/optimiser state is
  replicated. The same code runs on 1 or N devices and on several hosts, with the
  same result for the same global batch (up to float reduction order); each host
  makes only the rows of the global batch that its devices hold
  (:func:`make_global_batch`);
* checkpoints (:mod:`jaxseg.train.checkpointing`): ``config.json`` written once (a
  workdir of another config is refused), the latest state every
  ``config.checkpoint_every`` steps, the best model on ``evaluate()['score']``
  every ``config.eval_every`` steps. A run that is stopped (Ctrl-C / SIGTERM, which
  save before exiting, or a kill, which loses at most the steps since the last
  save) resumes from the latest checkpoint with identical results, because
  batches are a pure function of ``(config.seed, step)``;
* a tqdm progress bar (loss, steps/s, ETA) and ``metrics.jsonl`` (one JSON object
  per log/eval step; TensorBoard event files too when ``tensorboardX`` is installed).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from jaxseg.fileio import write_text_atomic
from jaxseg.train import checkpointing

__all__ = [
    "LoopHooks",
    "MetricsWriter",
    "check_batch_size",
    "compiled_train_step",
    "make_global_batch",
    "make_mesh",
    "make_optimizer",
    "make_train_step",
    "process_row_ranges",
    "resolve_data_dir",
    "run_loop",
    "task_batch_rows",
    "train_and_evaluate",
]

METRICS_FILE = "metrics.jsonl"


def _schedule(config: ml_collections.ConfigDict, peak: float) -> tuple[optax.Schedule, bool]:
    """Learning-rate schedule of ``config.optimizer`` peaking at ``peak``, and whether
    it is constant."""
    o = config.optimizer
    name = o.get("schedule", "constant")
    warmup = int(o.get("warmup_steps", 0))
    if name == "constant":
        schedule = optax.constant_schedule(peak)
        if warmup:
            schedule = optax.join_schedules(
                [optax.linear_schedule(0.0, peak, warmup), schedule], [warmup]
            )
        return schedule, not warmup
    if name == "cosine":
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, peak, warmup, max(int(config.num_steps), warmup + 1), end_value=peak * 0.01
        )
        return schedule, False
    raise ValueError(f"config.optimizer.schedule={name!r} is not one of 'constant', 'cosine'")


def make_optimizer(
    config: ml_collections.ConfigDict, *, injectable: bool = False
) -> optax.GradientTransformation:
    """optax transformation from ``config.optimizer`` (and ``config.num_steps``).

    Args:
      config: the run's config (see the module docstring for ``config.optimizer``).
      injectable: hold ``learning_rate``, ``b1``/``b2`` (adam) and ``momentum``
        (sgd) in the optimiser state as arrays (``optax.inject_hyperparams``), so
        that a vmapped sweep (:mod:`jaxseg.train.sweep`) gives each member its own; the
        schedule then multiplies the injected rate as a shape peaking at 1. Same
        updates as ``injectable=False`` up to float rounding, but another state
        layout, so checkpoints of one do not restore into the other.

    Raises:
      ValueError: an unknown ``config.optimizer.name`` or ``schedule``, or a
        negative ``momentum``.
    """
    o = config.optimizer
    name = o.get("name", "adam")
    lr = float(o.learning_rate)
    if name == "adam":
        factory = optax.adam
        hparams = dict(b1=float(o.get("b1", 0.9)), b2=float(o.get("b2", 0.999)))
    elif name == "sgd":
        momentum = float(o.get("momentum", 0.0))
        if momentum < 0:
            raise ValueError(f"config.optimizer.momentum={momentum} must be >= 0")
        # Momentum 0 is plain SGD: no trace in the state.
        factory = optax.sgd
        hparams = dict(momentum=momentum) if momentum > 0 else {}
    else:
        raise ValueError(f"config.optimizer.name={name!r} is not one of 'adam', 'sgd'")
    if injectable:
        tx = optax.inject_hyperparams(factory)(learning_rate=lr, **hparams)
        unit, constant = _schedule(config, 1.0)
        if not constant:
            tx = optax.chain(tx, optax.scale_by_schedule(unit))
    else:
        tx = factory(_schedule(config, lr)[0], **hparams)
    clip = float(o.get("grad_clip_norm", 0.0))
    if clip > 0:
        tx = optax.chain(optax.clip_by_global_norm(clip), tx)
    if o.get("skip_nonfinite_updates", False):
        # A non-finite gradient (e.g. from a near-hard SSN association whose
        # cluster weight underflows) skips the step instead of poisoning the weights;
        # in a sweep each member skips its own.
        tx = optax.apply_if_finite(tx, max_consecutive_errors=100)
    return tx


def make_mesh(devices: list | None = None) -> Mesh:
    """1-D mesh with axis ``data`` over ``devices`` (default: all)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), ("data",))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
    """Checks that a global batch splits evenly over the mesh's devices and processes.

    Raises:
      ValueError: ``batch_size`` is not a multiple of the device count or of
        ``jax.process_count()``, or the mesh leaves a process without a device
        (each process loads the rows of its own devices).
    """
    devices = mesh.devices.size
    if batch_size % devices:
        raise ValueError(
            f"config.batch_size={batch_size} must be a multiple of the {devices} devices "
            "(the batch is split over them); change one of the two"
        )
    processes = jax.process_count()
    if batch_size % processes:
        raise ValueError(
            f"config.batch_size={batch_size} must be a multiple of the {processes} processes "
            "(each host loads its share of the batch); change the batch size or the host count"
        )
    missing = sorted(set(range(processes)) - {d.process_index for d in mesh.devices.flat})
    if missing:
        raise ValueError(
            f"the mesh of {devices} devices has no device of process(es) {missing} of "
            f"{processes}; on several hosts use config.num_devices=0 (all devices)"
        )


def process_row_ranges(
    sharding: NamedSharding, batch_size: int, *, axis: int = 0
) -> list[tuple[int, int]]:
    """The rows of a global batch that this process's devices hold.

    Args:
      sharding: the batch's sharding (the batch axis split over the devices).
      batch_size: ``B``, the global batch size.
      axis: the batch axis of the arrays.

    Returns:
      Sorted, disjoint ``[start, stop)`` ranges: ``[(0, B)]`` on one process; on
      ``P`` hosts whose devices are in host order in the mesh (``jax.devices()``
      order), ``[(p * B // P, (p + 1) * B // P)]`` for process ``p``.
    """
    shape = (1,) * axis + (batch_size,)
    spans = sorted(
        {
            idx[axis].indices(batch_size)[:2]
            for idx in sharding.addressable_devices_indices_map(shape).values()
        }
    )
    ranges: list[tuple[int, int]] = []
    for start, stop in spans:
        if ranges and start <= ranges[-1][1]:  # replicas and neighbours merge
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], stop))
        else:
            ranges.append((start, stop))
    return ranges


def task_batch_rows(task, config, dataset, step: int, *, start: int, stop: int) -> dict:
    """Rows ``[start, stop)`` of ``task.make_batch(config, dataset, step)``.

    A task that defines ``make_batch_rows(config, dataset, step, *, start, stop)``
    makes only those rows; for any other the whole global batch is made and sliced
    (same values, but every host does the whole batch's host-side work).
    """
    make_rows = getattr(task, "make_batch_rows", None)
    if make_rows is not None:
        return make_rows(config, dataset, step, start=start, stop=stop)
    return {k: v[start:stop] for k, v in task.make_batch(config, dataset, step).items()}


def make_global_batch(
    make_rows: Callable[..., dict[str, np.ndarray]],
    sharding: NamedSharding,
    *,
    batch_size: int,
    axis: int = 0,
) -> dict[str, jax.Array]:
    """A global batch on ``sharding`` of which this process makes only its own rows.

    ``make_rows(start=, stop=)`` returns rows ``[start, stop)`` (along ``axis``)
    of the global batch as a dict of arrays; it is called for the rows of this
    process's devices (:func:`process_row_ranges`) and the result is assembled
    with ``jax.make_array_from_process_local_data``. On one process this equals
    ``jax.device_put(make_rows(start=0, stop=batch_size), sharding)``; on several
    hosts the global array is the same whatever the host count.

    Returns:
      The batch as ``jax.Array`` with the batch axis of size ``batch_size``.

    Raises:
      ValueError: ``make_rows`` returned another number of rows than asked for.
    """
    parts = []
    for start, stop in process_row_ranges(sharding, batch_size, axis=axis):
        rows = make_rows(start=start, stop=stop)
        for key, value in rows.items():
            if np.shape(value)[axis] != stop - start:
                raise ValueError(
                    f"batch rows [{start}, {stop}) came back with {np.shape(value)[axis]} "
                    f"rows of {key!r} (axis {axis}); make_rows must return exactly those rows"
                )
        parts.append(rows)
    local = {k: np.concatenate([np.asarray(p[k]) for p in parts], axis=axis) for k in parts[0]}
    shapes = {k: v.shape[:axis] + (batch_size,) + v.shape[axis + 1 :] for k, v in local.items()}
    return jax.make_array_from_process_local_data(sharding, local, shapes)


def make_train_step(
    config: ml_collections.ConfigDict, *, loss_fn: Callable | None = None
) -> Callable:
    """The training step of ``config.task``: ``step(model, optimizer, batch) -> metrics``.

    Loss and gradient of ``loss_fn``, one optimiser update (in place, NNX style), and the
    metrics: the loss's, ``loss``, and ``grad_finite`` (1.0 when every gradient entry is
    finite). Not jitted: wrap it in ``nnx.jit`` (:func:`compiled_train_step`), run it
    under a ``jax.vmap`` (:mod:`jaxseg.train.sweep`), or merge and split around it for
    ``jax.jit`` with donation (``benchmarks/``).

    Args:
      config: the run's config.
      loss_fn: ``loss_fn(model, batch) -> (loss, metrics)``; default the task's
        ``loss_fn(model, batch, config)``.
    """
    if loss_fn is None:
        task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")
        loss_fn = functools.partial(_task_loss, task.loss_fn, config=config)

    def train_step(model, optimizer, batch):
        (value, metrics), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        optimizer.update(model, grads)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
        return dict(metrics, loss=value, grad_finite=finite.astype(jnp.float32))

    return train_step


def _task_loss(task_loss, model, batch, *, config):
    return task_loss(model, batch, config)


#: Configs (by the JSON of their step's fields) whose optimiser and jitted step this
#: process has made.
_COMPILED: collections.OrderedDict[str, tuple[optax.GradientTransformation, Callable]] = (
    collections.OrderedDict()
)
_COMPILED_MAX = 4
#: Fields that only the training loop reads (how often it logs, validates and saves);
#: ``num_steps`` too unless a cosine schedule decays over it.
_LOOP_FIELDS = ("log_every", "eval_every", "checkpoint_every", "keep_checkpoints")


def _step_key(config: ml_collections.ConfigDict) -> str:
    """The JSON of ``config`` without the fields that do not change the train step."""
    fields = json.loads(config.to_json())
    for name in _LOOP_FIELDS:
        fields.pop(name, None)
    if config.optimizer.get("schedule", "constant") != "cosine":
        fields.pop("num_steps", None)
    return json.dumps(fields, sort_keys=True)


def compiled_train_step(
    config: ml_collections.ConfigDict,
) -> tuple[optax.GradientTransformation, Callable]:
    """The optimiser and the ``nnx.jit``-ed :func:`make_train_step` of ``config``.

    Made once per process for each config (keyed by its content; the last few are
    kept): a second :func:`train_and_evaluate` of the same config in one process (a
    resumed run, a test comparing runs) gets the same optimiser object and the same
    jitted step, so its models and optimisers have the same graph and the step is not
    traced and compiled again. Configs that differ only in the loop's cadence
    (``log_every``, ``eval_every``, ``checkpoint_every``, ``keep_checkpoints``) or in
    ``num_steps`` (unless a cosine schedule decays over it) share one.
    """
    key = _step_key(config)
    hit = _COMPILED.get(key)
    if hit is None:
        frozen = copy.deepcopy(config)  # later edits of the caller's config do not leak in
        hit = (make_optimizer(frozen), nnx.jit(make_train_step(frozen)))
        _COMPILED[key] = hit
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
    else:
        _COMPILED.move_to_end(key)
    return hit


def _load_init_model(config: ml_collections.ConfigDict, source) -> nnx.Module:
    """``config``'s model with the weights saved at ``source`` (same task and shapes)."""
    source_task = checkpointing.load_config(source).task
    if source_task != config.task:
        raise checkpointing.CheckpointError(
            f"--init-from {source} holds a {source_task!r} model, but the config trains "
            f"{config.task!r}; use a {config.task} model or another config"
        )
    task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")
    model = nnx.eval_shape(lambda: task.create_model(config, nnx.Rngs(0)))
    try:
        checkpointing.load_weights(model, source, which="best")
    except checkpointing.CheckpointError as e:
        raise checkpointing.CheckpointError(
            f"--init-from {source}: its model does not fit the config's model ({e}); use the "
            "config it was trained with (its config.json) for the model fields"
        ) from e
    return model


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """``data_dir`` as a string, else ``$JAXSEG_DATA`` (None when unset)."""
    return str(data_dir) if data_dir is not None else os.environ.get("JAXSEG_DATA")


class MetricsWriter:
    """Appends JSON lines to ``metrics.jsonl`` (and TensorBoard when available).

    On several hosts only process 0 writes (every process computes the same metrics).
    """

    def __init__(self, workdir: Path, start_step: int):
        self.path = workdir / METRICS_FILE
        self.enabled = jax.process_index() == 0
        self._tb = None
        if not self.enabled:
            return
        self._truncate_after(start_step)
        if importlib.util.find_spec("tensorboardX") is not None:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(workdir / "tensorboard"))

    def _truncate_after(self, step: int) -> None:
        # A resumed run recomputes the steps after its checkpoint; drop their old lines.
        if not self.path.is_file():
            return
        lines = self.path.read_text(errors="replace").splitlines()
        keep = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record_step = int(json.loads(line)["step"])
            except (ValueError, KeyError, TypeError) as e:
                if number == len(lines):  # the last append was cut short (crash, full disk)
                    tqdm.write(
                        f"note: {self.path}: dropped its last line, cut short when the run "
                        f"stopped ({line[:40]!r}...)",
                        file=sys.stderr,
                    )
                    continue
                raise checkpointing.CheckpointError(
                    f"{self.path}, line {number}: not a metrics record ({e}: {line[:40]!r}); "
                    "delete that line, or the whole file (it is only a log), and rerun"
                ) from e
            if record_step <= step:
                keep.append(line)
        write_text_atomic(self.path, "".join(ln + "\n" for ln in keep))

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "split": split, **{k: float(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in metrics.items():
                self._tb.add_scalar(f"{split}/{k}", float(v), step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps (so a save is consistent)."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        if hasattr(signal, "SIGTERM"):
            try:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no handlers, plain behaviour
                self._old = {}
        return self

    def _handle(self, signum, frame):
        if self.requested:  # second signal: give up immediately
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


@dataclasses.dataclass(frozen=True)
class LoopHooks:
    """What :func:`run_loop` runs: the step and what is done with its results.

    Attributes:
      step: ``step(step) -> metrics``: one update on the global batch of ``step``
        (0-based); returns the metrics on device (a dict of arrays, not read unless
        logged).
      log: ``log(step, metrics, steps_per_sec) -> str``: records the host metrics of a
        logged step (``step`` counts the updates done); returns the progress bar's note.
      evaluate: ``evaluate(step) -> str``: validation and the best checkpoint; returns
        the line to print.
      save: ``save(step)``: the latest checkpoint.
    """

    step: Callable[[int], dict]
    log: Callable[[int, dict, float], str]
    evaluate: Callable[[int], str]
    save: Callable[[int], None]


def run_loop(
    hooks: LoopHooks,
    *,
    start: int,
    num_steps: int,
    log_every: int,
    eval_every: int,
    checkpoint_every: int,
    stop_at: int | None = None,
    time_limit_s: float | None = None,
    desc: str = "train",
) -> int:
    """THE training loop: steps ``start..end`` with logging, validation and checkpoints.

    Runs ``hooks.step`` until ``num_steps`` (or ``stop_at``); logs every ``log_every``
    steps, validates every ``eval_every`` steps and at the last step, saves the latest
    checkpoint every ``checkpoint_every`` steps and when it stops early (``stop_at``,
    ``time_limit_s``, or SIGINT/SIGTERM, which are turned into a stop between steps so
    that the save is consistent). Shows a tqdm bar on process 0.

    Returns:
      The last step done.
    """
    end = num_steps if stop_at is None else min(num_steps, int(stop_at))
    step = start
    with (
        _StopRequest() as stop,
        tqdm(
            total=num_steps,
            initial=start,
            desc=desc,
            unit="step",
            disable=jax.process_index() != 0,
        ) as bar,
    ):
        t0, s0 = time.perf_counter(), start
        t_end = None if time_limit_s is None else time.monotonic() + float(time_limit_s)
        timed_out = False
        while step < end and not stop.requested and not timed_out:
            metrics = hooks.step(step)
            step += 1
            bar.update(1)
            last = step == num_steps
            if step % log_every == 0 or last:
                host = jax.device_get(metrics)
                now = time.perf_counter()
                rate = (step - s0) / max(now - t0, 1e-9)
                t0, s0 = now, step
                bar.set_postfix_str(hooks.log(step, host, rate))
            if step % eval_every == 0 or last:
                bar.write(hooks.evaluate(step))
            timed_out = t_end is not None and time.monotonic() > t_end
            if step % checkpoint_every == 0 or step == end or stop.requested or timed_out:
                hooks.save(step)
        if timed_out and step < end:
            bar.write(f"time limit of {time_limit_s:g} s reached at step {step}")
        if step < num_steps:
            bar.write(f"stopped at step {step}; rerun the same command to resume")
    return step


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    stop_at: int | None = None,
    time_limit_s: float | None = None,
    init_from: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Trains ``config.task`` for ``config.num_steps`` steps in ``workdir`` (resuming).

    Args:
      config: the run's ConfigDict (see ``configs/``).
      workdir: output folder (config.json, checkpoints/, metrics.jsonl).
      data_dir: dataset root; default ``$JAXSEG_DATA`` (tasks may have their own
        fallback, e.g. synthetic data needs none).
      stop_at: stop after this step as if interrupted (a checkpoint is saved;
        rerunning resumes). For time-sliced jobs and tests.
      time_limit_s: stop as if interrupted at the first step that ends more than
        this many seconds after the training loop started (data loading and model
        creation not counted). For jobs on a fixed time budget.
      init_from: a trained model (a packaged folder such as
        ``jaxseg/weights/wang2020_cpu_long``, or a workdir: its best checkpoint) whose
        weights start a new run, with a fresh optimiser and step 0. Ignored when
        ``workdir`` already holds a checkpoint (the run resumes from it). The model
        must have the same task and architecture as ``config``.

    Returns:
      ``{"step": last step, "train": last train metrics, "eval": last eval metrics}``.

    Nothing is written before the config, the devices, the data and the model have
    been checked: a bad ``data_dir`` or config leaves ``workdir`` as it was.

    Raises:
      CheckpointError: ``workdir`` holds a run of another config, or checkpoints
        that do not fit it, or a damaged file (:mod:`jaxseg.train.checkpointing`).
      FileNotFoundError: the dataset folder is missing or not BSDS500.
      ValueError: the global batch size is not a multiple of the device count and
        the process count, or another bad config value.
    """
    workdir = Path(workdir)
    resuming = checkpointing.check_config(workdir, config)
    task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")

    num_devices = int(config.get("num_devices", 0)) or jax.device_count()
    if num_devices > jax.device_count():
        raise ValueError(
            f"config.num_devices={num_devices} but only {jax.device_count()} devices are "
            "visible; use 0 for all of them"
        )
    mesh = make_mesh(jax.devices()[:num_devices])
    check_batch_size(int(config.batch_size), mesh)
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P("data"))

    init_model = None if init_from is None else _load_init_model(config, init_from)
    dataset = task.load_dataset(config, resolve_data_dir(data_dir))
    tx, train_step = compiled_train_step(config)
    model = task.create_model(config, nnx.Rngs(config.seed))
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    if init_model is not None:
        nnx.update(model, nnx.state(init_model))
        tqdm.write(f"initialised the model from {init_from} (fresh optimiser, step 0)")
    # Replicate parameters, batch statistics and optimiser state over the mesh.
    state = jax.device_put(nnx.state((model, optimizer)), replicated)
    nnx.update((model, optimizer), state)

    workdir.mkdir(parents=True, exist_ok=True)
    if not resuming:
        checkpointing.write_config(workdir, config)
    ckpt = checkpointing.CheckpointManager(workdir, max_to_keep=config.get("keep_checkpoints", 2))
    try:
        start = ckpt.restore_latest(model, optimizer) or 0
        writer = MetricsWriter(workdir, start)
    except BaseException:
        ckpt.close()  # a refused checkpoint or log must not leave orbax's threads running
        raise

    last = {"train": {}, "eval": {}}

    def step_fn(step: int) -> dict:
        batch = make_global_batch(
            functools.partial(task_batch_rows, task, config, dataset, step),
            batch_sharding,
            batch_size=int(config.batch_size),
        )
        return train_step(model, optimizer, batch)

    def log(step: int, metrics: dict, rate: float) -> str:
        last["train"] = {k: float(v) for k, v in metrics.items()}
        last["train"]["steps_per_sec"] = rate
        writer.write(step, "train", last["train"])
        return f"loss={last['train']['loss']:.4f}"

    def evaluate(step: int) -> str:
        model.eval()
        last["eval"] = {k: float(v) for k, v in task.evaluate(model, config, dataset).items()}
        model.train()
        writer.write(step, "eval", last["eval"])
        ckpt.save_best(step, model, last["eval"])
        return f"step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in last["eval"].items())

    model.train()
    try:
        step = run_loop(
            LoopHooks(
                step=step_fn,
                log=log,
                evaluate=evaluate,
                save=lambda step: ckpt.save_latest(step, model, optimizer),
            ),
            start=start,
            num_steps=int(config.num_steps),
            log_every=int(config.log_every),
            eval_every=int(config.eval_every),
            checkpoint_every=int(config.checkpoint_every),
            stop_at=stop_at,
            time_limit_s=time_limit_s,
            desc=config.task,
        )
    finally:
        ckpt.wait_until_finished()
        ckpt.close()
        writer.close()
    return {"step": step, "train": last["train"], "eval": last["eval"]}
