"""Networks and their inference: the wang2020 FCN (:mod:`jaxseg.nn.models`,
:mod:`jaxseg.nn.wang2020`), the lin2021 SuperAE (:mod:`jaxseg.nn.superae`) and the
per-image Deep Superpixel Cut (:mod:`jaxseg.nn.dsc`)."""
