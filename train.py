"""Trains a jaxseg task: ``python train.py --config configs/X.py --workdir DIR [--data-dir D]``.

Rerunning the same command resumes from the latest checkpoint in ``DIR``.
``--init-from MODEL`` starts a new run from a trained model's weights (a packaged
folder such as ``jaxseg/weights/superae_cpu``) with a fresh optimiser. Config
fields can be overridden on the command line (``--config.num_steps=1000``). A config
with a ``sweep`` field (``configs/sweep_*.py``) trains all its members at once in one
vmapped step (``jaxseg.train.sweep``). On several hosts (a TPU pod, a multi-node GPU job) run
the same command on every host with ``--distributed``. Flags are spelled with dashes
(``--data-dir``); the underscore spelling (``--data_dir``) is an alias.

Bad input (an unknown config field, a missing dataset, a workdir of another run or
with damaged files) ends with a one-line error and exit code 2.
"""

import difflib
import sys
from collections.abc import Sequence

import ml_collections
from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS


def define_flags(flag_values: flags.FlagValues, argv: Sequence[str] | None = None) -> None:
    """Defines train.py's flags in ``flag_values``: dashed names (``--data-dir``), each with
    its underscore spelling (``--data_dir``) as an absl alias of the same flag. The
    ``--config.X`` overrides are looked up in ``argv`` (default: ``sys.argv``)."""
    config_flags.DEFINE_config_file(
        "config",
        None,
        "Training config file.",
        flag_values=flag_values,
        lock_config=True,
        sys_argv=None if argv is None else list(argv),
    )
    flags.DEFINE_string(
        "workdir",
        None,
        "Directory for checkpoints, config.json and metrics.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "data-dir", None, "BSDS500 root (default: $JAXSEG_DATA).", flag_values=flag_values
    )
    flags.DEFINE_string(
        "init-from",
        None,
        "A trained model (packaged folder, e.g. jaxseg/weights/superae_cpu, or a workdir) "
        "whose weights start the run, with a fresh optimiser; ignored when --workdir holds a "
        "checkpoint.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "distributed",
        False,
        "Call jax.distributed.initialize() first (several hosts; same command on every host).",
        flag_values=flag_values,
    )
    for name in ("data-dir", "init-from"):
        flags.DEFINE_alias(name.replace("-", "_"), name, flag_values=flag_values)
    flags.mark_flags_as_required(["config", "workdir"], flag_values=flag_values)


define_flags(FLAGS)


def _fail(message: str):
    print(f"train.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def _field_paths(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in config.items():
        paths.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            paths += _field_paths(value, f"{prefix}{key}.")
    return paths


def _has_field(config: ml_collections.ConfigDict, path: str) -> bool:
    node = config
    for part in path.split("."):
        part = part.split("[", 1)[0]  # a list element, e.g. train_splits[0]
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            return False
        node = node[part]
    return True


def close_fields(config: ml_collections.ConfigDict, path: str) -> list[str]:
    """Fields of ``config`` (dotted paths) whose path or last name is close to ``path``'s."""
    fields = _field_paths(config)
    name = path.rsplit(".", 1)[-1]
    by_name = [f for f in fields if difflib.get_close_matches(name, [f.rsplit(".", 1)[-1]])]
    by_path = difflib.get_close_matches(path, fields, n=3, cutoff=0.8)
    return list(dict.fromkeys(by_name + by_path))[:5]


def _unknown_override(argv: list[str], flag_values: flags.FlagValues) -> str | None:
    """The error for the first ``--config.X`` override naming no field, if any."""
    config_arg, overrides = None, []
    for i, arg in enumerate(argv[1:], 1):
        name, eq, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-"):
            continue
        if name == "config":
            config_arg = value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
        elif name.startswith("config."):
            overrides.append(name.removeprefix("config."))
    if config_arg is None:
        return None
    config = flag_values["config"].parser.parse(config_arg)
    for path in overrides:
        if not _has_field(config, path):
            near = close_fields(config, path)
            hint = (
                "did you mean " + " or ".join(f"--config.{f}" for f in near) + "?"
                if near
                else f"the fields are those of get_config() in {config_arg}"
            )
            return f"--config.{path}: {config_arg} has no field {path!r}; {hint}"
    return None


def parse_flags(argv: list[str], flag_values: flags.FlagValues = FLAGS) -> list[str]:
    """absl's flag parsing (into ``flag_values``), with a one-line error for an override
    of a field that does not exist (ml_collections raises a bare AttributeError for it)."""
    try:
        if flag_values is FLAGS:
            return app.parse_flags_with_usage(argv)
        try:  # as app.parse_flags_with_usage does for FLAGS
            return flag_values(argv)
        except flags.Error as error:
            print(f"FATAL Flags parsing error: {error}", file=sys.stderr)
            print("Pass --helpshort or --helpfull to see help on flags.", file=sys.stderr)
            sys.exit(1)
    except (AttributeError, KeyError):
        message = _unknown_override(argv, flag_values)
        if message is None:
            raise
        _fail(message)


def main(argv: Sequence[str]) -> int:
    """``python train.py ARGS`` in this process: ``main(["train.py", *ARGS])``.

    The arguments are parsed into flags of their own (not the module's ``FLAGS``), so
    that one process can call it several times. Returns 0 when the run is done; bad
    input ends as on the command line: the one-line error and ``SystemExit(2)``.
    """
    argv = list(argv)
    flag_values = flags.FlagValues()
    define_flags(flag_values, argv)
    verbosity = logging.get_verbosity()
    try:
        _train(parse_flags(argv, flag_values), flag_values)
    finally:
        logging.set_verbosity(verbosity)  # _train lowers it for orbax
    return 0


def _app_main(argv: list[str]) -> None:
    """``app.run``'s main: the run of the command line's flags (``FLAGS``)."""
    _train(argv, FLAGS)


def _train(argv: list[str], flag_values: flags.FlagValues) -> None:
    """The run that ``flag_values`` (parsed) asks for; ``argv``: what parsing left."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import jax

    from jaxseg.train.checkpointing import CheckpointError
    from jaxseg.train.sweep import train_sweep
    from jaxseg.train.trainer import train_and_evaluate

    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    if flag_values.distributed:
        jax.distributed.initialize()
    config = flag_values.config
    run = train_sweep if config.get("sweep") else train_and_evaluate
    try:
        init_from = flag_values["init-from"].value
        if init_from and config.get("sweep"):
            _fail("--init-from is for single runs; a sweep config starts every member fresh")
        kwargs = {"init_from": init_from} if init_from else {}
        run(config, flag_values.workdir, data_dir=flag_values["data-dir"].value, **kwargs)
    except (CheckpointError, FileNotFoundError) as e:
        _fail(str(e))


if __name__ == "__main__":
    app.run(_app_main, flags_parser=parse_flags)
