"""wang2020 ("ours-GN8") with the paper's training settings (METHOD.md A6).

    python train.py --config configs/wang2020.py --workdir workdirs/wang2020 \
        --data_dir ../shared/data/BSDS500

BSDS500 train+val, every (image, annotator) pair a sample, random flips and
201x201 crops, batch 1, Adam lr 1e-5 with beta1 0.99 (the paper's "momentum"),
500K iterations, m = 100 superpixels (5 SSN iterations) in training. The paper
selects the model "on validation" although val is in its training set; we do the
same (``eval``: BR, UE and pair accuracy at n = 100 on 20 val images).

Ablation variants (paper Tables 1-2) override ``config.model``:
``norm="batch"`` (ours-BN), ``num_groups=32`` (ours-GN32),
``shared_features=True`` (ours-conv7), ``concat=False`` (ours-w/o-concat), e.g.
``--config configs/wang2020.py --config.model.num_groups=32``.
"""

import ml_collections
from ml_collections import config_dict


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.task = "wang2020"
    config.seed = 0

    config.model = ml_collections.ConfigDict(
        dict(
            width=64,
            norm="group",
            num_groups=8,
            concat=True,
            shared_features=False,
            spix_channels=30,
            seg_hidden=256,
            seg_channels=64,
            pos_scale=2.5,  # SSN's XYLab scales
            color_scale=0.26,
            spix_init_scale=1.0,  # head 1 with the default (LeCun normal) init
        )
    )

    config.data = ml_collections.ConfigDict(
        dict(
            name="bsds500",
            train_splits=("train", "val"),
            val_split="val",
            max_images=0,  # 0: all
            crop_size=201,
            flip=True,
            max_gt_segments=50,  # per crop; smaller segments beyond it are ignored
            source="folder",  # folder (--data_dir) | tfds (prepared in tfds_dir; docs/data.md)
            tfds_dir="",  # TFDS data directory of source=tfds; "": TFDS's default
        )
    )

    config.batch_size = 1  # global batch, split over the devices
    config.num_devices = 0  # 0: all visible devices
    config.n_segments = 100
    config.train_iters = 5

    config.loss = ml_collections.ConfigDict(
        dict(
            recon_weight=1.0,
            compact_weight=1e-5,  # SSN's
            pair_weight=1.0,
            pair_alpha=config_dict.placeholder(float),  # None: fraction of positive pairs
            pair_eps=1e-6,
        )
    )

    config.optimizer = ml_collections.ConfigDict(
        dict(
            name="adam",
            learning_rate=1e-5,
            b1=0.99,
            b2=0.999,
            momentum=0.9,  # sgd only
            schedule="constant",
            warmup_steps=0,
            grad_clip_norm=0.0,
            # Skip a step whose gradient is not finite (SSN's backward can overflow
            # when a cluster's soft weight underflows; see jaxseg.train.trainer).
            skip_nonfinite_updates=True,
        )
    )

    config.num_steps = 500_000
    config.log_every = 100
    config.eval_every = 5_000
    config.checkpoint_every = 1_000
    config.keep_checkpoints = 2

    config.eval = ml_collections.ConfigDict(dict(num_images=20, n_segments=100, num_iters=10))
    return config
