"""Task ``superae``: trains the lin2021 SuperAE through the shared trainer.

``train.py --config configs/superae.py --workdir DIR`` reaches this module via
``config.task = "superae"`` (the Tasks contract in docs/DESIGN.md). All BSDS500
images (train, val and test; no labels are used, as in the paper) are read
into memory together with their superpixel templates, computed once on the
host at load time by :func:`jaxseg.regions.generators.generate` (``config.template``).
Batches are random square crops with random horizontal flips, a pure function
of ``(config.seed, step)``: each epoch is a permutation drawn from
``(seed, epoch)``, and each crop/flip from ``(seed, step)``.

Config keys read here (see ``configs/superae.py``): ``seed``, ``splits``,
``max_images``, ``image_scale``, ``crop_size``, ``hflip``, ``batch_size``,
``template.{generator, n_segments, max_segments, native}``, ``loss.{lam,
template_target, template_norm}``, ``eval_split``, ``eval_images``.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from jaxseg.nn.superae import SuperAE, prepare_input, reconstruct, superae_loss
from jaxseg.regions.generators import generate

__all__ = [
    "SuperAEData",
    "create_model",
    "evaluate",
    "load_dataset",
    "loss_fn",
    "make_batch",
    "make_batch_rows",
    "read_split",
    "reconstruct",
]


@dataclasses.dataclass
class SuperAEData:
    """Host data: float32 images in ``[0, 1]`` and int32 templates, per split."""

    images: list[np.ndarray]
    templates: list[np.ndarray]
    eval_images: list[np.ndarray]
    eval_templates: list[np.ndarray]
    names: list[str]


def create_model(config, rngs: nnx.Rngs) -> SuperAE:
    return SuperAE(3, rngs=rngs)


def read_split(data_dir, split: str, *, scale: float = 1.0, limit: int = 0, **source):
    """Reads one BSDS500 split as ``(ids, float32 images (H, W, 3) in [0, 1])``.

    ``scale != 1`` rescales each image (anti-aliased) at load time. ``source``:
    ``source``/``tfds_dir`` of :func:`jaxseg.data.bsds500.iter_split`.
    """
    from jaxseg.data import bsds500

    ids, images = [], []
    for r in bsds500.iter_split(data_dir, split, limit=limit, ground_truth=False, **source):
        ids.append(r.id)
        images.append(prepare_input(r.image, scale))
    return ids, images


def _template(config, image: np.ndarray) -> np.ndarray:
    t = config.template
    lab = generate(t.generator, image, n_segments=t.n_segments, **dict(t.native))
    if lab.max() >= t.max_segments:
        raise ValueError(
            f"template has {lab.max() + 1} superpixels > template.max_segments="
            f"{t.max_segments}; raise template.max_segments or lower template.n_segments."
        )
    return lab.astype(np.int32)


def load_dataset(config, data_dir) -> SuperAEData:
    from jaxseg.data.bsds500 import source_options

    src = source_options(config.get("data"))  # config.data.source: folder | tfds
    names, images = [], []
    per_split = int(config.get("max_images", 0))
    for split in config.splits:
        n, ims = read_split(data_dir, split, scale=config.image_scale, limit=per_split, **src)
        names += [f"{split}/{x}" for x in n]
        images += ims
    small = [im.shape for im in images if min(im.shape[:2]) < config.crop_size]
    if small:
        raise ValueError(
            f"crop_size={config.crop_size} is larger than image(s) of shape {small[0]}; "
            "lower crop_size or raise image_scale."
        )
    templates = [_template(config, im) for im in tqdm(images, desc="superae templates")]
    _, ev = read_split(
        data_dir, config.eval_split, scale=config.image_scale, limit=config.eval_images, **src
    )
    ev_t = [_template(config, im) for im in ev]
    return SuperAEData(images, templates, ev, ev_t, names)


def make_batch(config, dataset: SuperAEData, step: int) -> dict[str, np.ndarray]:
    return make_batch_rows(config, dataset, step, start=0, stop=config.batch_size)


def make_batch_rows(config, dataset: SuperAEData, step: int, *, start: int, stop: int):
    """Rows ``[start, stop)`` of :func:`make_batch` (the crops of earlier rows are
    drawn, not cut, so that the random stream stays the same)."""
    n, b, c = len(dataset.images), config.batch_size, config.crop_size
    imgs, labs = [], []
    rng = np.random.default_rng([config.seed, 1, step])
    for slot in range(stop):
        pos = step * b + slot
        epoch, k = divmod(pos, n)
        idx = np.random.default_rng([config.seed, 0, epoch]).permutation(n)[k]
        img, lab = dataset.images[idx], dataset.templates[idx]
        y = rng.integers(0, img.shape[0] - c + 1)
        x = rng.integers(0, img.shape[1] - c + 1)
        flip = config.hflip and rng.random() < 0.5
        if slot < start:
            continue
        img, lab = img[y : y + c, x : x + c], lab[y : y + c, x : x + c]
        if flip:
            img, lab = img[:, ::-1], lab[:, ::-1]
        imgs.append(img)
        labs.append(lab)
    return {"image": np.stack(imgs).astype(np.float32), "labels": np.stack(labs).astype(np.int32)}


def loss_fn(model: SuperAE, batch, config):
    recon = model(batch["image"])
    return superae_loss(
        batch["image"],
        recon,
        batch["labels"],
        num_segments=config.template.max_segments,
        lam=config.loss.lam,
        template_target=config.loss.template_target,
        template_norm=config.loss.template_norm,
    )


@functools.partial(nnx.jit, static_argnames=("num_segments", "lam", "target", "norm"))
def _eval_step(model, image, labels, *, num_segments, lam, target, norm):
    recon = model(image[None])
    _, metrics = superae_loss(
        image[None],
        recon,
        labels[None],
        num_segments=num_segments,
        lam=lam,
        template_target=target,
        template_norm=norm,
    )
    return metrics


def evaluate(model: SuperAE, config, dataset: SuperAEData) -> dict[str, float]:
    """Mean loss terms on the held-out images (full size); ``score = -loss``."""
    model.eval()
    sums: dict[str, float] = {}
    for img, lab in zip(dataset.eval_images, dataset.eval_templates, strict=True):
        m = _eval_step(
            model,
            jnp.asarray(img),
            jnp.asarray(lab),
            num_segments=config.template.max_segments,
            lam=float(config.loss.lam),
            target=config.loss.template_target,
            norm=config.loss.template_norm,
        )
        for k, v in jax.device_get(m).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    out = {k: v / max(len(dataset.eval_images), 1) for k, v in sums.items()}
    out["score"] = -out.get("loss", 0.0)
    return out
