"""jaxseg: differentiable superpixels and superpixel-based segmentation in JAX.

The pure device functions (jit-, vmap- and grad-compatible) and the segmentation
pipeline are exported here::

    import jaxseg
    labels = jaxseg.slic(image, n_segments=300)                # classic SLIC, like skimage
    out = jaxseg.ssn(features, n_segments=100, num_iters=5)    # differentiable SLIC (SSN)
    labels = jaxseg.slic_batch(images, n_segments=300)         # SLIC's device part, batched
    result = jaxseg.segment(image, method="wang2020")          # superpixels, segments, UCM

Layers (``docs/DESIGN.md``): :mod:`jaxseg.ops` pure JAX; :mod:`jaxseg.nn` networks and
their inference; :mod:`jaxseg.regions` host NumPy on label images; :mod:`jaxseg.metrics`
the BSDS500 benchmark; :mod:`jaxseg.data`; :mod:`jaxseg.io` image files;
:mod:`jaxseg.train` training; :mod:`jaxseg.experiments` the papers' protocols;
:mod:`jaxseg.pipeline` the method registry behind ``jaxseg segment`` and the
evaluations; :mod:`jaxseg.cli` argument parsing.
"""

import importlib.abc
import sys
from pathlib import Path

from jaxseg.ops.color import rgb_to_lab
from jaxseg.ops.pooling import (
    adjacency,
    adjacent_pairs,
    pair_similarity,
    segment_counts,
    segment_mean,
    unpool,
)
from jaxseg.ops.slic import (
    SSNOutput,
    grid_shape,
    slic,
    slic_batch,
    soft_pool,
    soft_unpool,
    ssn,
    xylab_features,
)

__version__ = "0.2.0"

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
"""The models shipped with jaxseg, one folder each (``config.json``, ``model.npz``,
``settings.json``)."""

_PIPELINE_NAMES = ("METHODS", "Segmentation", "Segmenter", "segment")

__all__ = [
    "METHODS",
    "SSNOutput",
    "Segmentation",
    "Segmenter",
    "adjacency",
    "adjacent_pairs",
    "grid_shape",
    "pair_similarity",
    "rgb_to_lab",
    "segment",
    "segment_counts",
    "segment_mean",
    "slic",
    "slic_batch",
    "soft_pool",
    "soft_unpool",
    "ssn",
    "unpool",
    "xylab_features",
]


def __getattr__(name: str):
    # The pipeline imports the host stack (scipy, skimage); load it on first use only.
    if name in _PIPELINE_NAMES:
        from jaxseg import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'jaxseg' has no attribute {name!r}")


MOVED_MODULES = {
    "jaxseg.slic": "jaxseg.ops.slic (the SLIC function itself is jaxseg.slic)",
    "jaxseg.color": "jaxseg.ops.color",
    "jaxseg.pooling": "jaxseg.ops.pooling",
    "jaxseg.losses": "jaxseg.ops.losses",
    "jaxseg.models": "jaxseg.nn.models",
    "jaxseg.superae": "jaxseg.nn.superae",
    "jaxseg.dsc": "jaxseg.nn.dsc",
    "jaxseg.connectivity": "jaxseg.regions.connectivity",
    "jaxseg.merge": "jaxseg.regions.merge",
    "jaxseg.generators": "jaxseg.regions.generators",
    "jaxseg.imageio": "jaxseg.io",
    "jaxseg.training": "jaxseg.train.trainer",
    "jaxseg.sweep": "jaxseg.train.sweep",
    "jaxseg.checkpointing": "jaxseg.train.checkpointing",
    "jaxseg.tasks": "jaxseg.train.tasks (jaxseg.tasks.wang2020 is jaxseg.train.tasks.wang2020)",
    "jaxseg.evaluation": "jaxseg.experiments.wang2020",
    "jaxseg.evaluation_dsc": "jaxseg.experiments.lin2021",
    "jaxseg.demo": "jaxseg.cli.segment (`jaxseg segment --sample astronaut`)",
}
"""Module paths of jaxseg 0.1 and where each one lives now."""


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Makes ``import jaxseg.<old module>`` fail with a message naming the new place."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            raise ModuleNotFoundError(
                f"{fullname} was moved in jaxseg 0.2: import {MOVED_MODULES[fullname]} instead",
                name=fullname,
            )
        return None


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())
