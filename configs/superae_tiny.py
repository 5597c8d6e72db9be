"""SuperAE smoke-test config (seconds; used by tests/test_superae.py).

    python train.py --config configs/superae_tiny.py --workdir /tmp/superae_tiny

Two images per split at quarter size, 32x32 crops, batch 2, 3 steps.
"""

from configs import superae


def get_config():
    config = superae.get_config()
    config.splits = ("train",)
    config.max_images = 2
    config.image_scale = 0.25
    config.crop_size = 32
    config.batch_size = 2
    config.template.generator = "felzenszwalb"
    config.template.n_segments = 20
    config.template.max_segments = 256
    config.num_steps = 3
    config.log_every = 1
    config.eval_every = 3
    config.checkpoint_every = 3
    config.eval_images = 1
    return config
