"""DSC evaluation sweep over beta: vmapped sweep == separate dsc_optimize calls."""

import functools

import jax
import numpy as np
import pytest
from flax import nnx

from jaxseg.nn import dsc
from jaxseg.nn.superae import SuperAE

# Big graphs compiled once: optimisations only cost compile time here.
pytestmark = pytest.mark.usefixtures("fast_compile")

# Each beta is a separate compilation of dsc_optimize (beta is static there): two betas,
# 1 (the default) and 4 (tells beta from beta ** 2 or a beta left out).
BETAS = (1.0, 4.0)
# The first image, superpixels and DSC options of test_dsc.py: dsc_optimize with beta 1
# compiles the same graph there, which the persistent compilation cache shares.
DSC_KW = dict(num_classes=6, max_segments=16, num_iters=2)


@functools.cache
def _model():
    """The untrained SuperAE of test_dsc.py (DSC clones it, never changes it), built once
    and as one compiled program (eagerly, its initialisation compiles once per array shape)."""
    return nnx.jit(lambda: SuperAE(rngs=nnx.Rngs(0)))()


def _tiny(h=8, w=8):
    rng = np.random.default_rng(0)
    image = rng.random((h, w, 3), dtype=np.float32)
    sp = ((np.arange(h)[:, None] // 4) * (w // 2) + np.arange(w)[None, :] // 2).astype(np.int32)
    return _model(), image, sp  # 8 superpixels


@pytest.mark.parametrize("train_encoder", [False, True])
@pytest.mark.slow
def test_sweep_equals_separate_calls(train_encoder):
    model, image, sp = _tiny()
    key = jax.random.key(3)
    kw = DSC_KW | dict(train_encoder=train_encoder)
    out = dsc.dsc_optimize_sweep(model, image, sp, betas=BETAS, key=key, **kw)
    assert isinstance(out, dsc.DSCOutput)
    s_, n = len(BETAS), DSC_KW["num_iters"]
    assert out.sp_class.shape == (s_, 16) and out.sp_features.shape == (s_, 16, 6)
    assert out.losses.shape == (s_, n, 3)
    m = int(sp.max()) + 1
    for s, beta in enumerate(BETAS):
        one = dsc.dsc_optimize(model, image, sp, key=key, beta=beta, **kw)
        np.testing.assert_allclose(out.sp_features[s], one.sp_features, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(out.losses[s], one.losses, rtol=2e-4, atol=2e-5)
        np.testing.assert_array_equal(out.sp_class[s][:m], one.sp_class[:m])
        # Beta really enters the loss: first-step loss = ce + beta * J (same init).
        loss, ce, j = np.asarray(out.losses[s, 0])
        assert loss == pytest.approx(ce + beta * j, rel=1e-5, abs=1e-6)
    # Same initial head for every member, different trajectories for different betas.
    np.testing.assert_allclose(out.losses[:, 0, 1], out.losses[0, 0, 1], rtol=1e-6)
    assert not np.allclose(out.sp_features[0], out.sp_features[1])


def test_sweep_bad_inputs():
    model, image, sp = _tiny()
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="betas must be a non-empty 1-D sequence"):
        dsc.dsc_optimize_sweep(model, image, sp, betas=[], key=key)
    with pytest.raises(ValueError, match="betas must be finite"):
        dsc.dsc_optimize_sweep(model, image, sp, betas=[1.0, float("nan")], key=key)
    with pytest.raises(TypeError, match="not beta="):
        dsc.dsc_optimize_sweep(model, image, sp, betas=[1.0], key=key, beta=2.0)
