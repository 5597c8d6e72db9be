"""wang2020 ("ours-GN8") on a longer CPU budget: 4000 steps (about 30 min on an idle 2-core CPU).

    python train.py --config configs/wang2020_cpu_long.py --workdir workdirs/wang2020_cpu_long \
        --data_dir ../shared/data/BSDS500

The same settings as ``configs/wang2020_cpu.py`` (read its docstring), trained 5.3x longer:
4000 steps of batch 1 (129x129 crops, m = 36, Adam lr 5e-4 with warm-up and cosine decay),
validated every 1000 steps on 5 val images at n = 100. This is the run behind
``jaxseg/weights/wang2020_cpu_long`` (see its README for the measured budget).
"""

from configs import wang2020_cpu


def get_config():
    config = wang2020_cpu.get_config()
    config.num_steps = 4000
    config.optimizer.warmup_steps = 100
    config.eval_every = 1000
    config.checkpoint_every = 200
    return config
