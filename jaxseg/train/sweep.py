"""Hyperparameter sweeps trained in one vmapped step: ``train_sweep(config, workdir)``.

A config with a ``sweep`` field trains K models that differ only in
hyperparameters that do not change any shape, in lockstep, with one jitted
``jax.vmap`` of the train step over a stacked model/optimiser state::

    config.sweep = ml_collections.ConfigDict()
    config.sweep.optimizer = dict(learning_rate=[1e-5, 3e-5, 1e-4])
    config.sweep.loss = dict(pair_weight=[1.0, 0.3])      # K = 3 x 2 = 6 models

``config.sweep`` mirrors the config's structure; each leaf is a list of values
for that field and the members are the Cartesian product (grid) of the lists,
over the dotted paths in sorted order, the last path varying fastest (so
``loss.pair_weight`` before ``optimizer.learning_rate``; ``WORKDIR/sweep.json``
lists each member's values). Sweepable fields:

* ``optimizer.learning_rate`` (any optimiser), ``optimizer.b1``/``b2`` (adam),
  ``optimizer.momentum`` (sgd, values > 0): the optimiser is
  ``training.make_optimizer(config, injectable=True)`` (``optax.inject_hyperparams``),
  so these are arrays of the optimiser state, stacked over the models.
  Warmup/cosine schedules are applied as a shape (0..1) multiplying the injected
  learning rate;
* loss weights that the task's loss is linear in (``wang2020``:
  ``loss.recon_weight``, ``loss.compact_weight``, ``loss.pair_weight``; a task
  may declare its own in a module attribute ``SWEEP_LOSS_WEIGHTS = {path: metric}``):
  model k's loss is the task's loss plus ``sum (w_k - w_config) * metrics[metric]``;
* ``seed``: initialisation and batch order per model (the batches are then
  stacked per model; the dataset itself is loaded once, from the base config).

Anything else (e.g. ``loss.pair_alpha``, which ``wang2020.loss_fn`` reads as a
Python float, or model fields, which are static) raises a ``ValueError`` naming
the field: sweep those with separate ``train.py`` runs.

Workdir layout::

    WORKDIR/config.json           the sweep config (a rerun with another config is refused)
    WORKDIR/sweep.json            the members: index -> swept values
    WORKDIR/model_<k>/config.json model k's own config (the base with its values, no sweep)
    WORKDIR/model_<k>/checkpoints/{latest,best}/   as for train.py
    WORKDIR/model_<k>/metrics.jsonl

so ``jaxseg.train.checkpointing.restore_model(WORKDIR/model_<k>)`` loads member k as an
ordinary model (its ``latest`` checkpoints hold the injected-hyperparameter
optimiser state; continue one member alone by starting a new run from its weights).
Every member sees the same global batches as a separate ``train.py`` run of its
config (same seed), so model k equals that run up to float rounding
(``tests/test_sweep.py``). Data parallelism is the trainer's: the global batch is
split over a 1-D ``data`` mesh of all devices (each host making only its rows,
``training.make_global_batch``), the stacked state is replicated.

Evaluation sweeps: :func:`predict_sweep` runs the wang2020 network once and the
SSN clustering + pair similarities under ``vmap`` over several XYLab scales
(the test-time compactness knobs).
"""

from __future__ import annotations

import functools
import importlib
import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from jaxseg.fileio import write_text_atomic
from jaxseg.nn import wang2020
from jaxseg.ops import slic
from jaxseg.train import checkpointing
from jaxseg.train import trainer as training

__all__ = ["member_configs", "predict_sweep", "sweep_members", "train_sweep"]

SWEEP_FILE = "sweep.json"

# Loss weights a task's loss is linear in: config path -> the metric it multiplies.
_LOSS_WEIGHTS = {
    "wang2020": {
        "loss.recon_weight": "recon",
        "loss.compact_weight": "compact",
        "loss.pair_weight": "pair",
    },
}
_OPTIMIZER_FIELDS = {
    "adam": ("optimizer.learning_rate", "optimizer.b1", "optimizer.b2"),
    "sgd": ("optimizer.learning_rate", "optimizer.momentum"),
}


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict | ml_collections.ConfigDict):
            out.update(_flatten(dict(v), key))
        else:
            out[key] = v
    return out


def _get(config: ml_collections.ConfigDict, path: str):
    node = config
    for part in path.split("."):
        node = node[part]
    return node


def _loss_weights(task) -> dict[str, str]:
    name = task.__name__.rsplit(".", 1)[-1]
    return dict(getattr(task, "SWEEP_LOSS_WEIGHTS", None) or _LOSS_WEIGHTS.get(name, {}))


def sweep_members(config: ml_collections.ConfigDict) -> list[dict[str, float]]:
    """The K members of ``config.sweep``: a list of ``{config path: value}``.

    Raises:
      ValueError: no sweep, an empty or non-numeric value list, or a field that
        cannot be swept under vmap (the message lists the ones that can).
    """
    spec = config.get("sweep")
    if not spec:
        raise ValueError(
            "config.sweep is missing or empty; set e.g. config.sweep.optimizer = "
            "dict(learning_rate=[1e-4, 1e-3])"
        )
    flat = _flatten(dict(spec))
    task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")
    opt = config.optimizer.get("name", "adam")
    allowed = ("seed", *_OPTIMIZER_FIELDS.get(opt, ()), *_loss_weights(task))
    for path, values in flat.items():
        if path not in allowed:
            raise ValueError(
                f"config.sweep.{path} cannot be swept in one vmapped step (it is not a "
                f"shape-free hyperparameter this sweep knows for task {config.task!r} with "
                f"optimizer {opt!r}); sweepable: {sorted(allowed)}. Use separate runs for it."
            )
        try:
            _get(config, path)
        except (KeyError, AttributeError) as e:
            raise ValueError(f"config.sweep.{path}: the config has no field {path!r}") from e
        if (
            not isinstance(values, list | tuple)
            or not values
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in values)
        ):
            raise ValueError(
                f"config.sweep.{path}={values!r} must be a non-empty list of finite numbers"
            )
        if path == "seed" and not all(float(v).is_integer() for v in values):
            raise ValueError(f"config.sweep.seed={values!r} must be integers")
        if path == "optimizer.momentum" and not all(v > 0 for v in values):
            raise ValueError(
                f"config.sweep.optimizer.momentum={values!r}: values must be > 0 (momentum 0 "
                "is a different optimiser state); sweep 0 in a separate run"
            )
    paths = sorted(flat)
    combos = itertools.product(*(flat[p] for p in paths))
    return [dict(zip(paths, combo, strict=True)) for combo in combos]


def member_configs(config: ml_collections.ConfigDict) -> list[ml_collections.ConfigDict]:
    """Each member's own config: the base config with its values, without ``sweep``."""
    out = []
    for member in sweep_members(config):
        c = ml_collections.ConfigDict(config.to_dict())
        del c["sweep"]
        for path, value in member.items():
            parent, _, leaf = path.rpartition(".")
            node = _get(c, parent) if parent else c
            node[leaf] = int(value) if path == "seed" else float(value)
        out.append(c)
    return out


# Jitted over the whole tree: one small program for all the leaves, instead of an eager
# stack (or slice) compiled for each distinct leaf shape.
@jax.jit
def _stack(trees: list) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@jax.jit
def _index_jit(tree: Any, k: jax.Array) -> Any:
    return jax.tree.map(lambda x: x[k], tree)


def _index(tree: Any, k: int) -> Any:
    return _index_jit(tree, jnp.asarray(k, jnp.int32))  # k traced: one program for all k


def _check_same_steps(steps: list[int | None], workdir: Path) -> int:
    if len(set(steps)) > 1:
        raise ValueError(
            f"the members in {workdir} were saved at different steps {steps} (a run killed "
            "during a save); delete the newer step folders under model_<k>/checkpoints/latest "
            "so that all members end at the same step, then rerun"
        )
    return steps[0] or 0


def train_sweep(
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Trains the members of ``config.sweep`` together in ``workdir`` (resuming).

    Args:
      config: a training config (as for ``train.py``) with a ``sweep`` field.
      workdir: output folder (see the module docstring for the layout).
      data_dir: dataset root; default ``$JAXSEG_DATA``.

    Returns:
      Per member, ``{"step", "hparams", "train", "eval"}`` (last logged metrics);
      the same list is written to ``WORKDIR/sweep.json``.

    Raises:
      ValueError: a bad sweep (see :func:`sweep_members`), a workdir of another
        config, or a global batch size that is not a multiple of the device count.
    """
    workdir = Path(workdir)
    members = sweep_members(config)
    configs = member_configs(config)
    # Check everything before writing anything: a bad config or data folder leaves the
    # workdir as it was (as the single-run trainer does).
    resuming = checkpointing.check_config(workdir, config)
    task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")
    num = len(members)
    dirs = [workdir / f"model_{k}" for k in range(num)]
    member_resuming = [checkpointing.check_config(d, c) for d, c in zip(dirs, configs, strict=True)]

    mesh = training.make_mesh()
    training.check_batch_size(int(config.batch_size), mesh)
    per_member_batch = "seed" in members[0]
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P(None, "data") if per_member_batch else P("data"))

    dataset = task.load_dataset(config, training.resolve_data_dir(data_dir))
    workdir.mkdir(parents=True, exist_ok=True)
    if not resuming:
        checkpointing.write_config(workdir, config)
    for d, c, r in zip(dirs, configs, member_resuming, strict=True):
        d.mkdir(exist_ok=True)
        if not r:
            checkpointing.write_config(d, c)
    weights = _loss_weights(task)
    swept_weights = [p for p in members[0] if p in weights]
    base_w = {p: float(_get(config, p)) for p in swept_weights}
    hp = {p: jnp.asarray([m[p] for m in members], jnp.float32) for p in swept_weights}

    ckpts = [
        checkpointing.CheckpointManager(d, max_to_keep=config.get("keep_checkpoints", 2))
        for d in dirs
    ]
    states, steps, graphdef = [], [], None
    try:
        for c, ckpt in zip(configs, ckpts, strict=True):
            model = task.create_model(c, nnx.Rngs(int(c.seed)))
            tx = training.make_optimizer(c, injectable=True)
            optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
            steps.append(ckpt.restore_latest(model, optimizer))
            model.train()
            gd, state = nnx.split((model, optimizer))
            graphdef = gd if graphdef is None else graphdef  # members differ in state only
            states.append(state)
        start = _check_same_steps(steps, workdir)
    except BaseException:
        for ckpt in ckpts:  # a refused checkpoint must not leave orbax's threads running
            ckpt.close()
        raise
    state = jax.device_put(_stack(states), replicated)
    del states
    writers = [training.MetricsWriter(d, start) for d in dirs]

    def weighted_loss(w, model, batch):
        value, metrics = task.loss_fn(model, batch, config)
        for p in swept_weights:  # the loss is linear in these weights
            value = value + (w[p] - base_w[p]) * metrics[weights[p]]
        return value, metrics

    def one_step(state, w, batch):
        model, optimizer = nnx.merge(graphdef, state)
        step = training.make_train_step(config, loss_fn=functools.partial(weighted_loss, w))
        metrics = step(model, optimizer, batch)
        return nnx.state((model, optimizer)), metrics

    train_step = jax.jit(
        jax.vmap(one_step, in_axes=(0, 0, 0 if per_member_batch else None)), donate_argnums=0
    )

    def get_batch(step: int):
        # Each process makes only its rows of the global batch (training.make_global_batch).
        if per_member_batch:

            def make_rows(*, start, stop):  # (K, stop - start, ...)
                per = [
                    training.task_batch_rows(task, c, dataset, step, start=start, stop=stop)
                    for c in configs
                ]
                return jax.tree.map(lambda *xs: np.stack(xs), *per)

        else:
            make_rows = functools.partial(training.task_batch_rows, task, config, dataset, step)
        return training.make_global_batch(
            make_rows,
            batch_sharding,
            batch_size=int(config.batch_size),
            axis=1 if per_member_batch else 0,
        )

    def member(k: int):
        return nnx.merge(graphdef, _index(state, k))

    results = [
        {"step": start, "hparams": m, "train": {}, "eval": {}, "dir": d.name}
        for m, d in zip(members, dirs, strict=True)
    ]

    def step_fn(step: int) -> dict:
        nonlocal state
        state, metrics = train_step(state, hp, get_batch(step))
        return metrics

    def log(step: int, host: dict, rate: float) -> str:  # host: each (K,)
        for k in range(num):
            rec = {name: float(v[k]) for name, v in host.items()}
            rec["steps_per_sec"] = rate
            writers[k].write(step, "train", rec)
            results[k]["train"] = rec
        return f"loss={float(np.min(host['loss'])):.4f} (min)"

    def evaluate(step: int) -> str:
        for k in range(num):
            model, _ = member(k)
            model.eval()
            ev = {n: float(v) for n, v in task.evaluate(model, configs[k], dataset).items()}
            writers[k].write(step, "eval", ev)
            ckpts[k].save_best(step, model, ev)
            results[k]["eval"] = ev
        best = max(range(num), key=lambda k: results[k]["eval"]["score"])
        return f"step {step}: best model_{best} score={results[best]['eval']['score']:.4f}"

    def save(step: int) -> None:
        for k in range(num):
            model, optimizer = member(k)
            ckpts[k].save_latest(step, model, optimizer)

    try:
        step = training.run_loop(
            training.LoopHooks(step=step_fn, log=log, evaluate=evaluate, save=save),
            start=start,
            num_steps=int(config.num_steps),
            log_every=int(config.log_every),
            eval_every=int(config.eval_every),
            checkpoint_every=int(config.checkpoint_every),
            desc=f"sweep x{num}",
        )
    finally:
        for ckpt in ckpts:
            ckpt.wait_until_finished()
            ckpt.close()
        for w in writers:
            w.close()
    for r in results:
        r["step"] = step
    if jax.process_index() == 0:  # one writer on a shared filesystem
        write_text_atomic(workdir / SWEEP_FILE, json.dumps(results, indent=2) + "\n")
    return results


# ---------------------------------------------------------------- evaluation sweeps


@functools.partial(jax.jit, static_argnames=("graphdef", "n_segments", "num_iters"))
def _predict_sweep(graphdef, state, image, pos_scales, color_scales, *, n_segments, num_iters):
    model = nnx.merge(graphdef, state)
    feats = model(image[None])  # the network runs once for all scales

    def one(pos_scale, color_scale):
        return wang2020.predict_from_features(
            image,
            feats.spix[0],
            feats.seg[0],
            n_segments=n_segments,
            num_iters=num_iters,
            pos_scale=pos_scale,
            color_scale=color_scale,
        )

    return jax.vmap(one)(pos_scales, color_scales)


def predict_sweep(
    model: nnx.Module,
    image: ArrayLike,
    *,
    pos_scales: ArrayLike,
    color_scales: ArrayLike | None = None,
    n_segments: int = 100,
    num_iters: int = 10,
):
    """wang2020 predictions of one image at K XYLab scales, in one vmapped call.

    The network runs once; the SSN clustering, pooling and pair similarities
    run under ``jax.vmap`` over the scales. Entry k equals
    ``wang2020.predict(model, image, ...)`` with ``model.pos_scale = pos_scales[k]``
    and ``model.color_scale = color_scales[k]``.

    Args:
      model: a wang2020 network in eval mode (e.g. from ``restore_model``).
      image: ``(H, W, 3)`` float32 RGB in ``[0, 1]``.
      pos_scales: ``(K,)`` position scales (larger: more compact superpixels).
      color_scales: ``(K,)`` colour scales; default the model's, for every k.
      n_segments, num_iters: as for ``wang2020.predict`` (static).

    Returns:
      :class:`jaxseg.nn.wang2020.Prediction` whose fields have a leading ``K`` axis.

    Raises:
      ValueError: bad image shape, scales that are not 1-D of equal length, or bad
        ``n_segments``/``num_iters``.

    Example:
      >>> preds = predict_sweep(model, image, pos_scales=[1.0, 2.5, 5.0])
      >>> preds.labels.shape  # (3, H, W)
    """
    image = slic.as_float_rgb(image)
    pos = jnp.asarray(pos_scales, jnp.float32)
    if pos.ndim != 1 or pos.shape[0] < 1:
        raise ValueError(f"pos_scales must be a non-empty 1-D list, got shape {pos.shape}")
    if color_scales is None:
        col = jnp.full(pos.shape, model.color_scale, jnp.float32)
    else:
        col = jnp.asarray(color_scales, jnp.float32)
    if col.shape != pos.shape:
        raise ValueError(
            f"color_scales has shape {col.shape}, pos_scales {pos.shape}: give one of each per k"
        )
    wang2020.check_counts(n_segments, num_iters)
    graphdef, state = nnx.split(model)
    return _predict_sweep(
        graphdef, state, image, pos, col, n_segments=int(n_segments), num_iters=int(num_iters)
    )
