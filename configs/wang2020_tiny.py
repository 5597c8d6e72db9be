"""wang2020 on a tiny budget, for tests: 4 images, 33x33 crops, 2 steps.

    python train.py --config configs/wang2020_tiny.py --workdir /tmp/wang2020_tiny \
        --data_dir ../shared/data/BSDS500

A smaller network (width 16, GN 4) and 9 superpixels keep compile + run in seconds.
"""

from configs import wang2020


def get_config():
    config = wang2020.get_config()
    config.model.width = 16
    config.model.num_groups = 4
    config.model.spix_channels = 8
    config.model.seg_hidden = 16
    config.model.seg_channels = 8
    config.data.train_splits = ("train",)
    config.data.max_images = 4
    config.data.crop_size = 33
    config.data.max_gt_segments = 16
    config.n_segments = 9
    config.train_iters = 2
    config.optimizer.learning_rate = 1e-3
    config.optimizer.b1 = 0.9
    config.num_steps = 2
    config.log_every = 1
    config.eval_every = 2
    config.checkpoint_every = 1
    config.eval.num_images = 1
    config.eval.n_segments = 9
    config.eval.num_iters = 2
    return config
