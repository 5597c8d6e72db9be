"""SuperAE on a CPU budget (half-size images, small crops, 600 steps).

    python train.py --config configs/superae_cpu.py --workdir workdirs/superae_cpu

Same model and loss as ``configs/superae.py``; images are read at half size
(240x160), crops are 64x64 and the run is 600 steps of batch 10 (12 epochs of
the 500 images instead of 100). Measured 7-10 s/step on 2 CPU cores shared with
~6 other jobs (~1.5 h for 600 steps); the run reported in docs/dsc.md stopped at 200.
Templates: EGB (Felzenszwalb) with about 100 regions per half-size image
(the density of about 400 at full size), which is fast to compute on the host.
"""

from configs import superae


def get_config():
    config = superae.get_config()
    config.image_scale = 0.5
    config.crop_size = 64
    config.template.generator = "felzenszwalb"
    config.template.n_segments = 100
    config.template.max_segments = 256
    config.num_steps = 600
    config.log_every = 25
    config.eval_every = 200
    config.checkpoint_every = 100
    config.eval_images = 5
    return config
