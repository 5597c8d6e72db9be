"""A 4-model sweep on the tiny wang2020 config, to try sweeps in seconds.

    python train.py --config configs/sweep_wang2020_tiny.py --workdir /tmp/sweep_tiny \
        --data_dir ../shared/data/BSDS500

Learning rates {1e-3, 3e-3} x seeds {0, 1} (``seed`` changes the initialisation
and the batch order of each model); see ``configs/sweep_wang2020_lr.py``.
"""

import ml_collections

from configs import wang2020_tiny


def get_config() -> ml_collections.ConfigDict:
    config = wang2020_tiny.get_config()
    config.sweep = ml_collections.ConfigDict()
    config.sweep.optimizer = dict(learning_rate=[1e-3, 3e-3])
    config.sweep.seed = [0, 1]
    return config
