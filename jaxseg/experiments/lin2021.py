"""lin2021 evaluation: SC, PRI, VI at ODS/OIS on BSDS500 for the DSC variants.

    python eval.py dsc --superae workdirs/superae_cpu --limit 20 --out workdirs/dsc_eval \
        --variants img,rec,dsc_merge,kmeans_rgb,kmeans_deep

Each variant gives every image a fixed-length stack of segmentations (``segs``);
the shared region benchmark (:mod:`jaxseg.metrics.bench`, in memory) treats
each as one "threshold", so ODS picks the best setting for the dataset and OIS
per image, as the paper's sweeps over settings do. Variants:

* ``img``: superpixels of the input image at each of ``--counts`` (Tables I-II "IMG").
* ``rec``: superpixels of the SuperAE reconstruction at ``--counts`` (Table II "SuperAE").
* ``dsc``: DSC on the reconstruction's superpixels, one DSC run per count in
  ``--counts`` (Table II "DSC": the paper's sweep over superpixel counts).
* ``dsc_img``: as ``dsc`` on the input image's superpixels (Table I, IMG + DSC).
* ``dsc_merge``: one DSC run on the reconstruction's superpixels at
  ``--base_count``, then :func:`jaxseg.nn.dsc.merge_to_counts` to
  ``--partitions`` regions (a hierarchy over one run; 1/4 of the cost of ``dsc``).
* ``kmeans_rgb`` / ``kmeans_deep``: k-means (k in ``--partitions``) on the mean
  colour / mean encoder embedding (image + upsampled e1, e2, e3: 451 channels)
  of the reconstruction's ``--base_count`` superpixels (Table III).
* ``ncut_rgb`` / ``ncut_deep``: normalised cut (``skimage.graph.cut_normalized``)
  of the same superpixels' adjacency graph, edge weights ``exp(-d^2 / sigma)`` of
  the mean colour / mean embedding (``sigma`` the mean ``d^2``
  over adjacent pairs), to ``--partitions`` regions (threshold found by
  bisection) or, with ``--ncut_thresh``, at those native thresholds (Table III).

All computation runs at ``--scale`` times the image size (default: the
SuperAE's training ``image_scale``) and label maps are upsampled (nearest) to
the full size for the benchmark. Rows are printed next to the paper's numbers
(Tables II and III; ``dsc_merge`` against Table III's DSC row).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm import tqdm

from jaxseg.fileio import write_text_atomic

__all__ = ["PAPER", "VARIANTS", "build_parser", "main", "run"]

VARIANTS = (
    "img",
    "rec",
    "dsc",
    "dsc_img",
    "dsc_merge",
    "kmeans_rgb",
    "kmeans_deep",
    "ncut_rgb",
    "ncut_deep",
)
_COLS = ("sc_ods", "sc_ois", "pri_ods", "pri_ois", "vi_ods", "vi_ois")

#: lin2021 numbers (BSDS500 test, 200 images): SC, PRI, VI at ODS / OIS.
PAPER = {
    ("slic", "img"): (0.354, 0.402, 0.698, 0.726, 2.391, 2.306),
    ("slic", "rec"): (0.376, 0.415, 0.710, 0.745, 2.360, 2.286),
    ("slic", "dsc"): (0.428, 0.485, 0.709, 0.742, 2.262, 2.079),
    ("meanshift", "img"): (0.515, 0.535, 0.771, 0.805, 2.450, 2.429),
    ("meanshift", "rec"): (0.497, 0.550, 0.777, 0.795, 2.162, 2.077),
    ("meanshift", "dsc"): (0.504, 0.543, 0.739, 0.762, 2.014, 1.849),
    ("felzenszwalb", "img"): (0.458, 0.467, 0.770, 0.775, 2.334, 2.325),
    ("felzenszwalb", "rec"): (0.491, 0.500, 0.774, 0.782, 2.190, 2.180),
    ("felzenszwalb", "dsc"): (0.506, 0.548, 0.737, 0.779, 1.989, 1.853),
    # Table III (SLIC-100 superpixels; partitions 8, 16, 32, 64).
    ("table3", "kmeans_rgb"): (0.340, 0.344, 0.708, 0.732, 3.156, 3.146),
    ("table3", "kmeans_deep"): (0.375, 0.382, 0.718, 0.739, 2.865, 2.859),
    ("table3", "ncut_rgb"): (0.414, 0.465, 0.717, 0.771, 2.308, 2.213),
    ("table3", "ncut_deep"): (0.386, 0.423, 0.704, 0.754, 2.433, 2.382),
    ("table3", "dsc_merge"): (0.452, 0.505, 0.726, 0.778, 2.069, 2.002),
}


def _ints(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from e
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints, got {text!r}")
    return vals


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from e


def _json_dict(text: str) -> dict:
    try:
        val = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({e})") from e
    if not isinstance(val, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return val


def _variants(text: str) -> list[str]:
    vals = [t for t in text.split(",") if t]
    bad = [v for v in vals if v not in VARIANTS]
    if bad or not vals:
        raise argparse.ArgumentTypeError(f"unknown variant(s) {bad}; choose from {VARIANTS}")
    return vals


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eval.py dsc", description=__doc__.split("\n")[0])
    p.add_argument("--superae", required=True, help="SuperAE workdir or exported model folder")
    p.add_argument("--data_dir", default=None, help="BSDS500 root (default: $JAXSEG_DATA)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--limit", type=int, default=0, help="first N images (0: all)")
    p.add_argument("--out", required=True, help="output folder (results.json, results.md)")
    p.add_argument("--variants", type=_variants, default=["img", "rec", "dsc_merge"])
    p.add_argument("--generator", default="felzenszwalb", help="slic | felzenszwalb | meanshift")
    p.add_argument(
        "--gen_kw",
        type=_json_dict,
        default={},
        help="generator native parameters as JSON, e.g. '{\"min_size_frac\": 0.1}'",
    )
    p.add_argument("--counts", type=_ints, default=[100, 50, 20, 10], help="superpixel counts")
    p.add_argument("--base_count", type=int, default=100, help="superpixels for dsc_merge etc.")
    p.add_argument("--partitions", type=_ints, default=[64, 32, 16, 8])
    p.add_argument(
        "--ncut_thresh",
        type=_floats,
        default=None,
        help="NCut native thresholds, e.g. 0.3,0.1 (default: reach --partitions regions)",
    )
    p.add_argument("--scale", type=float, default=None, help="default: SuperAE image_scale")
    p.add_argument("--num_classes", type=int, default=32, help="DSC K")
    p.add_argument("--num_iters", type=int, default=128, help="DSC iterations")
    p.add_argument("--beta", type=float, default=1.0)
    p.add_argument("--sigma", type=float, default=10.0)
    p.add_argument("--train_encoder", action="store_true", help="optimise the encoder too")
    p.add_argument(
        "--max_segments",
        type=int,
        default=None,
        help="DSC's padded superpixel count, one for every count (one compiled function "
        "per image shape, e.g. 128 for counts up to 100); images with more superpixels "
        "fall back to the automatic padding. Default: automatic (m rounded up to 64)",
    )
    p.add_argument("--logit_norm", default="standardize", choices=("standardize", "none"))
    p.add_argument("--which", default="best", choices=("best", "latest"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--write_every",
        type=int,
        default=10,
        help="rewrite results.json/.md every N images (partial results; 0: only at the end)",
    )
    return p


def _resize_labels(lab: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if lab.shape == shape:
        return lab
    ys = np.minimum((np.arange(shape[0]) + 0.5) * lab.shape[0] / shape[0], lab.shape[0] - 1)
    xs = np.minimum((np.arange(shape[1]) + 0.5) * lab.shape[1] / shape[1], lab.shape[1] - 1)
    return lab[ys.astype(int)[:, None], xs.astype(int)[None, :]]


def _encode_up(model, image):
    e1, e2, e3 = (e[0] for e in model.encode(image[None]))
    hp, wp = e1.shape[:2]
    up = [jax.image.resize(e, (hp, wp, e.shape[-1]), "bilinear") for e in (e2, e3)]
    h, w = image.shape[:2]
    return jnp.concatenate([image, e1[:h, :w], up[0][:h, :w], up[1][:h, :w]], axis=-1)


_encode_up_jit = nnx.jit(_encode_up)


def deep_features(model, image: np.ndarray) -> np.ndarray:
    """``(H, W, 451)`` embedding: image + bilinearly upsampled e1, e2, e3 (eval-mode BN)."""
    model.eval()
    return np.asarray(_encode_up_jit(model, jnp.asarray(image, jnp.float32)))


def _pool(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    k = int(labels.max()) + 1
    flat = features.reshape(-1, features.shape[-1])
    counts = np.bincount(labels.ravel(), minlength=k)[:, None]
    sums = np.zeros((k, flat.shape[1]))
    np.add.at(sums, labels.ravel(), flat)
    return sums / np.maximum(counts, 1)


def _kmeans_segs(features, labels, ks, seed):
    from scipy.cluster.vq import kmeans2

    f = _pool(features, labels)
    f = (f - f.mean(0)) / (f.std(0) + 1e-6)
    out = []
    for k in ks:
        k = min(k, f.shape[0])
        _, assign = kmeans2(f, k, minit="++", seed=seed)
        out.append(assign[labels].astype(np.int32))
    return out


def _ncut_rag(pooled: np.ndarray, labels: np.ndarray, sigma: float | None):
    """Region adjacency graph of ``labels`` with ``exp(-||f_u - f_v||^2 / sigma)`` weights.

    ``sigma=None`` uses the mean squared feature distance over adjacent pairs
    (one self-tuning rule for colour and deep features alike).
    """
    from skimage import graph

    rag = graph.RAG(labels)
    for n in rag.nodes:
        rag.nodes[n]["labels"] = [n]
    edges = list(rag.edges)
    d2 = np.array([np.sum((pooled[u] - pooled[v]) ** 2) for u, v in edges])
    if sigma is None:
        mean = float(np.mean(d2)) if d2.size else 0.0
        sigma = mean if mean > 0 else 1.0
    for (u, v), d in zip(edges, d2, strict=True):
        rag.edges[u, v]["weight"] = float(np.exp(-d / sigma))
    return rag


def _ncut_once(rag, labels, thresh, seed) -> np.ndarray:
    from skimage import graph

    out = graph.cut_normalized(labels, rag, thresh=thresh, num_cuts=10, in_place=False, rng=seed)
    _, inv = np.unique(out, return_inverse=True)
    return inv.reshape(labels.shape).astype(np.int32)


def _ncut_segs(features, labels, *, counts=None, thresholds=None, sigma=None, seed=0):
    """Normalised cut (``skimage.graph.cut_normalized``) of the superpixel RAG.

    ``features`` ``(H, W, C)`` are averaged per superpixel. With ``thresholds``
    each entry is one run of ``cut_normalized`` (its native stopping
    threshold); with ``counts`` the threshold is found per count by bisection
    in log space (more regions as it grows), keeping the result whose region
    count is closest to the target (as the k-means baseline gets ``k`` clusters).
    """
    from jaxseg.regions.generators import bisect_count

    # no per-channel scaling of the mean features: sigma sets the overall scale
    rag = _ncut_rag(_pool(features, labels), labels, sigma)
    if thresholds is not None:
        return [_ncut_once(rag, labels, t, seed) for t in thresholds]
    # larger threshold -> more cuts, more regions
    return [
        bisect_count(
            lambda t: _ncut_once(rag, labels, t, seed),
            target,
            1e-5,
            2.0,
            more_when_larger=True,
            iters=14,
        )
        for target in counts
    ]


def _summary(evals) -> dict[str, float]:
    from jaxseg.metrics.bench import collect

    reg = collect(evals)["region"]
    return {
        "sc_ods": reg["cover_ods"],
        "sc_ois": reg["cover_ois"],
        "pri_ods": reg["pri_ods"],
        "pri_ois": reg["pri_ois"],
        "vi_ods": reg["voi_ods"],
        "vi_ois": reg["voi_ois"],
    }


def _levels(evals, regions) -> dict[str, list[float]]:
    """Per-level (setting) dataset figures: SC, PRI, VI and the mean region count."""
    from jaxseg.metrics.bench import collect

    reg = collect(evals)["region"]
    return {
        "sc": [float(x) for x in reg["cover_th"][:, 1]],
        "pri": [float(x) for x in reg["ri_voi_thr"][:, 1]],
        "vi": [float(x) for x in reg["ri_voi_thr"][:, 2]],
        "regions": [float(x) for x in np.mean(np.asarray(regions, float), axis=0)],
    }


def _markdown(rows: dict, generator: str, header: str) -> str:
    lines = [
        header,
        "",
        "| variant | | SC ODS | SC OIS | PRI ODS | PRI OIS | VI ODS | VI OIS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | ours | " + " | ".join(f"{row[c]:.3f}" for c in _COLS) + " |")
        paper = PAPER.get((generator, name.replace("dsc_img", "dsc"))) or PAPER.get(
            ("table3", name)
        )
        if name == "dsc_img":
            paper = None
        if paper:
            lines.append("| | paper | " + " | ".join(f"{v:.3f}" for v in paper) + " |")
    return "\n".join(lines) + "\n"


def _levels_markdown(levels: dict) -> str:
    lines = [
        "",
        "Per level (the settings the ODS/OIS pick from): mean region count, SC, PRI, VI.",
        "",
        "| variant | regions | SC | PRI | VI |",
        "|---|---|---|---|---|",
    ]
    for name, lv in levels.items():
        cells = [
            " / ".join(f"{x:{fmt}}" for x in lv[k])
            for k, fmt in (("regions", ".1f"), ("sc", ".3f"), ("pri", ".3f"), ("vi", ".3f"))
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_results(args, out_dir, scale, n_total, evals, regions, seconds) -> dict:
    """Writes results.json / results.md for the images evaluated so far."""
    n_done = len(next(iter(evals.values())))
    rows = {v: _summary(evals[v]) for v in args.variants}
    levels = {v: _levels(evals[v], regions[v]) for v in args.variants}
    result = {
        "split": args.split,
        "n_images": n_done,
        "complete": n_done == n_total,
        "generator": args.generator,
        "scale": scale,
        "superae": str(args.superae),
        "settings": {
            k: (list(v) if isinstance(v, list | tuple) else v)
            for k, v in vars(args).items()
            if k not in ("out",)
        },
        "seconds_per_image": {v: seconds[v] / max(n_done, 1) for v in args.variants},
        "rows": rows,
        "levels": levels,
        "paper": {
            v: PAPER.get((args.generator, v)) or PAPER.get(("table3", v)) for v in args.variants
        },
    }
    write_text_atomic(out_dir / "results.json", json.dumps(result, indent=2) + "\n")
    partial = "" if n_done == n_total else f" (partial: {n_done} of {n_total})"
    header = (
        f"lin2021 DSC evaluation: BSDS500 {args.split}, {n_done} images{partial}, "
        f"generator {args.generator}, scale {scale}, DSC K={args.num_classes} "
        f"iters={args.num_iters} train_encoder={args.train_encoder} "
        f"logit_norm={args.logit_norm} beta={args.beta} sigma={args.sigma} "
        f"generator settings {json.dumps(args.gen_kw)}. Paper rows: 200 images."
    )
    write_text_atomic(
        out_dir / "results.md", _markdown(rows, args.generator, header) + _levels_markdown(levels)
    )
    return result


def run(args: argparse.Namespace) -> dict:
    """Runs the evaluation described by parsed ``args``; returns the results dict."""
    from jaxseg.data import bsds500
    from jaxseg.metrics.bench import evaluate_image
    from jaxseg.metrics.io import GroundTruth
    from jaxseg.nn import dsc
    from jaxseg.regions.generators import GENERATORS, generate
    from jaxseg.train import checkpointing
    from jaxseg.train.tasks.superae import reconstruct

    if args.generator not in GENERATORS:
        raise ValueError(f"--generator {args.generator!r} is not one of {GENERATORS}")
    data_dir = bsds500.resolve_data_dir(args.data_dir)  # fail fast, before the model
    model, config = checkpointing.restore_model(args.superae, which=args.which)
    scale = float(config.get("image_scale", 1.0)) if args.scale is None else args.scale
    if not 0 < scale <= 1:
        raise ValueError(f"--scale must be in (0, 1], got {scale}")
    records = bsds500.load_split(data_dir, args.split, limit=args.limit or None)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    dsc_kw = dict(
        num_classes=args.num_classes,
        num_iters=args.num_iters,
        beta=args.beta,
        sigma=args.sigma,
        train_encoder=args.train_encoder,
        logit_norm=args.logit_norm,
    )

    def _pad(labels):
        ms = args.max_segments
        return ms if ms and int(labels.max()) < ms else None

    evals: dict[str, list] = {v: [] for v in args.variants}
    seconds: dict[str, float] = {v: 0.0 for v in args.variants}
    regions: dict[str, list] = {v: [] for v in args.variants}
    key = jax.random.key(args.seed)
    from skimage import transform

    for i, rec_ in enumerate(tqdm(records, desc="dsc eval")):
        full = rec_.image.astype(np.float32) / 255.0
        img = full
        if scale != 1.0:
            img = transform.rescale(full, scale, channel_axis=-1, anti_aliasing=True)
            img = np.clip(img, 0, 1).astype(np.float32)
        recon = reconstruct(model, img)
        gt = GroundTruth(list(rec_.segmentations), list(rec_.boundaries))
        cache: dict = {}

        def sp(source, n, _img=img, _recon=recon, _cache=cache):
            if (source, n) not in _cache:
                src = _img if source == "img" else _recon
                _cache[(source, n)] = generate(args.generator, src, n_segments=n, **args.gen_kw)
            return _cache[(source, n)]

        def deep(image, _cache=cache):  # shared by kmeans_deep and ncut_deep
            if "deep" not in _cache:
                _cache["deep"] = deep_features(model, image)
            return _cache["deep"]

        for v in args.variants:
            t0 = time.perf_counter()
            k_img = jax.random.fold_in(key, i)
            if v in ("img", "rec"):
                segs = [sp(v, n) for n in args.counts]
            elif v in ("dsc", "dsc_img"):
                source = "img" if v == "dsc_img" else "rec"
                segs = [
                    dsc.dsc_segment(
                        model,
                        img,
                        sp(source, n),
                        key=k_img,
                        max_segments=_pad(sp(source, n)),
                        **dsc_kw,
                    ).labels
                    for n in args.counts
                ]
            elif v == "dsc_merge":
                base = sp("rec", args.base_count)
                res = dsc.dsc_segment(
                    model, img, base, key=k_img, max_segments=_pad(base), **dsc_kw
                )
                segs = dsc.merge_to_counts(res.labels, res.region_features, args.partitions)
            elif v == "kmeans_rgb":
                segs = _kmeans_segs(img, sp("rec", args.base_count), args.partitions, args.seed)
            elif v == "kmeans_deep":
                feats = deep(img)
                segs = _kmeans_segs(feats, sp("rec", args.base_count), args.partitions, args.seed)
            else:  # ncut_rgb / ncut_deep
                feats = img if v == "ncut_rgb" else deep(img)
                segs = _ncut_segs(
                    feats,
                    sp("rec", args.base_count),
                    counts=args.partitions,
                    thresholds=args.ncut_thresh,
                    seed=args.seed,
                )
            seconds[v] += time.perf_counter() - t0
            regions[v].append([int(s.max()) + 1 for s in segs])
            stack = np.stack([_resize_labels(s, gt.shape) + 1 for s in segs])
            evals[v].append(evaluate_image(stack, gt, bench="region"))
        done = i + 1
        if done < len(records) and args.write_every and done % args.write_every == 0:
            _write_results(args, out_dir, scale, len(records), evals, regions, seconds)

    result = _write_results(args, out_dir, scale, len(records), evals, regions, seconds)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    print(_markdown(result["rows"], result["generator"], f"{result['n_images']} images"))
    return 0
