"""map_each: lax.map's values for any batch size, the pytree structure kept."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxseg.ops.batching import map_each


def _fn(x):
    return {"sum": jnp.sum(x["a"] * x["b"][:, None]), "row": x["a"][0].astype(jnp.int32)}


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_map_each_equals_a_loop_over_the_batch(batch):
    rng = np.random.default_rng(batch)
    xs = {"a": rng.random((batch, 4, 5), np.float32), "b": rng.random((batch, 4), np.float32)}
    out = jax.jit(lambda xs: map_each(_fn, xs))(xs)
    assert out["sum"].shape == (batch,) and out["row"].shape == (batch, 5)
    assert out["row"].dtype == jnp.int32
    for i in range(batch):
        want = _fn({k: v[i] for k, v in xs.items()})
        np.testing.assert_allclose(out["sum"][i], want["sum"], rtol=1e-6)
        np.testing.assert_array_equal(out["row"][i], want["row"])
