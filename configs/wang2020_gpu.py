"""wang2020 ("ours-GN8") for one GPU: a vmapped batch of 201x201 crops, m = 100.

    python train.py --config configs/wang2020_gpu.py --workdir workdirs/wang2020_gpu \
        --data_dir ../shared/data/BSDS500

The paper's settings (``configs/wang2020.py``: BSDS500 train+val, every (image,
annotator) pair a sample, flips, 201x201 crops, m = 100 with 5 SSN iterations in
training, losses recon 1 + compactness 1e-5 + pair 1) with a batch that fills the
chip. The paper's batch of 1 (and its Adam lr 1e-5 with beta1 0.99) came from its
Caffe implementation, not from a finding about the method; here the batch is 32 crops,
vmapped, each with its own SSN clustering and its own pair loss (eq. 7 per image, then
averaged), so each sample contributes exactly what it would at batch 1. With 32 times
less gradient noise per step the learning rate is the one the CPU runs used at batch 1
(5e-4, Adam b1 0.9), with a 200-step warm-up and cosine decay to 1% over
``num_steps`` (a time-budgeted run sets ``num_steps`` to the steps it can afford, so the
schedule completes).

Convolutions compute in float32: bfloat16 convolutions were not measured to train as
well as float32, so they are not used.
"""

from configs import wang2020


def get_config():
    config = wang2020.get_config()
    config.batch_size = 32
    config.optimizer.learning_rate = 5e-4
    config.optimizer.b1 = 0.9
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_steps = 200
    config.num_steps = 20_000  # 640K crops, more than the paper's 500K batch-1 steps
    config.log_every = 50
    config.eval_every = 1_000
    config.checkpoint_every = 250
    return config
