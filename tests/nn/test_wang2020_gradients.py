"""Gradients of the wang2020 loss terms through the whole model (network + SSN + losses).

Which parameter groups each term reaches, and a float64 directional finite-difference
check of each term, on an input where every term is alive: a textured image with GT
regions smaller than the superpixels and moderate contrast, so that the SSN association
stays soft. (On the piecewise-constant synthetic images of the training tests the
reconstruction loss is ~1e-8 and its gradient ~1e-7: the association is hard there.)
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # configs/ is imported as in train.py
    sys.path.insert(0, str(REPO))

from configs import wang2020_tiny  # noqa: E402
from jaxseg.train.tasks import wang2020  # noqa: E402

TERMS = ("pair", "recon", "compact")
TRUNK = tuple(f"conv{i}" for i in range(1, 8))
SPIX_HEAD = ("spix_head",)
SEG_HEAD = ("seg_hidden", "seg_out")


def textured_sample(size=25, regions=12, seed=0):
    """``image (1, s, s, 3) float32`` and ``gt (1, s, s) int32``: Voronoi regions with mid
    colours in [0.3, 0.7], a stripe texture of amplitude 0.3 and noise."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, (regions, 2))
    yy, xx = np.mgrid[:size, :size]
    gt = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, -1)
    base = rng.uniform(0.3, 0.7, (regions, 3))
    texture = 0.3 * np.sin(yy / 2.0 + 3 * gt)[..., None] * rng.uniform(-1, 1, (regions, 3))[gt]
    image = base[gt] + texture + rng.normal(0, 0.05, (size, size, 3))
    return np.clip(image, 0, 1).astype(np.float32)[None], gt.astype(np.int32)[None]


@pytest.fixture(scope="module")
def probe(fast_compile_module):
    """Per-term Jacobian rows and a directional finite difference, in float64.

    One jitted function gives the three terms at its parameters and the gradient of
    one of them (a one-hot cotangent); it runs once per term at the parameters, and at
    ``params +- h v`` for a random unit direction ``v`` over all parameters for the
    terms there (compiled with most optimisations off: one graph, run five times; the
    terms at ``params +- h v`` as a second, batched forward graph in the same program
    doubled its compile time).
    """
    config = wang2020_tiny.get_config()
    image, gt = textured_sample()
    h = 1e-5
    # JAX reuses jit caches filled in float32 mode inside enable_x64 and then fails to
    # lower (int32 vs int64 indices): clear them on the way in and out (as test_losses).
    jax.clear_caches()
    try:
        with jax.enable_x64(True):
            # Initialised as one compiled program (eagerly: one compile per array shape).
            model = nnx.jit(lambda: wang2020.create_model(config, nnx.Rngs(0)))()
            model.train()
            graphdef, params, rest = nnx.split(model, nnx.Param, ...)
            params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
            rng = np.random.default_rng(1)
            v = jax.tree.map(lambda a: rng.normal(size=a.shape), params)
            norm = np.sqrt(sum(float(np.sum(x**2)) for x in jax.tree.leaves(v)))
            v = jax.tree.map(lambda a: jnp.asarray(a / norm), v)

            def terms(p, batch):
                _, metrics = wang2020.loss_fn(nnx.merge(graphdef, p, rest), batch, config)
                return jnp.stack([metrics[t] for t in TERMS])

            @jax.jit
            def run(p, cotangent, batch):
                # One backward graph, run once per term with a one-hot cotangent.
                values, vjp = jax.vjp(lambda q: terms(q, batch), p)
                (grad,) = vjp(cotangent)
                return values, grad

            batch = {"image": image, "gt": gt}
            rows = [jax.device_get(run(params, e, batch)) for e in np.eye(len(TERMS))]
            values = rows[0][0]
            jac = jax.tree.map(lambda *g: np.stack(g), *(r[1] for r in rows))
            params, v = jax.device_get((params, v))  # float64 p +- h v on the host
            plus, minus = (
                run(
                    jax.tree.map(lambda a, b, s=s: a + s * b, params, v),
                    np.eye(len(TERMS))[0],
                    batch,
                )[0]
                for s in (h, -h)
            )
            plus, minus = np.asarray(plus), np.asarray(minus)
    finally:
        jax.clear_caches()
    jac, v = nnx.to_pure_dict(jac), nnx.to_pure_dict(v)
    norms = {  # group -> (3,) gradient norm of each term
        group: np.sqrt(
            sum(np.sum(np.square(x), axis=tuple(range(1, x.ndim))) for x in jax.tree.leaves(sub))
        )
        for group, sub in jac.items()
    }
    directional = sum(
        np.tensordot(j, d, axes=d.ndim)
        for j, d in zip(jax.tree.leaves(jac), jax.tree.leaves(v), strict=True)
    )
    return {
        "values": values,
        "norms": norms,
        "directional": directional,
        "fd": (plus - minus) / (2 * h),
    }


@pytest.mark.slow
def test_every_term_is_alive_in_float64(probe):
    # Measured: pair 0.172, recon 1.07, compact 4.68 (float64 throughout).
    assert probe["values"].dtype == np.float64
    assert np.all(probe["values"] > 1e-2), dict(zip(TERMS, probe["values"], strict=True))


@pytest.mark.parametrize(
    "term, reaches, misses",
    [
        ("pair", TRUNK + SEG_HEAD, SPIX_HEAD),
        ("recon", TRUNK + SPIX_HEAD, SEG_HEAD),
        ("compact", TRUNK + SPIX_HEAD, SEG_HEAD),
    ],
)
def test_loss_term_reaches_its_parameter_groups(probe, term, reaches, misses):
    """Pair loss: trunk and segmentation head, nothing into the superpixel head (it sees
    the superpixels only through their hard labels); reconstruction and compactness:
    trunk and superpixel head, nothing into the segmentation head."""
    i = TERMS.index(term)
    norms = {group: float(n[i]) for group, n in probe["norms"].items()}
    assert set(norms) == set(TRUNK + SPIX_HEAD + SEG_HEAD)
    # Measured smallest norms of the reached groups: pair 0.11 (seg_out), recon 0.074
    # (conv1), compact 0.0069 (conv1); every one far above 1e-3.
    alive = {g: norms[g] for g in reaches}
    assert min(alive.values()) > 1e-3, alive
    assert all(norms[g] == 0.0 for g in misses), {g: norms[g] for g in misses}


def test_directional_finite_difference_in_float64(probe):
    # Central difference at h = 1e-5 along a random unit direction over all parameters
    # against the autodiff directional derivative (measured agreement: 5e-11 relative for
    # pair, 4e-8 for recon, 2e-6 for compact; measured derivatives -3.5e-2, -2.2e-3, 1.7e-4).
    ad, fd = probe["directional"], probe["fd"]
    assert np.all(np.abs(ad) > 1e-6), ad
    np.testing.assert_allclose(ad, fd, rtol=2e-5, atol=0)
