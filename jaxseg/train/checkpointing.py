"""Checkpoints of trained models: the one module that imports orbax.

Workdir layout written by :func:`jaxseg.train.trainer.train_and_evaluate`::

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
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from jaxseg import WEIGHTS_DIR
from jaxseg.fileio import write_bytes_atomic, write_text_atomic

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "check_config",
    "check_or_write_config",
    "config_from_json",
    "export_model",
    "load_config",
    "load_weights",
    "pretrained_path",
    "restore_model",
    "write_config",
]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.npz"
WHICH = ("best", "latest")


class CheckpointError(ValueError):
    """A workdir or model folder that cannot be used as it is: a damaged ``config.json``
    or ``model.npz``, or a config and checkpoints that do not belong together.

    ``str()`` names the file or folder, what is wrong and what to do.
    """


def _config_dict(config: ml_collections.ConfigDict) -> dict[str, Any]:
    # Through JSON so tuples/lists and numeric types compare as they are stored.
    return json.loads(config.to_json(sort_keys=True))


def config_from_json(text: str) -> ml_collections.ConfigDict:
    """Rebuilds a ConfigDict from the JSON saved in a workdir."""
    return ml_collections.ConfigDict(json.loads(text))


def _read_config_json(cfg: Path) -> dict[str, Any]:
    """The dict saved in ``cfg`` (a config.json); a damaged file raises CheckpointError."""
    try:
        saved = json.loads(cfg.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(
            f"{cfg} is damaged, not the JSON that train.py writes ({e}); copy it again from "
            "where the model came from, or train into a new --workdir"
        ) from e
    if not isinstance(saved, dict) or not isinstance(saved.get("task"), str):
        raise CheckpointError(
            f"{cfg} is not a jaxseg training config (a JSON object with a 'task' field); "
            "copy it again from where the model came from, or train into a new --workdir"
        )
    return saved


def load_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
    """Reads ``PATH/config.json`` (``path`` a workdir or a released model folder).

    Raises:
      FileNotFoundError: ``path`` is not a folder or holds no config.json.
      CheckpointError: config.json is damaged (not JSON, or not a training config).
    """
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
    return ml_collections.ConfigDict(_read_config_json(cfg))


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


def _has_checkpoint(workdir: Path) -> bool:
    # orbax names a finished step's folder by the step number alone.
    return any(p.name.isdigit() for p in (workdir / "checkpoints").glob("*/*"))


def check_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> bool:
    """Checks ``config`` against the ``config.json`` of ``workdir``, writing nothing.

    Returns:
      True when ``workdir`` holds a config.json equal to ``config`` (a run to resume),
      False when it holds none (a new run).

    Raises:
      CheckpointError: the workdir holds a run with another config (resuming it with
        this config would silently mix two runs; the message lists the differing
        fields), or its config.json is damaged.
    """
    path = Path(workdir) / CONFIG_FILE
    if not path.is_file():
        return False
    diffs = _diff(_read_config_json(path), _config_dict(config))
    if diffs:
        untrained = (
            ""
            if _has_checkpoint(path.parent)
            else f" (it holds no checkpoint: nothing was trained there, so deleting {path} "
            "is also safe)"
        )
        raise CheckpointError(
            f"{path.parent} holds a run with a different config ({'; '.join(diffs[:8])}"
            f"{' ...' if len(diffs) > 8 else ''}; saved vs given). Use a new --workdir, "
            f"or the same config to resume{untrained}."
        )
    return True


def write_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
    """Writes ``workdir/config.json`` (atomically; the folder must exist)."""
    text = json.dumps(_config_dict(config), indent=2, sort_keys=True) + "\n"
    write_text_atomic(Path(workdir) / CONFIG_FILE, text)


def check_or_write_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> None:
    """Writes ``config.json`` in a new workdir, or checks it equals the saved one.

    Raises:
      CheckpointError: as :func:`check_config`.
    """
    if not check_config(workdir, config):
        write_config(workdir, config)


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
        """Restores model and optimiser in place from the latest step; returns it (None: none).

        Raises:
          CheckpointError: the checkpoint does not fit ``model`` and ``optimizer``
            (saved from another model or optimiser config).
        """
        step = self._latest.latest_step()
        if step is None:
            return None
        config_file = Path(self._latest.directory).parent.parent / CONFIG_FILE
        items = {"model": _pure(model), "opt": _pure(optimizer)}
        restored = _restore(self._latest, step, items, config_file)
        _update(model, restored["model"])
        _update(optimizer, restored["opt"])
        return step

    def wait_until_finished(self) -> None:
        self._latest.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._latest.close()
        self._best.close()


_READ_ONLY = ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0)


def _leaves(tree) -> dict[str, Any]:
    """``{"a/b/c": leaf}`` of a nested dict (or orbax's metadata tree of one)."""
    return {
        "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path): leaf
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    }


def _misfits(directory: Path, step: int, items: dict[str, dict]) -> list[str]:
    """How the arrays saved at ``directory/step`` differ from ``items`` (name -> pure dict):
    missing, extra or of another shape; read from orbax's metadata, loading nothing."""
    reader = ocp.CheckpointManager(
        directory,
        options=_READ_ONLY,
        item_handlers={name: ocp.StandardCheckpointHandler() for name in items},
    )
    try:
        stored = reader.item_metadata(step)
    except Exception:  # noqa: BLE001 - unreadable metadata: the restore itself will say why
        return []
    finally:
        reader.close()
    out = []
    for name, tree in items.items():
        have = _leaves(stored[name]) if stored[name] is not None else {}
        want = _leaves(tree)
        out += [f"{name}/{k} missing" for k in sorted(set(want) - set(have))]
        out += [f"{name}/{k} not expected" for k in sorted(set(have) - set(want))]
        out += [
            f"{name}/{k} has shape {tuple(have[k].shape)}, config.json's {tuple(np.shape(want[k]))}"
            for k in sorted(set(want) & set(have))
            if tuple(have[k].shape) != tuple(np.shape(want[k]))
        ]
    return out


def _restore(manager: ocp.CheckpointManager, step: int, items: dict, config_file: Path) -> dict:
    """Restores ``items`` (name -> pure dict of the current arrays) from ``step``.

    The saved arrays are checked against ``items`` first: a restore that fails leaves
    orbax's reader threads printing errors after the exception.

    Raises:
      CheckpointError: the checkpoint does not fit ``items``; the message names it,
        ``config_file``, the first differences and the fix.
    """
    misfits = _misfits(Path(manager.directory), step, items)
    cause = None
    if not misfits:
        args = {k: ocp.args.StandardRestore(_abstract(v)) for k, v in items.items()}
        try:
            return manager.restore(step, args=ocp.args.Composite(**args))
        except (ValueError, KeyError, TypeError) as e:
            misfits, cause = [f"{type(e).__name__}: {_first_line(e)}"], e
    more = f" and {len(misfits) - 3} more" if len(misfits) > 3 else ""
    raise CheckpointError(
        f"checkpoint {Path(manager.directory) / str(step)} does not fit the "
        f"{' and '.join(items)} state that {config_file} describes: it was saved by another "
        "config (was config.json edited, or the checkpoints copied from another run?). Put "
        "back the config.json of that run, or train into a new --workdir. Differences: "
        f"{'; '.join(misfits[:3])}{more}."
    ) from cause


def _first_line(e: BaseException, limit: int = 300) -> str:
    # orbax's tree-mismatch messages run to hundreds of lines, and go on to advice about
    # its own options; the first sentence says what.
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    end = text.find(". ")
    text = text[: end + 1] if end > 0 else text
    return text if len(text) <= limit else text[:limit] + " ..."


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
            raise CheckpointError(
                f"{source} has no array {key!r}: it was saved from another model config; put "
                "back the config.json that came with it"
            )
        if flat[key].shape != v.shape:
            raise CheckpointError(
                f"{source}: {key!r} has shape {flat[key].shape}, the model built from config.json "
                f"expects {v.shape}: the weights come from another model config; put back the "
                "config.json that came with them"
            )
        out[k] = flat[key].astype(v.dtype)
    return out


def _read_model_file(file: Path) -> dict[str, np.ndarray]:
    """The arrays of a ``model.npz``; a truncated or damaged one raises CheckpointError."""
    try:
        with open(file, "rb") as f:  # ours to close, whatever np.load raises
            head = f.read(4)
            if head != b"PK\x03\x04":  # np.load would take other bytes for a pickle
                raise ValueError(f"no .npz (zip) signature at the start, found {head!r}")
            f.seek(0)
            with np.load(f, allow_pickle=False) as data:
                return dict(data)
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as e:
        raise CheckpointError(
            f"{file} is truncated or damaged, not the model.npz that export_model writes "
            f"({type(e).__name__}: {_first_line(e)}); copy it again from where it came from, "
            "or export it again from its training workdir"
        ) from e


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
    write_config(out, config)
    return out


def pretrained_path(name: str = "wang2020_cpu_long") -> Path:
    """Folder of a model shipped in ``jaxseg/weights/``, e.g. ``"superae_cpu"``."""
    path = WEIGHTS_DIR / name
    if not (path / MODEL_FILE).is_file():
        have = sorted(p.name for p in path.parent.glob("*") if (p / MODEL_FILE).is_file())
        raise FileNotFoundError(f"no shipped model {name!r} in {path.parent}; available: {have}")
    return path


def load_weights(model: nnx.Module, path: str | os.PathLike, *, which: str = "best") -> None:
    """Fills ``model`` (concrete, or abstract from ``nnx.eval_shape``) in place with the
    state saved at ``path``: its ``model.npz``, else its ``which`` orbax checkpoint.

    Arrays land on the default device, whatever devices the checkpoint was saved from.

    Raises:
      FileNotFoundError: no model.npz and no checkpoint of that kind.
      CheckpointError: a damaged model.npz, or saved arrays that do not fit ``model``
        (missing, extra or of another shape; the message names the file).
    """
    path = Path(path)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    pure = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), _pure(model)
    )
    if (path / MODEL_FILE).is_file():
        flat = _read_model_file(path / MODEL_FILE)
        expected = _flatten(pure)
        extra = sorted(set(flat) - set(expected))
        if extra:
            raise CheckpointError(
                f"{path / MODEL_FILE} has arrays {extra[:5]} that the model built from "
                "config.json lacks: the weights come from another model config; put back the "
                "config.json that came with them"
            )
        _update(model, _unflatten_into(pure, flat, path / MODEL_FILE))
        return
    sub = path.absolute() / "checkpoints" / which
    if not sub.is_dir():
        raise FileNotFoundError(f"no {which!r} checkpoints in {path} (looked for {sub})")
    mngr = ocp.CheckpointManager(sub, options=_READ_ONLY)
    try:
        step = mngr.latest_step()  # the best folder keeps exactly one step
        if step is None:
            raise FileNotFoundError(
                f"no {which!r} checkpoint in {sub}; train longer or use the other"
            )
        restored = _restore(mngr, step, {"model": pure}, path / CONFIG_FILE)
    finally:
        mngr.close()
    _update(model, restored["model"])


def restore_model(
    path: str | os.PathLike, *, which: str = "best"
) -> tuple[nnx.Module, ml_collections.ConfigDict]:
    """Rebuilds a trained model from a workdir or a released model folder.

    The model is built by ``jaxseg.train.tasks.<config.task>.create_model`` from the saved
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
      ValueError: bad ``which``.
      CheckpointError: a damaged config.json or model.npz, or weights that do not fit
        the config's model (the message names the file).
    """
    if which not in WHICH:
        raise ValueError(f"which={which!r} must be one of {WHICH}")
    path = Path(path)
    config = load_config(path)
    try:
        task = importlib.import_module(f"jaxseg.train.tasks.{config.task}")
    except ModuleNotFoundError as e:
        raise CheckpointError(
            f"{path / CONFIG_FILE} names task {config.task!r}, which this jaxseg does not "
            "have (jaxseg/train/tasks/); update jaxseg, or copy config.json again"
        ) from e
    # Shapes only (no random initialisation, which compiles one XLA program per array
    # shape: seconds on a CPU); every array is then filled from the file.
    model = nnx.eval_shape(lambda: task.create_model(config, nnx.Rngs(0)))
    load_weights(model, path, which=which)
    model.eval()
    return model, config
