"""Pictures of a segmentation: boundaries painted on the image, the UCM as a grey image.

Host NumPy. The overlay changes only boundary pixels, so the input can be recovered
everywhere else (the tests check exactly that).
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

__all__ = ["BOUNDARY_COLOR", "draw_boundaries", "ucm_image"]

BOUNDARY_COLOR = (255, 0, 0)
"""RGB colour painted on boundary pixels."""


def draw_boundaries(
    image: np.ndarray, labels: np.ndarray, *, color: tuple[int, int, int] = BOUNDARY_COLOR
) -> np.ndarray:
    """Paints the region boundaries of ``labels`` on ``image``.

    Args:
      image: ``(H, W, 3) uint8``.
      labels: ``(H, W)`` integer label image.
      color: RGB of the boundary pixels.

    Returns:
      ``(H, W, 3) uint8``: ``image`` with the pixels of
      ``skimage.segmentation.find_boundaries(labels + 1, mode="inner")`` (the pixels of
      either region that touch another region) set to ``color``; every other pixel is
      unchanged.
    """
    if image.shape[:2] != labels.shape or image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"draw_boundaries needs image (H, W, 3) uint8 and labels (H, W); got "
            f"{image.shape} {image.dtype} and {labels.shape}"
        )
    out = image.copy()
    # +1: find_boundaries treats label 0 as background, ours is a region like the others.
    out[find_boundaries(labels + 1, mode="inner")] = np.asarray(color, dtype=np.uint8)
    return out


def ucm_image(ucm2: np.ndarray) -> np.ndarray:
    """The ultrametric contour map at pixel resolution as ``(H, W) uint8`` (255 = strongest).

    ``ucm2`` is ``(2H+1, 2W+1)`` in ``[0, 1]`` (BSDS layout: pixels at odd indices, the
    boundary elements between them at even ones); each pixel gets the boundary element
    below-right of it, as the BSDS code does (``ucm2(3:2:end, 3:2:end)``).
    """
    if ucm2.ndim != 2 or ucm2.shape[0] % 2 != 1 or ucm2.shape[1] % 2 != 1:
        raise ValueError(f"ucm2 must be (2H+1, 2W+1), got {ucm2.shape}")
    pixel = np.asarray(ucm2[2::2, 2::2], dtype=np.float64)
    return np.round(np.clip(pixel, 0.0, 1.0) * 255.0).astype(np.uint8)
