"""Felzenszwalb (EGB) baseline with a finer scale sweep around the default's best (500).

    python eval.py --config configs/eval_egb_fine.py --method felzenszwalb \
        --data_dir ../shared/data/BSDS500 --out eval_results/egb_fine_test

The default sweep (100, 250, 500, 1000, 2500) is coarse; "EGB's best setting" is only as
good as the settings tried, so this config tries 9 scales between 200 and 1400. Its
hierarchy ODS is EGB's best single scale *on the test split* (an upper bound for EGB,
since nothing is chosen on val for it).
"""

from jaxseg.experiments.wang2020 import default_config


def get_config():
    c = default_config()
    c.method = "felzenszwalb"
    c.felzenszwalb_scales = (200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 850.0, 1100.0, 1400.0)
    return c
