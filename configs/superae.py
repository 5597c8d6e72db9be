"""SuperAE (lin2021 stage 1) at the paper's budget.

    python train.py --config configs/superae.py --workdir workdirs/superae

Adam lr 1e-3, batch 10, 100 epochs over all 500 BSDS500 images (train + val +
test; no labels are used), random crops and horizontal flips; lambda = 1.
The crop size is not given in the paper (224 here). Templates: the paper uses
the high-quality over-segmentation of gPb-owt-ucm [8]; we compute jaxseg SLIC
superpixels of each input image at load time (``template.generator``).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.task = "superae"
    config.seed = 0

    # Data: all BSDS500 images, no labels.
    config.splits = ("train", "val", "test")
    config.max_images = 0  # per split; 0 = all
    config.image_scale = 1.0  # images are rescaled by this factor at load time
    config.crop_size = 224
    config.hflip = True
    config.eval_split = "val"
    config.eval_images = 10
    config.data = ml_collections.ConfigDict(
        dict(
            source="folder",  # folder (--data_dir) | tfds (prepared in tfds_dir; docs/data.md)
            tfds_dir="",  # TFDS data directory of source=tfds; "": TFDS's default
        )
    )

    # Superpixel template of each input image (computed host-side once).
    config.template = ml_collections.ConfigDict()
    config.template.generator = "slic"  # slic | felzenszwalb | meanshift
    config.template.n_segments = 200
    config.template.max_segments = 512  # fixed label count for pooling
    config.template.native = ml_collections.ConfigDict()  # generator parameters

    # Loss (eq. 1-2, our reading; the alternatives are in jaxseg/nn/superae.py).
    config.loss = ml_collections.ConfigDict()
    config.loss.lam = 1.0
    config.loss.template_target = "reconstruction"  # reconstruction | input
    config.loss.template_norm = "pixels"  # pixels | superpixels

    # Optimisation: 100 epochs of 500 images at batch 10 = 5000 steps.
    config.optimizer = ml_collections.ConfigDict(
        dict(name="adam", learning_rate=1e-3, b1=0.9, b2=0.999, schedule="constant")
    )
    config.batch_size = 10
    config.num_steps = 5000
    config.log_every = 50
    config.eval_every = 500
    config.checkpoint_every = 500
    config.keep_checkpoints = 2
    return config
