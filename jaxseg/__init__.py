"""jaxseg: differentiable superpixels and superpixel-based segmentation in JAX.

Public API is re-exported here; see the submodules for details.
"""

__version__ = "0.1.0"
