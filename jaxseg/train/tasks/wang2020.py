"""Task ``wang2020``: supervised superpixels + segmentation (METHOD.md part A).

``train.py --config configs/wang2020.py --workdir DIR`` reaches this module via
``config.task = "wang2020"`` (the Tasks contract in docs/DESIGN.md).

Per training image (batches are vmapped):

1. the network (:mod:`jaxseg.nn.models`) gives clustering features ``F`` (head 1) and
   segmentation features ``F'`` (head 2);
2. SSN clustering (:func:`jaxseg.ops.slic.ssn`, ``config.train_iters`` iterations, ``m``
   from ``config.n_segments``) on ``[F, scaled XYLab]``;
3. loss ``recon_weight * L_recon + compact_weight * L_compact + pair_weight * L_pair``
   (:mod:`jaxseg.ops.losses`): SSN label reconstruction of the one-hot ground truth,
   SSN compactness, and the pair loss (eq. 7) on ``F'`` pooled over the hard
   superpixels, ``l_ij`` from each superpixel's majority ground-truth segment.

Data (``config.data``): every (image, annotator) pair of ``train_splits`` is a
sample; batches come from :func:`jaxseg.data.pipeline.make_batch` (random
horizontal flips and ``crop_size`` crops, a pure function of ``(config.seed,
step)``; ground-truth segments renumbered per crop, beyond the
``max_gt_segments`` largest ignored). ``data.name = "synthetic"`` replaces
BSDS500 with generated piecewise-constant images (tests without the data).

Validation (:func:`evaluate`) runs :func:`predict` on the first
``config.eval.num_images`` images of ``val_split`` at ``config.eval.n_segments``:
boundary recall (2 px) and undersegmentation error of the superpixels made
connected (as :func:`jaxseg.ops.slic` does), and the balanced accuracy of
``s_ij > 0.5`` as a same-segment classifier; ``score = mean(BR, 1 - UE, pair_bacc)``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxseg.data import bsds500, pipeline
from jaxseg.data.bsds500 import BSDS500
from jaxseg.metrics import superpixel as spm
from jaxseg.nn import models
from jaxseg.nn.wang2020 import (
    Prediction,
    check_counts,
    clustering_features,
    max_pairs_for,
    predict,
)
from jaxseg.ops import losses, pooling, slic
from jaxseg.regions.connectivity import enforce_connectivity
from jaxseg.regions.labels import majority_label

__all__ = [
    "Prediction",
    "Wang2020Data",
    "check_counts",
    "create_model",
    "evaluate",
    "load_dataset",
    "loss_fn",
    "make_batch",
    "make_batch_rows",
    "max_pairs_for",
    "predict",
]


@dataclasses.dataclass
class Wang2020Data:
    """Host data kept in memory: training samples and validation images.

    Attributes:
      train: the training (image, annotator) samples.
      val: the validation images and their human segmentations.
    """

    train: BSDS500
    val: BSDS500


def create_model(config, rngs: nnx.Rngs) -> models.SuperpixelSegNet:
    return models.create_model(config, rngs)


# ----------------------------------------------------------------------------- data


def _synthetic_image(rng: np.random.Generator, height: int, width: int):
    """Voronoi regions with random colours + noise; gt labels ``1..k``."""
    k = int(rng.integers(3, 9))
    seeds = rng.uniform([0, 0], [height, width], size=(k, 2))
    yy, xx = np.mgrid[:height, :width]
    d = (yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2
    gt = np.argmin(d, axis=-1).astype(np.int32) + 1
    colours = rng.uniform(0, 255, size=(k + 1, 3))
    image = colours[gt] + rng.normal(0, 8, size=(height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), gt


def _synthetic_split(rng: np.random.Generator, n: int, size, split: str) -> BSDS500:
    images, segs = [], []
    for _ in range(n):
        image, gt = _synthetic_image(rng, *size)
        images.append(image)
        segs.append((gt,))
    return BSDS500(
        ids=tuple(f"synthetic{i}" for i in range(n)),
        splits=(split,) * n,
        images=tuple(images),
        segmentations=tuple(segs),
        boundaries=None,
        samples=np.array([(i, 0) for i in range(n)], np.int32).reshape(-1, 2),
    )


def load_dataset(config, data_dir) -> Wang2020Data:
    """Reads the training samples and the validation images.

    ``config.data.name``: ``"bsds500"`` (``train_splits``, ``val_split``,
    ``max_images`` (0: all), ``config.eval.num_images``) or ``"synthetic"``
    (generated piecewise-constant images of ``synthetic_size``, for tests).
    """
    d = config.data
    name = d.get("name", "bsds500")
    num_val = int(config.eval.num_images)
    if name == "synthetic":
        rng = np.random.default_rng(int(config.seed) + 12345)
        size = tuple(d.get("synthetic_size", (48, 64)))
        train = _synthetic_split(rng, int(d.get("max_images", 0) or 8), size, "train")
        return Wang2020Data(train, _synthetic_split(rng, num_val, size, "val"))
    if name != "bsds500":
        raise ValueError(f"config.data.name={name!r} is not one of 'bsds500', 'synthetic'")
    src = bsds500.source_options(d)  # config.data.source: folder | tfds
    train = bsds500.load_bsds500(
        data_dir, tuple(d.train_splits), max_images=int(d.get("max_images", 0)) or None, **src
    )
    val = bsds500.load_bsds500(data_dir, (d.val_split,), max_images=num_val, progress=False, **src)
    return Wang2020Data(train, val)


def make_batch(config, dataset: Wang2020Data, step: int) -> dict[str, np.ndarray]:
    """Global batch ``step`` (:func:`jaxseg.data.pipeline.make_batch`).

    Returns ``image (B, c, c, 3) float32`` in ``[0, 1]`` and ``gt (B, c, c) int32``
    in ``[-1, max_gt_segments)``; a pure function of ``(config.seed, step)``.
    """
    return make_batch_rows(config, dataset, step, start=0, stop=int(config.batch_size))


def make_batch_rows(config, dataset: Wang2020Data, step: int, *, start: int, stop: int):
    """Rows ``[start, stop)`` of :func:`make_batch`, made alone (one host's share)."""
    d = config.data
    batch = pipeline.make_batch(
        dataset.train,
        seed=int(config.seed),
        step=int(step),
        batch_size=int(config.batch_size),
        crop_size=int(d.crop_size),
        max_gt_segments=int(d.max_gt_segments),
        flip=bool(d.flip),
        rows=(start, stop),
    )
    return {"image": batch["image"], "gt": batch["segmentation"]}


# ----------------------------------------------------------------------- model + loss


def loss_fn(model, batch, config):
    """Total loss and metrics for one global batch (traced in the train step)."""
    images = batch["image"]  # (B, h, w, 3)
    gts = batch["gt"]  # (B, h, w)
    feats = model(images)
    n_seg = int(config.n_segments)
    k = int(config.data.max_gt_segments)
    lc = config.loss
    alpha = lc.get("pair_alpha", None)

    def one(image, gt, spix, seg):
        f, xylab = clustering_features(
            image, spix, n_seg, pos_scale=model.pos_scale, color_scale=model.color_scale
        )
        out = slic.ssn(f, n_segments=n_seg, num_iters=int(config.train_iters))
        m = out.centres.shape[0]
        onehot = jax.nn.one_hot(gt, k)  # -1 -> all-zero row (ignored)
        l_rec = losses.reconstruction_loss(onehot, out.assoc, out.candidates, num_segments=m)
        l_cmp = losses.compactness_loss(
            xylab[..., :2], out.assoc, out.candidates, out.labels, num_segments=m
        )
        region = pooling.segment_mean(seg, out.labels, m)  # (m, C)
        pairs, valid = pooling.adjacent_pairs(out.labels, m, max_pairs=max_pairs_for(m))
        dist = pooling.pair_distance(region, pairs)
        major = pooling.segment_majority(out.labels, gt, m, k)
        same = major[pairs[:, 0]] == major[pairs[:, 1]]
        l_pair = losses.pair_loss(dist, same, valid, alpha=alpha, eps=float(lc.pair_eps))
        pred_same = dist < np.log(3.0)  # s > 0.5  <=>  d < log 3
        vf = valid.astype(jnp.float32)
        pos = jnp.sum(vf * same)
        neg = jnp.sum(vf * ~same)
        tpr = jnp.sum(vf * (same & pred_same)) / jnp.maximum(pos, 1.0)
        tnr = jnp.sum(vf * (~same & ~pred_same)) / jnp.maximum(neg, 1.0)
        return {
            "recon": l_rec,
            "compact": l_cmp,
            "pair": l_pair,
            "pair_bacc": 0.5 * (tpr + tnr),
            "pos_frac": pos / jnp.maximum(jnp.sum(vf), 1.0),
        }

    per = jax.vmap(one)(images, gts, feats.spix, feats.seg)
    metrics = {k_: jnp.mean(v) for k_, v in per.items()}
    total = (
        float(lc.recon_weight) * metrics["recon"]
        + float(lc.compact_weight) * metrics["compact"]
        + float(lc.pair_weight) * metrics["pair"]
    )
    return total, metrics


# ----------------------------------------------------------------------- validation


def _pair_bacc(labels, pairs, valid, similarity, gt) -> float:
    """Balanced accuracy of ``s > 0.5`` for "same majority segment" (host NumPy)."""
    _, g = np.unique(gt, return_inverse=True)
    major = majority_label(labels, g.reshape(gt.shape))
    p = pairs[valid]
    same = major[p[:, 0]] == major[p[:, 1]]
    pred = similarity[valid] > 0.5
    tpr = (same & pred).sum() / max(same.sum(), 1)
    tnr = (~same & ~pred).sum() / max((~same).sum(), 1)
    return 0.5 * (tpr + tnr)


def evaluate(model, config, dataset: Wang2020Data) -> dict[str, float]:
    """Validation metrics on ``dataset.val`` (see the module docstring)."""
    ev = config.eval
    br, ue, bacc = [], [], []
    val = dataset.val
    for i, image in enumerate(val.images):
        gts = val.ground_truth(i)
        pred = predict(
            model,
            np.asarray(image, np.float32) / 255.0,
            n_segments=int(ev.n_segments),
            num_iters=int(ev.num_iters),
        )
        labels, pairs, valid, sim = (np.asarray(a) for a in jax.device_get(pred[:4]))
        # Superpixel metrics on connected superpixels (fragments would inflate BR),
        # as jaxseg.ops.slic.slic post-processes.
        m = int(pred.region_features.shape[0])
        sp = enforce_connectivity(labels, min_size=int(0.5 * labels.size / m))
        br.append(spm.boundary_recall(sp, gts))
        ue.append(spm.undersegmentation_error(sp, gts))
        bacc.append(np.mean([_pair_bacc(labels, pairs, valid, sim, g) for g in gts]))
    out = {"br": float(np.mean(br)), "ue": float(np.mean(ue)), "pair_bacc": float(np.mean(bacc))}
    out["score"] = (out["br"] + (1.0 - out["ue"]) + out["pair_bacc"]) / 3.0
    return out
