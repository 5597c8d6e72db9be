"""The papers' evaluation protocols on BSDS500, each taking a ``ConfigDict``:
wang2020 (Tables 3-4, :mod:`jaxseg.experiments.wang2020`) and lin2021
(Tables I-III, :mod:`jaxseg.experiments.lin2021`)."""
