"""Evaluation of wang2020 (superpixels, Table 3; segmentation, Table 4) on BSDS500 test.

    python eval.py --config configs/eval_default.py --workdir jaxseg/weights/wang2020_cpu
    python eval.py --config configs/eval_default.py --method slic --out eval_slic
    python eval.py --config configs/eval_default.py --method felzenszwalb --out eval_egb
    python eval.py --config configs/eval_default.py --method slic --limit 2 --nthresh 5  # smoke
    python eval.py --config configs/eval_default.py --method slic --source tfds \
        --tfds_dir ~/tensorflow_datasets   # BSDS500 from the prepared TFDS dataset

Every field can be overridden by a flag of the same name (see `eval.py --help`) or, with
ml_collections' syntax, by `--config.<field>=value`. See docs/evaluation.md.
"""

from jaxseg.experiments.wang2020 import default_config


def get_config():
    # The defaults live in jaxseg.experiments.wang2020.default_config (documented there); a variant
    # config changes fields of it, e.g. `c = default_config(); c.seg_n_segments = 300`.
    return default_config()
