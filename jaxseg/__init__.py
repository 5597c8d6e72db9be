"""jaxseg: differentiable superpixels and superpixel-based segmentation in JAX.

The pure device functions (jit-, vmap- and grad-compatible) are re-exported here::

    import jaxseg
    out = jaxseg.ssn(features, n_segments=100, num_iters=5)   # differentiable SLIC
    labels = jaxseg.slic.slic(image, n_segments=300)           # classic SLIC, like skimage
    labels = jaxseg.slic_batch(images, n_segments=300)         # its device part, (B, H, W, 3)

`jaxseg.slic` is the module (so `from jaxseg import slic` keeps working as a
module import across the code base); the classic SLIC function is
`jaxseg.slic.slic`. Host-side pieces live in their modules: `jaxseg.connectivity`,
`jaxseg.merge`, `jaxseg.metrics` (the BSDS500 benchmark), `jaxseg.data`,
`jaxseg.dsc`, `jaxseg.generators`.
"""

from jaxseg.color import rgb_to_lab
from jaxseg.pooling import (
    adjacency,
    adjacent_pairs,
    pair_similarity,
    segment_counts,
    segment_mean,
    unpool,
)
from jaxseg.slic import (
    SSNOutput,
    grid_shape,
    slic_batch,
    soft_pool,
    soft_unpool,
    ssn,
    xylab_features,
)

__version__ = "0.1.0"

__all__ = [
    "SSNOutput",
    "adjacency",
    "adjacent_pairs",
    "grid_shape",
    "pair_similarity",
    "rgb_to_lab",
    "segment_counts",
    "segment_mean",
    "slic_batch",
    "soft_pool",
    "soft_unpool",
    "ssn",
    "unpool",
    "xylab_features",
]
