"""Model constructors compile their initialisers without XLA optimisations (seconds saved
on a CPU): the values must be those of an optimised compile up to float32 rounding (the two
compiles fuse the initialisers' arithmetic differently), and the global setting must come
back. (Under `optimised_compile`: the setting is the thing compared.)"""

import jax
import numpy as np
from flax import nnx

from jaxseg.nn import models
from jaxseg.nn.superae import SuperAE


def test_constructors_restore_the_setting(optimised_compile):
    assert jax.config.read("jax_disable_most_optimizations") is False
    # Traced (nnx.eval_shape): the constructors switch the setting and back all the same,
    # without compiling and running their initialisers (dozens of small programs).
    small = dict(width=8, num_groups=2, spix_channels=4, seg_hidden=8, seg_channels=4)
    for build in (
        lambda: models.SuperpixelSegNet(**small, rngs=nnx.Rngs(3)),
        lambda: SuperAE(rngs=nnx.Rngs(3)),
    ):
        nnx.eval_shape(build)
        assert jax.config.read("jax_disable_most_optimizations") is False


def test_unoptimised_initialisation_gives_the_optimised_values(monkeypatch, optimised_compile):
    # One convolution of each initialiser kind the networks use (lecun normal, zeros),
    # built through the decorator and, with it switched off, through an optimised compile.
    @models.unoptimised_init
    def build(seed):
        return nnx.Conv(5, 7, (3, 3), rngs=nnx.Rngs(seed))

    jax.clear_caches()
    fast = build(3)
    jax.clear_caches()
    monkeypatch.setattr(models, "UNOPTIMISED_INIT", False)
    slow = build(3)
    for x, y in zip(
        jax.tree.leaves(nnx.state(fast)), jax.tree.leaves(nnx.state(slow)), strict=True
    ):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)
    assert not np.array_equal(np.asarray(fast.kernel.value), np.asarray(build(4).kernel.value))
