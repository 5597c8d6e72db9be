"""Checkpoints of trained models: the one module that imports orbax.

Workdir layout written by :func:`jaxseg.training.train_and_evaluate`::

    WORKDIR/config.json                the training config (JSON of the ConfigDict)
    WORKDIR/checkpoints/latest/STEP/   model + optimiser state (periodic, for resuming)
    WORKDIR/checkpoints/best/STEP/     model state with the best validation score
    WORKDIR/metrics.jsonl              one JSON object per logged step

A released model folder (``jaxseg/weights/NAME/``) holds ``config.json`` and
``model.npz`` (the model state only, written by :func:`export_model`);
:func:`restore_model` reads either layout.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from jaxseg.fileio import write_bytes_atomic, write_text_atomic

__all__ = [
    "CheckpointManager",
    "check_or_write_config",
    "config_from_json",
    "export_model",
    "load_config",
    "pretrained_path",
    "restore_model",
]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.npz"
WHICH = ("best", "latest")


def _config_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
    # Through JSON so tuples/lists and numeric types compare as they are stored.
    return json.loads(config.to_json(sort_keys=True))


def config_from_json(text: str) -> ml_collections.ConfigDict:
    """Rebuilds a ConfigDict from the JSON saved in a workdir."""
    return ml_collections.ConfigDict(json.loads(text))


def load_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
    """Reads ``PATH/config.json`` (``path`` a workdir or a released model folder)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path} is not a directory; pass a training workdir or model folder"
        )
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise FileNotFoundError(
            f"{cfg} not found: {path} is not a jaxseg workdir (train.py writes config.json there)"
        )
    return config_from_json(cfg.read_text())


def _diff(a: Any, b: Any, prefix: str = "config") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{prefix}.{k}: {a.get(k, '<absent>')!r} vs {b.get(k, '<absent>')!r}")
            else:
                out.extend(_diff(a[k], b[k], f"{prefix}.{k}"))
        return out
    return [] if a == b else [f"{prefix}: {a!r} vs {b!r}"]


def check_or_write_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
    """Writes ``config.json`` in a new workdir, or checks it equals the saved one.

    Raises:
      ValueError: the workdir holds a run with another config (resuming it with
        this config would silently mix two runs); the message lists the
        differing fields.
    """
    path = Path(workdir) / CONFIG_FILE
    new = _config_dict(config)
    if path.is_file():
        old = json.loads(path.read_text())
        diffs = _diff(old, new)
        if diffs:
            raise ValueError(
                f"{path.parent} holds a run with a different config ({'; '.join(diffs[:8])}"
                f"{' ...' if len(diffs) > 8 else ''}; saved vs given). Use a new --workdir, "
                "or the same config to resume."
            )
        return
    write_text_atomic(path, json.dumps(new, indent=2, sort_keys=True) + "\n")


def _pure(module_or_state) -> dict:
    return nnx.to_pure_dict(nnx.state(module_or_state))


def _abstract(pure: dict) -> dict:
    # Restore with the current arrays' shapes, dtypes and shardings.
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, pure)


def _update(module, pure: dict) -> None:
    state = nnx.state(module)
    nnx.replace_by_pure_dict(state, pure)
    nnx.update(module, state)


class CheckpointManager:
    """Periodic (latest) and best-on-validation checkpoints of one workdir.

    Two orbax managers: ``checkpoints/latest`` keeps the last ``max_to_keep``
    model+optimiser states for resuming; ``checkpoints/best`` keeps the model state
    with the highest ``metrics["score"]``. Saves are asynchronous; orbax commits a
    step directory atomically, so a killed run resumes from the last complete one.
    """

    def __init__(self, workdir: str | os.PathLike, *, max_to_keep: int = 2):
        root = Path(workdir).absolute() / "checkpoints"
        self._latest = ocp.CheckpointManager(
            root / "latest",
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
            item_names=("model", "opt"),
        )
        self._best = ocp.CheckpointManager(
            root / "best",
            options=ocp.CheckpointManagerOptions(
                max_to_keep=1,
                best_fn=lambda m: float(m["score"]),
                best_mode="max",
                keep_checkpoints_without_metrics=False,
                create=True,
            ),
            item_names=("model",),
        )

    def latest_step(self) -> int | None:
        return self._latest.latest_step()

    def best_step(self) -> int | None:
        return self._best.best_step()

    def save_latest(self, step: int, model: nnx.Module, optimizer: nnx.Optimizer) -> None:
        self._latest.save(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardSave(_pure(model)),
                opt=ocp.args.StandardSave(_pure(optimizer)),
            ),
        )

    def save_best(self, step: int, model: nnx.Module, metrics: dict[str, float]) -> None:
        """Offers the model at ``step`` with ``metrics["score"]``; orbax keeps the best."""
        if "score" not in metrics:
            raise ValueError(f"metrics need a 'score' to rank checkpoints, got {sorted(metrics)}")
        metrics = {k: float(v) for k, v in metrics.items()}
        self._best.save(
            step,
            args=ocp.args.Composite(model=ocp.args.StandardSave(_pure(model))),
            metrics=metrics,
        )

    def restore_latest(self, model: nnx.Module, optimizer: nnx.Optimizer) -> int | None:
        """Restores model and optimiser in place from the latest step; returns it (None: none)."""
        step = self._latest.latest_step()
        if step is None:
            return None
        restored = self._latest.restore(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardRestore(_abstract(_pure(model))),
                opt=ocp.args.StandardRestore(_abstract(_pure(optimizer))),
            ),
        )
        _update(model, restored["model"])
        _update(optimizer, restored["opt"])
        return step

    def wait_until_finished(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()


def _flatten(pure: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for k, v in pure.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = np.asarray(jax.device_get(v))
    return out


def _unflatten_into(
    pure: dict, flat: dict[str, np.ndarray], source: Path, prefix: str = ""
) -> dict:
    out = {}
    for k, v in pure.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out[k] = _unflatten_into(v, flat, source, key)
            continue
        if key not in flat:
            raise ValueError(
                f"{source} has no array {key!r}: it was saved from another model config"
            )
        if flat[key].shape != v.shape:
            raise ValueError(
                f"{source}: {key!r} has shape {flat[key].shape}, the model built from config.json "
                f"expects {v.shape}: the weights come from another model config"
            )
        out[k] = flat[key].astype(v.dtype)
    return out


def export_model(
    model: nnx.Module, config: ml_collections.ConfigDict, out_dir: str | os.PathLike
) -> Path:
    """Writes a released model folder: ``config.json`` + ``model.npz`` (model state only).

    Returns the folder; :func:`restore_model` loads it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flat = _flatten(_pure(model))
    write_bytes_atomic(out / MODEL_FILE, lambda f: np.savez(f, **flat))
    write_text_atomic(
        out / CONFIG_FILE, json.dumps(_config_dict(config), indent=2, sort_keys=True) + "\n"
    )
    return out


def pretrained_path(name: str = "wang2020_cpu_long") -> Path:
    """Folder of a model shipped in ``jaxseg/weights/``, e.g. ``"superae_cpu"``."""
    path = Path(__file__).resolve().parent / "weights" / name
    if not (path / MODEL_FILE).is_file():
        have = sorted(p.name for p in path.parent.glob("*") if (p / MODEL_FILE).is_file())
        raise FileNotFoundError(f"no shipped model {name!r} in {path.parent}; available: {have}")
    return path


def restore_model(
    path: str | os.PathLike, *, which: str = "best"
) -> tuple[nnx.Module, ml_collections.ConfigDict]:
    """Rebuilds a trained model from a workdir or a released model folder.

    The model is built by ``jaxseg.tasks.<config.task>.create_model`` from the saved
    ``config.json`` and its state restored (``model.npz`` when present, else the
    ``best`` or ``latest`` orbax checkpoint). The model comes back in eval mode.

    Args:
      path: a training workdir, or a folder written by :func:`export_model`.
      which: ``"best"`` (highest validation score) or ``"latest"``; ignored for a
        released folder, which holds one state.

    Returns:
      ``(model, config)``.

    Raises:
      FileNotFoundError: no config.json or no checkpoint of that kind.
      ValueError: bad ``which``, or weights that do not fit the config's model.
    """
    if which not in WHICH:
        raise ValueError(f"which={which!r} must be one of {WHICH}")
    path = Path(path)
    config = load_config(path)
    task = importlib.import_module(f"jaxseg.tasks.{config.task}")
    model = task.create_model(config, nnx.Rngs(0))
    pure = _pure(model)
    if (path / MODEL_FILE).is_file():
        with np.load(path / MODEL_FILE) as data:
            flat = dict(data)
        expected = _flatten(pure)
        extra = sorted(set(flat) - set(expected))
        if extra:
            raise ValueError(
                f"{path / MODEL_FILE} has arrays {extra[:5]} that the model built from "
                "config.json lacks: the weights come from another model config"
            )
        _update(model, _unflatten_into(pure, flat, path / MODEL_FILE))
    else:
        sub = path.absolute() / "checkpoints" / which
        if not sub.is_dir():
            raise FileNotFoundError(f"no {which!r} checkpoints in {path} (looked for {sub})")
        mngr = ocp.CheckpointManager(sub, options=ocp.CheckpointManagerOptions(read_only=True))
        step = mngr.latest_step()  # the best folder keeps exactly one step
        if step is None:
            raise FileNotFoundError(
                f"no {which!r} checkpoint in {sub}; train longer or use the other"
            )
        try:
            restored = mngr.restore(
                step, args=ocp.args.Composite(model=ocp.args.StandardRestore(_abstract(pure)))
            )
        except (ValueError, KeyError) as e:
            raise ValueError(
                f"checkpoint {sub / str(step)} does not fit the model built from "
                f"{path / CONFIG_FILE}: it was saved from another model config ({e})"
            ) from e
        finally:
            mngr.close()
        _update(model, restored["model"])
    model.eval()
    return model, config
