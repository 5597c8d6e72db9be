"""Data augmentation of wang2020 §3.5 as pure JAX functions with explicit keys.

Random horizontal flips and random ``201 x 201`` crops, applied jointly to an
image and its label map. Both functions are jit- and vmap-compatible (the crop
size is static; the image size is read from the static shape).

Example:
  >>> import jax, jax.numpy as jnp
  >>> image = jnp.zeros((321, 481, 3)); seg = jnp.ones((321, 481), jnp.int32)
  >>> k1, k2 = jax.random.split(jax.random.key(0))
  >>> image, seg = random_flip(k1, image, seg)
  >>> image, seg = random_crop(k2, image, seg, size=201)
  >>> image.shape, seg.shape
  ((201, 201, 3), (201, 201))
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["random_crop", "random_flip"]


def _check_pair(image: jax.Array, seg: jax.Array) -> None:
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}.")
    if seg.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"seg must have the image's (H, W) = {image.shape[:2]}, got shape {seg.shape}."
        )


def random_flip(key: jax.Array, image: ArrayLike, seg: ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Flips image and labels left-right together with probability 1/2.

    Args:
      key: a JAX PRNG key.
      image: ``(H, W, C)`` image, any dtype.
      seg: ``(H, W, ...)`` label map (or any per-pixel array).

    Returns:
      ``(image, seg)`` with the same shapes and dtypes.
    """
    image, seg = jnp.asarray(image), jnp.asarray(seg)
    _check_pair(image, seg)
    flip = jax.random.bernoulli(key)
    return jnp.where(flip, image[:, ::-1], image), jnp.where(flip, seg[:, ::-1], seg)


def random_crop(
    key: jax.Array, image: ArrayLike, seg: ArrayLike, *, size: int | tuple[int, int] = 201
) -> tuple[jax.Array, jax.Array]:
    """Crops the same uniformly placed window from image and labels.

    Args:
      key: a JAX PRNG key.
      image: ``(H, W, C)`` image, any dtype.
      seg: ``(H, W, ...)`` label map (or any per-pixel array).
      size: static crop size ``s`` or ``(h, w)``; default 201 (wang2020). Every
        top-left corner with the crop inside the image is equally likely.

    Returns:
      ``(image (h, w, C), seg (h, w, ...))``.

    Raises:
      ValueError: the crop is larger than the image.
    """
    image, seg = jnp.asarray(image), jnp.asarray(seg)
    _check_pair(image, seg)
    ch, cw = (size, size) if not isinstance(size, tuple | list) else size
    ch, cw = operator.index(ch), operator.index(cw)
    height, width = image.shape[:2]
    if not (0 < ch <= height and 0 < cw <= width):
        raise ValueError(
            f"crop size {(ch, cw)} does not fit in the image of size {(height, width)}; "
            "use a smaller size (or pad the image first)."
        )
    top_key, left_key = jax.random.split(key)
    top = jax.random.randint(top_key, (), 0, height - ch + 1)
    left = jax.random.randint(left_key, (), 0, width - cw + 1)
    image = jax.lax.dynamic_slice(image, (top, left, 0), (ch, cw, image.shape[2]))
    seg = jax.lax.dynamic_slice(seg, (top, left) + (0,) * (seg.ndim - 2), (ch, cw) + seg.shape[2:])
    return image, seg
