"""lin2021 evaluation: SC, PRI, VI at ODS/OIS on BSDS500 for the DSC variants.

    python eval.py dsc --superae workdirs/superae_cpu --limit 20 --out workdirs/dsc_eval \
        --variants img,rec,dsc_merge,kmeans_rgb,kmeans_deep

:func:`run` takes a ``ConfigDict`` (:func:`default_config`); the command line above is
parsed by :mod:`jaxseg.cli.eval_dsc`.

Each variant gives every image a fixed-length stack of segmentations (``segs``);
the shared region benchmark (:mod:`jaxseg.metrics.bench`, in memory) treats
each as one "threshold", so ODS picks the best setting for the dataset and OIS
per image, as the paper's sweeps over settings do. Variants:

* ``img``: superpixels of the input image at each of ``--counts`` (Tables I-II "IMG").
* ``rec``: superpixels of the SuperAE reconstruction at ``--counts`` (Table II "SuperAE").
* ``dsc``: DSC on the reconstruction's superpixels, one DSC run per count in
  ``--counts`` (Table II "DSC": the paper's sweep over superpixel counts). This is the
  ``"dsc"`` method of :mod:`jaxseg.pipeline` (:class:`jaxseg.pipeline.dsc.Dsc`) run
  through :class:`jaxseg.pipeline.Segmenter` (:func:`dsc_segs`), so ``jaxseg segment
  --method dsc`` with the same settings gives the same labels.
* ``dsc_img``: as ``dsc`` on the input image's superpixels (Table I, IMG + DSC).
* ``dsc_merge``: one DSC run on the reconstruction's superpixels at
  ``--base-count``, then :func:`jaxseg.nn.dsc.merge_to_counts` to
  ``--partitions`` regions (a hierarchy over one run; 1/4 of the cost of ``dsc``).
* ``kmeans_rgb`` / ``kmeans_deep``: k-means (k in ``--partitions``) on the mean
  colour / mean encoder embedding (image + upsampled e1, e2, e3: 451 channels)
  of the reconstruction's ``--base-count`` superpixels (Table III).
* ``ncut_rgb`` / ``ncut_deep``: normalised cut (``skimage.graph.cut_normalized``)
  of the same superpixels' adjacency graph, edge weights ``exp(-d^2 / sigma)`` of
  the mean colour / mean embedding (``sigma`` the mean ``d^2``
  over adjacent pairs), to ``--partitions`` regions (threshold found by
  bisection) or, with ``--ncut-thresh``, at those native thresholds (Table III).

BSDS500 comes from ``source``: the ``data_dir`` tree (``"folder"``) or the prepared
``bsds500`` TFDS dataset in ``tfds_dir`` (``"tfds"``), through
:func:`jaxseg.data.bsds500.load_split`; both give the same rows.

All computation runs at ``--scale`` times the image size (default: the
SuperAE's training ``image_scale``; :func:`jaxseg.nn.superae.prepare_input`) and label
maps are upsampled (nearest, :func:`jaxseg.regions.labels.upsample_labels`) to the full
size for the benchmark. Every DSC run (``dsc``, ``dsc_img``, ``dsc_merge``) starts its
head from ``jax.random.key(seed)``, whatever the image's place in the data set. Rows are
printed next to the paper's numbers (Tables II and III; ``dsc_merge`` against Table III's
DSC row).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxseg.fileio import write_text_atomic
from jaxseg.regions.labels import region_means, upsample_labels

__all__ = [
    "PAPER",
    "VARIANTS",
    "default_config",
    "dsc_segmenter",
    "dsc_segs",
    "markdown",
    "run",
]

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


def default_config() -> ml_collections.ConfigDict:
    """The evaluation's settings (``eval.py dsc --help`` describes each).

    ``superae`` and ``out`` must be set; ``scale`` None is the SuperAE's ``image_scale``;
    ``max_segments`` pads DSC's superpixel count (one compiled function per image shape;
    an image with more superpixels is padded to its count rounded up to 64).
    """
    c = ml_collections.ConfigDict()
    c.superae = ""
    c.which = "best"
    c.data_dir = ml_collections.FieldReference(None, field_type=str)
    c.source = "folder"  # or "tfds": the prepared bsds500 TFDS dataset in tfds_dir
    c.tfds_dir = ""  # "" = TFDS's default data directory
    c.split = "test"
    c.limit = 0
    c.out = ""
    c.variants = ["img", "rec", "dsc_merge"]
    c.generator = "felzenszwalb"
    c.gen_kw = {}
    c.counts = [100, 50, 20, 10]
    c.base_count = 100
    c.partitions = [64, 32, 16, 8]
    c.ncut_thresh = ml_collections.FieldReference(None, field_type=list)
    c.scale = ml_collections.FieldReference(None, field_type=float)
    c.num_classes = 32
    c.num_iters = 128
    c.beta = 1.0
    c.sigma = 10.0
    c.train_encoder = False
    c.max_segments = 128
    c.logit_norm = "standardize"
    c.seed = 0
    c.write_every = 10
    return c


def _check_config(config) -> None:
    from jaxseg.data.bsds500 import SOURCES
    from jaxseg.regions.generators import GENERATORS

    if not config.superae or not config.out:
        raise ValueError("config.superae (a SuperAE folder) and config.out must be set.")
    if config.source not in SOURCES:
        raise ValueError(
            f"config.source={config.source!r} is not a BSDS500 source; use one of {SOURCES} "
            "(--source; docs/data.md)."
        )
    bad = [v for v in config.variants if v not in VARIANTS]
    if bad or not config.variants:
        raise ValueError(f"config.variants: unknown {bad}; choose from {VARIANTS}.")
    if config.generator not in GENERATORS:
        raise ValueError(f"config.generator={config.generator!r}: choose one of {GENERATORS}.")
    for name in ("counts", "partitions"):
        vals = list(config[name])
        if not vals or min(vals) < 1:
            raise ValueError(f"config.{name}={vals}: expected positive ints.")
    if config.scale is not None and not 0 < config.scale <= 1:
        raise ValueError(f"config.scale={config.scale}: must be in (0, 1] (None: the SuperAE's).")


def dsc_segmenter(config: ml_collections.ConfigDict, *, segs_level: int = 0):
    """The ``"dsc"`` :class:`jaxseg.pipeline.Segmenter` with the evaluation's settings.

    Args:
      config: as :func:`default_config` (``superae``, ``which``, ``generator``,
        ``gen_kw``, ``counts``, ``scale``, the DSC settings and ``seed``).
      segs_level: the default cut (does not change ``segs``).
    """
    from jaxseg.pipeline import Segmenter

    return Segmenter(
        "dsc",
        checkpoint=config.superae,
        which=config.which,
        generator=config.generator,
        gen_kw=dict(config.gen_kw),
        counts=list(config.counts),
        num_classes=config.num_classes,
        num_iters=config.num_iters,
        beta=config.beta,
        sigma=config.sigma,
        scale=config.scale,
        train_encoder=config.train_encoder,
        logit_norm=config.logit_norm,
        max_segments=config.max_segments,
        seed=config.seed,
        segs_level=segs_level,
    )


def dsc_segs(segmenter, image: np.ndarray) -> np.ndarray:
    """The ``dsc`` variant's segmentations of one image, at its size.

    Args:
      segmenter: from :func:`dsc_segmenter` (or any ``"dsc"`` Segmenter).
      image: ``(H, W, 3) float32`` in ``[0, 1]``, the full-size image.

    Returns:
      ``(L, H, W) int32``, labels ``0..k-1``: one DSC labelling per count, upsampled
      (nearest) to ``(H, W)``; what ``jaxseg segment --method dsc`` writes as ``segs``.
    """
    [res] = segmenter([np.asarray(image, np.float32)], output_shapes=[image.shape[:2]])
    return res.segs


def _kmeans_segs(features, labels, ks, seed):
    from scipy.cluster.vq import kmeans2

    f = region_means(labels, features)
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
    rag = _ncut_rag(region_means(labels, features), labels, sigma)
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


def markdown(rows: dict, generator: str, header: str) -> str:
    """Markdown table of ``rows`` (variant -> SC/PRI/VI at ODS/OIS) beside the paper's."""
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


def _write_results(config, out_dir, scale, n_total, evals, regions, seconds) -> dict:
    """Writes results.json / results.md for the images evaluated so far."""
    n_done = len(next(iter(evals.values())))
    variants = list(config.variants)
    rows = {v: _summary(evals[v]) for v in variants}
    levels = {v: _levels(evals[v], regions[v]) for v in variants}
    settings = {k: v for k, v in config.to_dict().items() if k != "out"}
    result = {
        "split": config.split,
        "n_images": n_done,
        "complete": n_done == n_total,
        "generator": config.generator,
        "scale": scale,
        "superae": str(config.superae),
        "settings": json.loads(json.dumps(settings)),
        "seconds_per_image": {v: seconds[v] / max(n_done, 1) for v in variants},
        "rows": rows,
        "levels": levels,
        "paper": {
            v: PAPER.get((config.generator, v)) or PAPER.get(("table3", v)) for v in variants
        },
    }
    write_text_atomic(out_dir / "results.json", json.dumps(result, indent=2) + "\n")
    partial = "" if n_done == n_total else f" (partial: {n_done} of {n_total})"
    header = (
        f"lin2021 DSC evaluation: BSDS500 {config.split}, {n_done} images{partial}, "
        f"generator {config.generator}, scale {scale}, DSC K={config.num_classes} "
        f"iters={config.num_iters} train_encoder={config.train_encoder} "
        f"logit_norm={config.logit_norm} beta={config.beta} sigma={config.sigma} "
        f"generator settings {json.dumps(dict(config.gen_kw))}. Paper rows: 200 images."
    )
    write_text_atomic(
        out_dir / "results.md", markdown(rows, config.generator, header) + _levels_markdown(levels)
    )
    return result


def run(config: ml_collections.ConfigDict) -> dict:
    """Runs the evaluation described by ``config`` (:func:`default_config`).

    Returns:
      the results dict written to ``config.out/results.json``.
    """
    from jaxseg.data import bsds500
    from jaxseg.metrics.bench import evaluate_image
    from jaxseg.metrics.io import GroundTruth
    from jaxseg.nn import dsc
    from jaxseg.nn.superae import embed, prepare_input, reconstruct
    from jaxseg.pipeline.dsc import padding
    from jaxseg.regions.generators import generate_counts

    _check_config(config)
    data = {"source": config.source, "tfds_dir": config.tfds_dir or None}
    data_dir = None  # fail fast, before the model: a bad folder or an unprepared dataset
    if config.source == "folder":
        data_dir = bsds500.resolve_data_dir(config.data_dir)
    else:
        from jaxseg.data.tfds_bsds500 import prepared_dir

        prepared_dir(data["tfds_dir"])
    segmenter = dsc_segmenter(config)  # loads the SuperAE and checks the DSC settings
    model = segmenter.method.model
    scale = segmenter.settings["scale"]
    records = bsds500.load_split(data_dir, config.split, limit=config.limit or None, **data)
    out_dir = Path(config.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = list(config.variants)
    counts, partitions = list(config.counts), list(config.partitions)
    gen_kw = dict(config.gen_kw)
    ncut_thresh = None if config.ncut_thresh is None else list(config.ncut_thresh)
    dsc_kw = segmenter.method.dsc_options()  # the dsc method's own options
    key = jax.random.key(config.seed)  # every image: the dsc method's key

    def run_dsc(image, superpixels):
        pad = padding(superpixels, config.max_segments)
        return dsc.dsc_segment(model, image, superpixels, key=key, max_segments=pad, **dsc_kw)

    evals: dict[str, list] = {v: [] for v in variants}
    seconds: dict[str, float] = {v: 0.0 for v in variants}
    regions: dict[str, list] = {v: [] for v in variants}
    for i, rec_ in enumerate(tqdm(records, desc="dsc eval")):
        full = rec_.image.astype(np.float32) / 255.0
        img = prepare_input(full, scale)
        recon = reconstruct(model, img)
        gt = GroundTruth(list(rec_.segmentations), list(rec_.boundaries))
        cache: dict = {}

        def sp(source, n, _img=img, _recon=recon, _cache=cache):
            if (source, n) not in _cache:  # all of `counts` at once (mean-shift shares work)
                src = _img if source == "img" else _recon
                want = counts if n in counts else [n]
                labels = generate_counts(config.generator, src, want, **gen_kw)
                _cache.update({(source, m): lab for m, lab in zip(want, labels, strict=True)})
            return _cache[(source, n)]

        def deep(image, _cache=cache):  # shared by kmeans_deep and ncut_deep
            if "deep" not in _cache:
                _cache["deep"] = embed(model, image)
            return _cache["deep"]

        for v in variants:
            t0 = time.perf_counter()
            if v in ("img", "rec"):
                segs = [sp(v, n) for n in counts]
            elif v == "dsc":
                segs = list(dsc_segs(segmenter, full))  # at the full size already
            elif v == "dsc_img":
                segs = [run_dsc(img, sp("img", n)).labels for n in counts]
            elif v == "dsc_merge":
                res = run_dsc(img, sp("rec", config.base_count))
                segs = dsc.merge_to_counts(res.labels, res.region_features, partitions)
            elif v == "kmeans_rgb":
                segs = _kmeans_segs(img, sp("rec", config.base_count), partitions, config.seed)
            elif v == "kmeans_deep":
                feats = deep(img)
                segs = _kmeans_segs(feats, sp("rec", config.base_count), partitions, config.seed)
            else:  # ncut_rgb / ncut_deep
                feats = img if v == "ncut_rgb" else deep(img)
                segs = _ncut_segs(
                    feats,
                    sp("rec", config.base_count),
                    counts=partitions,
                    thresholds=ncut_thresh,
                    seed=config.seed,
                )
            seconds[v] += time.perf_counter() - t0
            regions[v].append([int(s.max()) + 1 for s in segs])
            stack = np.stack([upsample_labels(s, gt.shape) + 1 for s in segs])
            evals[v].append(evaluate_image(stack, gt, bench="region"))
        done = i + 1
        if done < len(records) and config.write_every and done % config.write_every == 0:
            _write_results(config, out_dir, scale, len(records), evals, regions, seconds)

    return _write_results(config, out_dir, scale, len(records), evals, regions, seconds)
