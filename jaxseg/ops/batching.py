"""Running a function over a batch one element at a time, with batch-invariant results.

:func:`map_each` is ``jax.lax.map`` for code whose result must not depend on the batch an
element lands in (the batched pipeline methods run their images through it).

Example:
    >>> import jax.numpy as jnp
    >>> map_each(lambda x: x.sum(), jnp.ones((3, 4)))
    Array([4., 4., 4.], dtype=float32)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["map_each"]


def map_each(fn: Callable[[Any], Any], xs: Any) -> Any:
    """``jax.lax.map(fn, xs)``, with every element computed by the same compiled loop body.

    XLA simplifies a loop of one step (a batch of one) and may then round differently from
    the loop body that larger batches run, so an element's result could depend on its
    batch. Here a batch of one runs as a loop of two whose second step is skipped
    (``lax.cond``), so alone or in a batch an element takes the same code.

    Args:
      fn: function of one element (a pytree of arrays without the leading axis).
      xs: pytree of arrays with a common leading batch axis of size ``B >= 1``.

    Returns:
      ``fn``'s outputs stacked on a leading axis of size ``B``.
    """
    count = jax.tree.leaves(xs)[0].shape[0]
    if count == 1:
        xs = jax.tree.map(lambda x: jnp.concatenate([x, x]), xs)
    first = jax.tree.map(lambda x: x[0], xs)
    skip = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, first))

    def step(args):
        i, x = args
        return jax.lax.cond(i < count, fn, lambda _: skip, x)

    n = jax.tree.leaves(xs)[0].shape[0]
    out = jax.lax.map(step, (jnp.arange(n), xs))
    return jax.tree.map(lambda a: a[:count], out)
