"""Tests for jaxseg.ops.color.rgb_to_lab against skimage.color.rgb2lab."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.io
from numpy.testing import assert_allclose
from skimage.color import rgb2lab

from jaxseg.ops.color import rgb_to_lab


def test_random_colours_match_skimage():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0.0, 1.0, size=(4096, 3))
    # Include the corners of the cube and values near the two branch points.
    extra = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0.04045, 0.04, 0.0405], [0.01, 0.02, 0.03]])
    rgb = np.concatenate([rgb, extra])
    assert_allclose(np.asarray(rgb_to_lab(rgb)), rgb2lab(rgb), atol=1e-3)


def test_bsds_image_matches_skimage(bsds_root):
    files = sorted((bsds_root / "data" / "images" / "val").glob("*.jpg"))
    image = skimage.io.imread(files[0])
    assert image.dtype == np.uint8
    lab = np.asarray(jax.jit(rgb_to_lab)(image))
    assert lab.shape == image.shape and lab.dtype == np.float32
    assert_allclose(lab, rgb2lab(image), atol=1e-3)


def test_float_and_uint8_agree():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    lab = jax.jit(rgb_to_lab)
    assert_allclose(np.asarray(lab(image)), np.asarray(lab(image / 255.0)), atol=1e-4)


def test_vmap_and_grad_finite():
    rng = np.random.default_rng(2)
    batch = jnp.asarray(rng.uniform(size=(3, 4, 5, 3)), jnp.float32)
    batched = jax.jit(jax.vmap(rgb_to_lab))(batch)
    single = jax.jit(rgb_to_lab)
    looped = jnp.stack([single(b) for b in batch])
    assert_allclose(np.asarray(batched), np.asarray(looped), atol=1e-5)
    # Black and tiny values hit the linear branches; the gradient must stay finite.
    pixels = jnp.array([[0.0, 0.0, 0.0], [1e-6, 0.5, 1.0]])
    grad = jax.jit(jax.grad(lambda x: rgb_to_lab(x).sum()))(pixels)
    assert bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.abs(grad).sum()) > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\); got shape \(4, 4\)"):
        rgb_to_lab(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="got dtype int32"):
        rgb_to_lab(np.zeros((2, 2, 3), np.int32))
