"""Flax NNX networks of wang2020 ("ours-GN8") and its ablation variants.

The feature extractor follows METHOD.md A4 and the paper's Fig. 1: seven 3x3
convolutions of 64 channels, each followed by a normalisation (GroupNorm with 8
groups by default) and ReLU; 2x2 max-pooling after conv2 and conv4; the outputs of
conv4 and conv6 are bilinearly upsampled to the input size and concatenated with
conv2 before conv7. Two heads read conv7:

* head 1 (superpixels): 3x3 conv -> ``spix_channels`` (30) channels, later
  concatenated with the scaled XYLab vector for the SSN clustering;
* head 2 (segmentation): 3x3 conv -> 256, ReLU, 1x1 conv -> ``seg_channels`` (64).

Ablation variants (paper Tables 1-2) are switched by the constructor arguments:
``norm="batch"`` (ours-BN), ``num_groups=32`` (ours-GN32), ``shared_features=True``
(ours-conv7: both tasks read the conv7 output, no heads) and ``concat=False``
(ours-w/o-concat: conv7 reads only the upsampled conv6).

Any input size works: pooling pads odd sizes (``SAME``) and the upsampling resizes
back to the exact ``(H, W)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import ArrayLike

__all__ = ["FeatureOutput", "SuperpixelSegNet", "create_model"]

NORMS = ("group", "batch")


_F = TypeVar("_F", bound=Callable)
UNOPTIMISED_INIT = True  # False: initialise with XLA's optimisations (tests compare the two)


def unoptimised_init(init: _F) -> _F:
    """Runs a module constructor with XLA's optimisations off (``jax_disable_most_optimizations``).

    Eager parameter initialisation compiles one small XLA program per array shape and
    initialiser, each run once: with optimisations on that costs 15-30 s for these
    networks on a CPU, without them 0.1 s. The values are the same up to float32
    rounding (a few entries differ in the last bit; tests/test_model_init.py), and
    deterministic for a seed. The previous setting is restored afterwards.
    """

    @functools.wraps(init)
    def wrapper(*args, **kwargs):
        if not UNOPTIMISED_INIT or jax.config.read("jax_disable_most_optimizations"):
            return init(*args, **kwargs)
        jax.config.update("jax_disable_most_optimizations", True)
        try:
            return init(*args, **kwargs)
        finally:
            jax.config.update("jax_disable_most_optimizations", False)

    return wrapper  # type: ignore[return-value]


class FeatureOutput(NamedTuple):
    """Per-pixel features of the two heads.

    Attributes:
      spix: ``(B, H, W, Cs) float32`` superpixel (clustering) features, before the
        scaled XYLab vector is appended.
      seg: ``(B, H, W, Cg) float32`` segmentation features, pooled on superpixels.
    """

    spix: jax.Array
    seg: jax.Array


class _ConvNormReLU(nnx.Module):
    def __init__(self, cin: int, cout: int, *, norm: str, num_groups: int, rngs: nnx.Rngs):
        self.conv = nnx.Conv(cin, cout, (3, 3), padding="SAME", rngs=rngs)
        if norm == "group":
            self.norm = nnx.GroupNorm(cout, num_groups=num_groups, rngs=rngs)
        else:
            self.norm = nnx.BatchNorm(cout, momentum=0.9, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.relu(self.norm(self.conv(x)))


def _upsample(x: jax.Array, height: int, width: int) -> jax.Array:
    # Bilinear, back to the exact full size (inputs need not be multiples of 4).
    return jax.image.resize(x, (x.shape[0], height, width, x.shape[-1]), method="bilinear")


def _pool(x: jax.Array) -> jax.Array:
    return nnx.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")


class SuperpixelSegNet(nnx.Module):
    """wang2020 feature network with a superpixel head and a segmentation head.

    Args:
      width: channels of the seven trunk convolutions (64 in the paper).
      norm: ``"group"`` (GroupNorm, the paper's choice) or ``"batch"`` (ours-BN).
      num_groups: GroupNorm groups (8 in ours-GN8, 32 in ours-GN32).
      concat: concatenate conv2 and upsampled conv4 with upsampled conv6 before
        conv7 (``False`` is ours-w/o-concat).
      shared_features: use the conv7 output for both tasks, without heads
        (ours-conv7).
      spix_channels: output channels of head 1 (30).
      seg_hidden: hidden channels of head 2 (256).
      seg_channels: output channels of head 2 (64).
      pos_scale, color_scale: scales of the XYLab vector appended to the head-1
        features for the SSN clustering (:func:`jaxseg.ops.slic.xylab_features`; SSN's
        defaults). Stored on the model so inference uses the training values.
      spix_init_scale: standard deviation of head 1's initial weights relative to
        LeCun-normal. A small value (e.g. 0.1) starts the clustering close to SSN
        on XYLab alone (SLIC-like) and lets training refine it (not in the paper;
        helps short trainings). Not 0: zero features are a stationary point of the
        SSN losses (every gradient is proportional to feature differences).
      rngs: parameter initialisation keys.

    Call with ``images (B, H, W, 3) float32 in [0, 1]``; returns a
    :class:`FeatureOutput`.

    Example:
      >>> from flax import nnx
      >>> net = SuperpixelSegNet(rngs=nnx.Rngs(0))
      >>> out = net(jnp.zeros((1, 37, 53, 3)))
      >>> out.spix.shape, out.seg.shape
      ((1, 37, 53, 30), (1, 37, 53, 64))
    """

    @unoptimised_init
    def __init__(
        self,
        *,
        width: int = 64,
        norm: str = "group",
        num_groups: int = 8,
        concat: bool = True,
        shared_features: bool = False,
        spix_channels: int = 30,
        seg_hidden: int = 256,
        seg_channels: int = 64,
        pos_scale: float = 2.5,
        color_scale: float = 0.26,
        spix_init_scale: float = 1.0,
        rngs: nnx.Rngs,
    ):
        if norm not in NORMS:
            raise ValueError(f"norm={norm!r} is not one of {NORMS}")
        if norm == "group" and width % num_groups:
            raise ValueError(
                f"num_groups={num_groups} must divide width={width} for GroupNorm; "
                "pick a divisor (8 or 32 for width 64)"
            )
        self.concat = concat
        self.pos_scale = float(pos_scale)
        self.color_scale = float(color_scale)
        self.shared_features = shared_features
        kw = dict(norm=norm, num_groups=num_groups, rngs=rngs)
        self.conv1 = _ConvNormReLU(3, width, **kw)
        self.conv2 = _ConvNormReLU(width, width, **kw)
        self.conv3 = _ConvNormReLU(width, width, **kw)
        self.conv4 = _ConvNormReLU(width, width, **kw)
        self.conv5 = _ConvNormReLU(width, width, **kw)
        self.conv6 = _ConvNormReLU(width, width, **kw)
        self.conv7 = _ConvNormReLU(3 * width if concat else width, width, **kw)
        if shared_features:
            self.spix_head = None
            self.seg_hidden = None
            self.seg_out = None
        else:
            # lecun_normal is variance_scaling(1, fan_in); scale the standard deviation.
            init = nnx.initializers.variance_scaling(
                float(spix_init_scale) ** 2, "fan_in", "truncated_normal"
            )
            self.spix_head = nnx.Conv(
                width, spix_channels, (3, 3), padding="SAME", kernel_init=init, rngs=rngs
            )
            self.seg_hidden = nnx.Conv(width, seg_hidden, (3, 3), padding="SAME", rngs=rngs)
            self.seg_out = nnx.Conv(seg_hidden, seg_channels, (1, 1), rngs=rngs)

    @property
    def spix_channels(self) -> int:
        """Channels of the superpixel features (before XYLab is appended)."""
        if self.spix_head is None:
            return self.conv7.conv.out_features
        return self.spix_head.out_features

    def __call__(self, images: ArrayLike) -> FeatureOutput:
        x = jnp.asarray(images, jnp.float32)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images must be (B, H, W, 3), got shape {x.shape}")
        height, width = x.shape[1:3]
        x = 2.0 * x - 1.0  # [0, 1] -> [-1, 1]
        c2 = self.conv2(self.conv1(x))  # (B, H, W, 64)
        c4 = self.conv4(self.conv3(_pool(c2)))  # (B, ~H/2, ~W/2, 64)
        c6 = self.conv6(self.conv5(_pool(c4)))  # (B, ~H/4, ~W/4, 64)
        up6 = _upsample(c6, height, width)
        if self.concat:
            x = jnp.concatenate([c2, _upsample(c4, height, width), up6], axis=-1)
        else:
            x = up6
        c7 = self.conv7(x)  # (B, H, W, 64)
        if self.shared_features:
            return FeatureOutput(spix=c7, seg=c7)
        seg = self.seg_out(jax.nn.relu(self.seg_hidden(c7)))
        return FeatureOutput(spix=self.spix_head(c7), seg=seg)


def create_model(config, rngs: nnx.Rngs) -> SuperpixelSegNet:
    """Builds the network named by ``config.model`` (a ConfigDict of constructor args).

    ``config.model`` fields: ``width``, ``norm``, ``num_groups``, ``concat``,
    ``shared_features``, ``spix_channels``, ``seg_hidden``, ``seg_channels``,
    ``pos_scale``, ``color_scale``, ``spix_init_scale``; missing
    fields take the ours-GN8 defaults.
    """
    m = config.model
    allowed = {
        "width",
        "norm",
        "num_groups",
        "concat",
        "shared_features",
        "spix_channels",
        "seg_hidden",
        "seg_channels",
        "pos_scale",
        "color_scale",
        "spix_init_scale",
    }
    unknown = set(m.keys()) - allowed
    if unknown:
        raise ValueError(
            f"config.model has unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}"
        )
    return SuperpixelSegNet(**dict(m), rngs=rngs)
