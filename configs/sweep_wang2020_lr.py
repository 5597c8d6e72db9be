"""wang2020 learning-rate x pair-weight sweep: 6 models trained in one vmapped step.

    python train.py --config configs/sweep_wang2020_lr.py --workdir workdirs/sweep_lr \
        --data_dir ../shared/data/BSDS500

(``train.py`` hands a config with a ``sweep`` field to ``jaxseg.train.sweep.train_sweep``.)
The paper's settings (``configs/wang2020.py``) with Adam learning rates
{1e-5, 3e-5, 1e-4} x pair-loss weights {1, 0.3}; member k is written to
``workdirs/sweep_lr/model_<k>/`` (its own config.json, checkpoints and metrics.jsonl;
``sweep.json`` maps k to its values). Each member sees the same batches as a
separate ``train.py`` run of its config. 50K steps, a tenth of the paper's budget.
Meant for an accelerator: on a 2-core CPU a vmapped sweep step is slower than
the members' separate steps (docs/scaling.md).
"""

import ml_collections

from configs import wang2020


def get_config() -> ml_collections.ConfigDict:
    config = wang2020.get_config()
    config.num_steps = 50_000
    config.eval_every = 5_000
    config.sweep = ml_collections.ConfigDict()
    config.sweep.optimizer = dict(learning_rate=[1e-5, 3e-5, 1e-4])
    config.sweep.loss = dict(pair_weight=[1.0, 0.3])
    return config
