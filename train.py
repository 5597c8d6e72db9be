"""Trains a jaxseg task: ``python train.py --config configs/X.py --workdir DIR [--data_dir D]``.

Rerunning the same command resumes from the latest checkpoint in ``DIR``. Config
fields can be overridden on the command line (``--config.num_steps=1000``). A config
with a ``sweep`` field (``configs/sweep_*.py``) trains all its members at once in one
vmapped step (``jaxseg.sweep``). On several hosts (a TPU pod, a multi-node GPU job) run
the same command on every host with ``--distributed``.
"""

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxseg.sweep import train_sweep
from jaxseg.training import train_and_evaluate

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Training config file.", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, config.json and metrics.")
flags.DEFINE_string("data_dir", None, "BSDS500 root (default: $JAXSEG_DATA).")
flags.DEFINE_bool(
    "distributed",
    False,
    "Call jax.distributed.initialize() first (several hosts; same command on every host).",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    if FLAGS.distributed:
        jax.distributed.initialize()
    run = train_sweep if FLAGS.config.get("sweep") else train_and_evaluate
    run(FLAGS.config, FLAGS.workdir, data_dir=FLAGS.data_dir)


if __name__ == "__main__":
    app.run(main)
