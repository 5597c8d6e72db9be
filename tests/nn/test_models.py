"""Tests for jaxseg.nn.models: shapes on any image size, parameter counts, variants."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from jaxseg.nn import models

# Small graphs compiled once each: XLA's optimisations cost more than they save.
pytestmark = pytest.mark.usefixtures("fast_compile")


def conv(cin, cout, k=3):
    return cin * k * k * cout + cout


def count(module, kind=nnx.Param):
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, kind)))


def abstract(**kwargs):
    """The network with its parameters' shapes only (`nnx.eval_shape`): the counts
    need no values, and initialising the full-width network compiled its initialisers."""
    return nnx.eval_shape(lambda: models.SuperpixelSegNet(**kwargs, rngs=nnx.Rngs(0)))


# By hand from METHOD.md A4: conv1 3->64, conv2..6 64->64, conv7 (64*3)->64, each with a
# 64-channel norm (scale + bias); head 1 64->30 (3x3); head 2 64->256 (3x3), 256->64 (1x1).
TRUNK = conv(3, 64) + 5 * conv(64, 64) + 7 * 2 * 64
GN8_PARAMS = TRUNK + conv(192, 64) + conv(64, 30) + conv(64, 256) + conv(256, 64, k=1)


def test_gn8_parameter_count_by_hand():
    net = abstract()
    assert GN8_PARAMS == 479_454
    assert count(net) == GN8_PARAMS
    assert count(net, nnx.BatchStat) == 0


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(num_groups=32), GN8_PARAMS),  # ours-GN32: same parameters, other grouping
        (dict(norm="batch"), GN8_PARAMS),  # ours-BN: scale + bias like GN
        (dict(shared_features=True), TRUNK + conv(192, 64)),  # ours-conv7: no heads
        (dict(concat=False), GN8_PARAMS - conv(192, 64) + conv(64, 64)),  # w/o concat
    ],
)
def test_variant_parameter_counts(kwargs, expected):
    net = abstract(**kwargs)
    assert count(net) == expected


def test_batchnorm_variant_has_running_stats():
    net = abstract(norm="batch")
    assert count(net, nnx.BatchStat) == 7 * 2 * 64  # mean + var per trunk layer


def test_gn8_output_shapes_any_size():
    net = abstract()
    # Odd size, not a multiple of 4: both pooling levels round up, upsampling goes back.
    x = jax.ShapeDtypeStruct((2, 37, 53, 3), jnp.float32)
    out = nnx.eval_shape(lambda net, x: net(x), net, x)
    assert out.spix.shape == (2, 37, 53, 30)
    assert out.seg.shape == (2, 37, 53, 64)


def small(**kw):
    kw = dict(width=8, num_groups=4, spix_channels=5, seg_hidden=8, seg_channels=6) | kw
    return models.SuperpixelSegNet(**kw, rngs=nnx.Rngs(0))


@nnx.jit
def forward(net, x):
    """``net(x)`` as one compiled program (op-by-op it compiles every layer's ops per shape)."""
    return net(x)


@pytest.mark.parametrize("size", [(37, 53), (4, 4), (1, 7)])
def test_runs_on_any_size(size):
    net = small()
    x = jax.random.uniform(jax.random.key(0), (1, *size, 3))
    out = forward(net, x)
    assert out.spix.shape == (1, *size, 5) and out.seg.shape == (1, *size, 6)
    assert bool(jnp.all(jnp.isfinite(out.seg)))


def test_batch_items_are_independent_with_groupnorm():
    net = small()
    x = jax.random.uniform(jax.random.key(1), (2, 12, 10, 3))
    both = forward(net, x).seg
    single = forward(net, x[1:]).seg
    np.testing.assert_allclose(both[1:], single, rtol=1e-5, atol=1e-5)


def test_conv7_variant_shares_features():
    net = small(shared_features=True)

    def spix(net, x):  # traced: no compile (op by op, every layer's operations compiled)
        out = net(x)
        assert out.spix is out.seg  # the same array, not a copy
        return out.spix

    out = nnx.eval_shape(spix, net, jax.ShapeDtypeStruct((1, 9, 11, 3), jnp.float32))
    assert out.shape == (1, 9, 11, 8)
    assert net.spix_channels == 8


def test_batchnorm_train_updates_stats_eval_uses_them():
    net = small(norm="batch")
    x = jax.random.uniform(jax.random.key(2), (2, 8, 8, 3))
    before = nnx.to_pure_dict(nnx.state(net, nnx.BatchStat))
    net.train()
    forward(net, x)  # nnx.jit writes the updated statistics back into `net`
    after = nnx.to_pure_dict(nnx.state(net, nnx.BatchStat))
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), before, after)
    assert any(jax.tree.leaves(changed))
    net.eval()
    forward(net, x)
    now = nnx.to_pure_dict(nnx.state(net, nnx.BatchStat))
    same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), after, now)
    assert all(jax.tree.leaves(same))


def test_spix_init_scale_scales_head_one():
    k1 = small().spix_head.kernel[...]
    k01 = small(spix_init_scale=0.1).spix_head.kernel[...]
    np.testing.assert_allclose(k01, 0.1 * k1, rtol=1e-5, atol=1e-7)


def test_create_model_from_config_and_errors():
    cfg = ml_collections.ConfigDict({"model": {"width": 8, "num_groups": 4, "pos_scale": 3.0}})
    net = models.create_model(cfg, nnx.Rngs(0))
    assert net.pos_scale == 3.0 and net.conv1.conv.out_features == 8
    cfg.model.widht = 8
    with pytest.raises(ValueError, match="unknown fields.*widht"):
        models.create_model(cfg, nnx.Rngs(0))
    with pytest.raises(ValueError, match="num_groups=6 must divide width=64"):
        models.SuperpixelSegNet(num_groups=6, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="norm='layer'"):
        models.SuperpixelSegNet(norm="layer", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\(B, H, W, 3\)"):
        small()(jnp.ones((8, 8, 3)))


def test_same_seed_same_params():
    a = nnx.state(small(), nnx.Param)
    b = nnx.state(small(), nnx.Param)
    same = jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)
    assert len(jax.tree.leaves(same)) > 0 and all(jax.tree.leaves(same))
