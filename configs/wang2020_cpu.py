"""wang2020 ("ours-GN8") on a CPU budget: about one hour on a shared 2-core CPU.

    python train.py --config configs/wang2020_cpu.py --workdir workdirs/wang2020_cpu \
        --data_dir ../shared/data/BSDS500

The network, losses and data are the paper's (configs/wang2020.py); what changes
is the budget, so the optimisation is made faster:

* 750 steps of batch 1 instead of 500K (a 129x129 step takes ~3 s here);
* 129x129 crops with m = 36 superpixels: the same ~21-pixel cells as the paper's
  201x201 crops with m = 100, at 40% of the pixels per step;
* Adam lr 5e-4, beta1 0.9, 100 warm-up steps then cosine decay (the paper's 1e-5 /
  0.99 is tuned for 500K steps);
* head 1 starts small (``spix_init_scale=0.1``), so training starts close to SSN
  on XYLab (SLIC-like superpixels) and refines it (exactly zero would not train:
  zero features are a stationary point of the SSN losses);
* at most 32 ground-truth segments per crop (cheaper reconstruction loss; a
  129x129 crop rarely has more);
* trained on BSDS500 train only, so that the model chosen on val (5 images,
  n = 100, every 250 steps) is chosen on held-out images.
"""

from configs import wang2020


def get_config():
    config = wang2020.get_config()
    config.model.spix_init_scale = 0.1
    config.data.train_splits = ("train",)
    config.data.crop_size = 129
    config.data.max_gt_segments = 32
    config.n_segments = 36
    config.optimizer.learning_rate = 5e-4
    config.optimizer.b1 = 0.9
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_steps = 50
    config.num_steps = 750
    config.log_every = 10
    config.eval_every = 250
    config.checkpoint_every = 50
    config.eval.num_images = 5
    return config
