"""Tests for jaxseg.experiments.wang2020: end-to-end runs on tiny data, the val-chosen T."""

import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from jaxseg import pipeline
from jaxseg.cli import eval_wang2020
from jaxseg.experiments import wang2020 as evaluation
from jaxseg.metrics.boundary import seg2bdry, thin
from jaxseg.metrics.region import ucm2_to_segmentation
from jaxseg.regions.labels import majority_label, region_means
from jaxseg.regions.merge import labels_to_ucm2

H, W = 30, 40
# Three vertical bands; the ucm2 below puts A|B at level 0.7 and B|C at 0.3.
BANDS = np.repeat(np.array([0] * 13 + [1] * 14 + [2] * 13)[None], H, axis=0)
UCM = labels_to_ucm2(BANDS, np.array([[0, 1], [1, 2]]), np.array([0.7, 0.3]))


def _write_gt(path, segs):
    cell = np.empty((1, len(segs)), dtype=object)
    for k, seg in enumerate(segs):
        cell[0, k] = {
            "Segmentation": seg.astype(np.uint16),
            "Boundaries": thin(seg2bdry(seg)).astype(np.uint8),
        }
    scipy.io.savemat(path, {"groundTruth": cell})


@pytest.fixture()
def tiny_bsds(tmp_path):
    """A BSDS500-like folder: 2 val and 2 test images of 30x40 with two humans each.

    On val the humans draw only the A|B boundary, on test only B|C, so the best
    threshold of UCM differs between the two splits (0.5 on val, 0.25 on test).
    """
    rng = np.random.default_rng(0)
    data = tmp_path / "BSDS500" / "data"
    val_gt = np.where(BANDS == 0, 1, 2)
    test_gt = np.where(BANDS == 2, 2, 1)
    for split, gt in (("val", val_gt), ("test", test_gt)):
        (data / "images" / split).mkdir(parents=True)
        (data / "groundTruth" / split).mkdir(parents=True)
        for image_id in ("101", "202"):
            colours = rng.uniform(0, 255, size=(3, 3))
            image = colours[BANDS] + rng.normal(0, 3, size=(H, W, 3))
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
                data / "images" / split / f"{image_id}.jpg", quality=95
            )
            _write_gt(data / "groundTruth" / split / f"{image_id}.mat", [gt, gt])
    return tmp_path / "BSDS500"


class _Bands(pipeline.Method):
    """A pipeline method whose superpixels are the three bands, merged as in UCM."""

    name = "bands"

    @classmethod
    def defaults(cls, checkpoint=None):
        return {"threshold": 0.5}

    def __call__(self, images):
        pairs, levels = np.array([[0, 1], [1, 2]]), np.array([0.7, 0.3])
        return [pipeline.Hierarchy(BANDS.astype(np.int32), pairs, levels) for _ in images]


def _bands_segmenters(cfg, counts, *, workdir=None, fixed=None):
    """Stands in for `evaluation.segmenters`: the `_Bands` method at the fixed threshold."""
    segmenter = object.__new__(pipeline.Segmenter)
    segmenter.method = _Bands(threshold=0.5 if fixed is None else fixed)
    return {int(n): segmenter for n in counts}


def test_bands_method_draws_ucm():
    [res] = _bands_segmenters(None, [3], fixed=0.5)[3]([np.zeros((H, W, 3), np.float32)])
    np.testing.assert_array_equal(res.ucm2, UCM)
    np.testing.assert_array_equal(res.segments + 1, ucm2_to_segmentation(UCM, 0.5))


def test_threshold_is_chosen_on_val_and_scored_on_test(tiny_bsds, monkeypatch):
    monkeypatch.setattr(evaluation, "segmenters", _bands_segmenters)
    cfg = evaluation.default_config()
    cfg.update(dict(select_nthresh=3, nthresh=3, workers=1))
    report = evaluation.evaluate(cfg, data_dir=tiny_bsds)
    sel = report["selection"]
    # val: t = 0.25 keeps both lines (R 1, P 1/2), t = 0.5 only A|B (F = 1), t = 0.75 none.
    assert sel["split"] == "val" and sel["n_images"] == 2
    assert sel["ods_t"] == pytest.approx(0.5)
    assert sel["score"] == pytest.approx(1.0)
    assert sel["setting"] == pytest.approx(0.5)  # T = 1 - t*
    fixed = report["segmentation"]["fixed"]
    assert fixed["T"] == pytest.approx(0.5)
    # On test the humans drew only B|C, which T = 0.5 (level 0.3 <= 0.5) merges away.
    assert fixed["bf_ods"] == pytest.approx(0.0)
    hier = report["segmentation"]["hierarchy"]
    # Test's own best threshold would have been 0.25 (both lines: R 1, P 1/2, F 2/3).
    assert hier["bf_ods_t"] == pytest.approx(0.25)
    assert hier["bf_ods"] == pytest.approx(2 / 3)


def test_select_by_pri(tiny_bsds, monkeypatch):
    monkeypatch.setattr(evaluation, "segmenters", _bands_segmenters)
    cfg = evaluation.default_config()
    cfg.update(dict(select_nthresh=3, nthresh=3, workers=1, select_by="pri"))
    sel = evaluation.evaluate(cfg, data_dir=tiny_bsds)["selection"]
    # PRI on val is 1 exactly when A | (B+C): thresholds 0.5 (first maximiser).
    assert sel["criterion"] == "pri" and sel["ods_t"] == pytest.approx(0.5)
    assert sel["score"] == pytest.approx(1.0)


def _covering(seg, gt):
    """Covering of ``gt`` by ``seg``: sum over GT regions R of |R| max_S |R & S| / |R | S|, / N."""
    total = 0.0
    for r in np.unique(gt):
        in_r = gt == r
        total += in_r.sum() * max(
            (in_r & (seg == s)).sum() / (in_r | (seg == s)).sum() for s in np.unique(seg)
        )
    return total / gt.size


def _rand_index(seg, gt):
    """Fraction of the N(N-1)/2 pixel pairs on which both agree (same region or not)."""
    a, b = seg.ravel(), gt.ravel()
    agree = (a[:, None] == a[None, :]) == (b[:, None] == b[None, :])
    n = a.size
    return (agree.sum() - n) / (n * (n - 1))


def _variation_of_information(seg, gt):
    """H(seg | gt) + H(gt | seg) in bits, from the region masks."""
    vi = 0.0
    for s in np.unique(seg):
        for g in np.unique(gt):
            p = ((seg == s) & (gt == g)).mean()
            if p > 0:
                vi -= p * (np.log2(p / (gt == g).mean()) + np.log2(p / (seg == s).mean()))
    return vi


def test_scores_against_hand_worked_values(tiny_bsds, monkeypatch):
    monkeypatch.setattr(evaluation, "segmenters", _bands_segmenters)
    cfg = evaluation.default_config()
    cfg.update(dict(select_nthresh=3, nthresh=3, workers=1, n_segments=(3,)))
    report = evaluation.evaluate(cfg, data_dir=tiny_bsds)
    tol = 5e-6  # per-image figures are rounded to 6 digits, as in the official files
    # Superpixels = the bands: every test boundary (B|C) is a superpixel boundary (BR 1)
    # and every band lies inside one human region (ASA 1, UE 0); half the superpixel
    # boundary (A|B) is not in the GT: boundary P 1/2, R 1, F 2/3.
    sp = report["superpixels"]["3"]
    assert sp["count"] == 3
    assert sp["br"] == pytest.approx(1.0, abs=tol) and sp["asa"] == pytest.approx(1.0, abs=tol)
    assert sp["ue"] == pytest.approx(0.0, abs=tol)
    assert sp["bf"] == pytest.approx(2 / 3, abs=1e-3)
    # Compactness: bands of 30 x 13, 30 x 14, 30 x 13 px, perimeter 2 (30 + w) pixel sides.
    co = sum(30 * w / 1200 * 4 * np.pi * 30 * w / (2 * (30 + w)) ** 2 for w in (13, 14, 13))
    assert sp["compactness"] == pytest.approx(co, abs=tol)
    # Hierarchy on test (GT: A+B | C): t = 0.25 gives A | B | C, t = 0.5 A | B+C, t = 0.75
    # one region. Covering: 27/40 (A|B|C), 13/27 (A|B+C), 0.56125 (one region).
    gt = np.where(BANDS == 2, 2, 1)
    parts = [np.asarray(BANDS), np.where(BANDS == 0, 1, 2), np.ones_like(BANDS)]
    covering = [_covering(seg, gt) for seg in parts]
    np.testing.assert_allclose(covering, [27 / 40, 13 / 27, 0.56125])
    ri = [_rand_index(seg, gt) for seg in parts]
    vi = [_variation_of_information(seg, gt) for seg in parts]
    hier = report["segmentation"]["hierarchy"]
    assert hier["sc_ods"] == pytest.approx(max(covering), abs=tol)
    assert hier["pri_ods"] == pytest.approx(max(ri), abs=tol)
    assert hier["vi_ods"] == pytest.approx(min(vi), abs=tol)
    # Fixed: T = 0.5 chosen on val (A | B+C) scored on test.
    fixed = report["segmentation"]["fixed"]
    assert fixed["sc_ods"] == pytest.approx(13 / 27, abs=tol)
    assert fixed["pri_ods"] == pytest.approx(ri[1], abs=tol)
    assert fixed["vi_ods"] == pytest.approx(vi[1], abs=tol)
    # On val, A | B+C is the humans' own segmentation: covering 1, PRI 1, VI 0, GCE 0.
    cfg.split = "val"
    fixed = evaluation.evaluate(cfg, data_dir=tiny_bsds)["segmentation"]["fixed"]
    assert fixed["sc_ods"] == pytest.approx(1.0, abs=tol)
    assert fixed["pri_ods"] == pytest.approx(1.0, abs=tol)
    assert fixed["vi_ods"] == pytest.approx(0.0, abs=tol)
    assert fixed["gce"] == pytest.approx(0.0, abs=tol)
    assert fixed["bf_ods"] == pytest.approx(1.0, abs=tol)


def _check_report(report, n_segments):
    assert report["split"] == "test" and report["n_images"] == 2
    assert report["selection"]["split"] == "val"
    for n in n_segments:
        sp = report["superpixels"][str(n)]
        for key in ("bf", "br", "ue", "asa", "compactness"):
            assert 0.0 <= sp[key] <= 1.0, (n, key, sp[key])
        assert 0.25 * n <= sp["count"] <= 2 * n
    for form in ("hierarchy", "fixed"):
        seg = report["segmentation"][form]
        for key in ("bf_ods", "pri_ods", "gce", "sc_ods"):
            assert 0.0 <= seg[key] <= 1.0, (form, key, seg[key])
        assert seg["vi_ods"] >= 0.0
    hier = report["segmentation"]["hierarchy"]
    # Mean of per-image maxima >= max of the mean (BF's ODS interpolates, so no such bound).
    assert hier["pri_ois"] >= hier["pri_ods"] - 1e-12
    assert 0.0 <= report["segmentation"]["fixed"]["T"] <= 1.0


@pytest.fixture(scope="module")
def slic_cli_run(bsds_tfds_pairs, tmp_path_factory, fast_compile_module):
    """``eval.py --method slic`` on the first 2 val and 2 test images of BSDS500 (the folder
    of `bsds_tfds_pairs`), metric work in this process: ``(report, out folder)``. Shared by
    the command-line test and the folder-vs-TFDS test (one SLIC compile, no worker pool)."""
    root, _ = bsds_tfds_pairs
    out = tmp_path_factory.mktemp("slic_cli") / "out"
    argv = ["--method", "slic", "--limit", "2", "--nthresh", "3", "--select_nthresh", "3",
            "--n_segments", "100", "--workers", "1", "--data_dir", str(root),
            "--out", str(out)]  # fmt: skip
    assert eval_wang2020.main(argv) == 0
    return json.loads((out / "results.json").read_text()), out


def test_main_slic_on_two_real_images(slic_cli_run):
    report, out = slic_cli_run
    _check_report(report, [100])
    assert report["selection"]["n_images"] == 2
    # The table shows the measured numbers (beside the paper's rows).
    table = (out / "results.md").read_text()
    sp = report["superpixels"]["100"]
    cells = " | ".join(f"{sp[k]:.3f}" for k in ("bf", "br", "ue", "compactness", "asa"))
    assert f"| 100 | {cells} | {sp['count']:.1f} |" in table
    assert "| SLIC (paper) | 0.440 | 0.552 | 0.145 | 0.661 |" in table


def test_wang2020_method_with_an_exported_model(tiny_bsds, tmp_path, fast_compile):
    from flax import nnx

    from configs import wang2020_tiny
    from jaxseg.train.checkpointing import export_model
    from jaxseg.train.tasks import wang2020

    config = wang2020_tiny.get_config()
    model_dir = export_model(wang2020.create_model(config, nnx.Rngs(0)), config, tmp_path / "m")
    cfg = evaluation.default_config()
    cfg.update(dict(n_segments=(9,), seg_n_segments=9, nthresh=3, select_nthresh=3, workers=1))
    report = evaluation.evaluate(cfg, workdir=model_dir, data_dir=tiny_bsds)
    _check_report(report, [9])
    assert report["method"] == "wang2020"


def test_seg_n_candidates_choose_the_best_val_score(tiny_bsds):
    cfg = evaluation.default_config()
    cfg.update(
        dict(method="slic", n_segments=(9,), seg_n_candidates=(4, 16), nthresh=3,
             select_nthresh=3, workers=1, select_only=True)
    )  # fmt: skip
    report = evaluation.evaluate(cfg, data_dir=tiny_bsds)
    sel = report["selection"]
    assert "segmentation" not in report  # select_only stops before the test split
    scores = {int(n): c["score"] for n, c in sel["candidates"].items()}
    assert set(scores) == {4, 16}
    assert sel["seg_n_segments"] == max(scores, key=scores.get)
    assert sel["score"] == max(scores.values())
    assert report["settings"]["seg_n_segments"] == sel["seg_n_segments"]
    assert cfg.seg_n_segments == 100  # the caller's config is not changed
    md = evaluation.markdown_report(report)
    assert f"seg_n_segments = {sel['seg_n_segments']} of 4 (" in md
    # Each candidate's val score is what a plain selection at that count gives.
    cfg.update(dict(seg_n_candidates=(), seg_n_segments=4))
    assert evaluation.evaluate(cfg, data_dir=tiny_bsds)["selection"]["score"] == scores[4]


def test_felzenszwalb_scale_is_one_of_the_sweep(tiny_bsds):
    cfg = evaluation.default_config()
    cfg.update(dict(method="felzenszwalb", felzenszwalb_scales=(1.0, 50.0, 5000.0), workers=1))
    report = evaluation.evaluate(cfg, data_dir=tiny_bsds)
    assert "superpixels" not in report
    assert report["selection"]["setting"] in (1.0, 50.0, 5000.0)
    assert report["segmentation"]["fixed"]["scale"] == report["selection"]["setting"]
    md = evaluation.markdown_report(report)
    assert "EGB (jaxseg), fixed scale" in md and "| EGB (paper) | 0.602 |" in md


def test_bad_inputs(tiny_bsds, tmp_path):
    with pytest.raises(ValueError, match="--workdir"):
        evaluation.evaluate(evaluation.default_config(), data_dir=tiny_bsds)
    cfg = evaluation.default_config()
    cfg.method = "meanshift"
    with pytest.raises(ValueError, match="method='meanshift'"):
        evaluation.evaluate(cfg, data_dir=tiny_bsds)
    cfg = evaluation.default_config()
    cfg.update(dict(method="slic", select_by="gce"))
    with pytest.raises(ValueError, match="select_by='gce'"):
        evaluation.evaluate(cfg, data_dir=tiny_bsds)
    cfg = evaluation.default_config()
    cfg.method = "slic"
    with pytest.raises(FileNotFoundError, match="not a BSDS500 directory"):
        evaluation.evaluate(cfg, data_dir=tmp_path)
    bad = tmp_path / "bad_config.py"
    bad.write_text(
        "from jaxseg.experiments.wang2020 import default_config\n"
        "def get_config():\n    c = default_config()\n    c.nthres = 5\n    return c\n"
    )
    with pytest.raises(ValueError, match=r"unknown evaluation settings \['nthres'\]"):
        evaluation.load_config(bad)
    with pytest.raises(SystemExit):
        eval_wang2020.main(["--method", "meanshift"])
    with pytest.raises(SystemExit, match="--n-segments"):
        eval_wang2020.main(
            ["--method", "slic", "--n_segments", "a,b", "--data_dir", str(tiny_bsds)]
        )
    with pytest.raises(SystemExit, match=r"--seg-n-candidates='100,x': give counts like"):
        eval_wang2020.main(["--method", "slic", "--seg_n_candidates", "100,x"])
    cfg = evaluation.default_config()
    cfg.update(dict(method="slic", seg_n_candidates=(100, 0)))
    with pytest.raises(ValueError, match="seg_n_candidates must be positive"):
        evaluation.evaluate(cfg, data_dir=tiny_bsds)


def test_load_config_accepts_eval_and_training_configs():
    cfg = evaluation.load_config("configs/eval_default.py")
    assert cfg.to_dict() == evaluation.default_config().to_dict()
    cfg = evaluation.load_config("configs/wang2020_tiny.py")  # a training config: defaults
    assert cfg.method == "wang2020" and cfg.n_segments == (100, 300, 600)


def test_region_features_of_connected_superpixels():
    raw = np.array([[0, 0, 1, 1], [0, 2, 1, 1]])  # raw label 2: one pixel inside label 0
    connected = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])  # after absorbing it
    rows = np.array([[10.0], [20.0], [30.0]])
    np.testing.assert_array_equal(rows[majority_label(connected, raw)], [[10], [20]])
    values = np.arange(8, dtype=float).reshape(2, 4, 1)  # rows 0 1 2 3 / 4 5 6 7
    np.testing.assert_allclose(region_means(connected, values), [[2.5], [4.5]])


@pytest.mark.slow
def test_folder_and_tfds_sources_give_the_same_report(bsds_tfds_pairs, slic_cli_run):
    """2 val + 2 test images read from the folder (`slic_cli_run`) and from the prepared
    TFDS dataset: the same report, superpixel and segmentation tables alike (the tfds run
    goes through the worker processes, so the ground truth records sent to them are the
    ones scored)."""
    root, tfds_dir = bsds_tfds_pairs
    folder, _ = slic_cli_run
    cfg = evaluation.default_config()
    cfg.update(
        dict(method="slic", n_segments=(100,), seg_n_segments=100, nthresh=3,
             select_nthresh=3, limit=2, source="tfds", tfds_dir=str(tfds_dir), workers=2)
    )  # fmt: skip
    tfds = evaluation.evaluate(cfg, data_dir=root / "not_read")
    assert tfds["settings"]["source"] == "tfds" and folder["settings"]["source"] == "folder"
    assert tfds["settings"]["workers"] == 2 and folder["settings"]["workers"] == 1
    assert tfds["n_images"] == folder["n_images"] == 2
    assert tfds["images"] == folder["images"] and len(set(folder["images"])) == 2
    for key in ("selection", "superpixels", "segmentation"):
        a, b = ({k: v for k, v in r[key].items() if k != "seconds_inference"}
                for r in (folder, tfds))  # fmt: skip
        assert a == b, key
    _check_report(folder, [100])
    # Something was measured: the superpixels touch the humans' boundaries.
    assert folder["superpixels"]["100"]["br"] > 0.2


def test_source_errors(tmp_path):
    cfg = evaluation.default_config()
    cfg.update(dict(method="slic", source="zip"))
    with pytest.raises(ValueError, match=r"source='zip' is not a BSDS500 source.*--source"):
        evaluation.evaluate(cfg, data_dir=tmp_path)
    cfg.update(dict(source="tfds", tfds_dir=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match=r"holds no prepared bsds500"):
        evaluation.evaluate(cfg)
    args = ["--method", "slic", "--source", "tfds", "--tfds_dir", str(tmp_path / "none")]
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none")):
        eval_wang2020.main(args + ["--out", str(tmp_path / "out")])


def test_wang2020_merging_settings_reach_the_method():
    """eval.py's linkage / edge_weights / recompute become the pipeline method's settings;
    unset, the packaged model's recorded merging applies (its settings.json)."""
    from jaxseg.pipeline.wang2020 import PACKAGED, recorded_settings

    cfg = evaluation.default_config()
    cfg.method = "wang2020"

    def method(**overrides):
        c = cfg.copy_and_resolve_references()
        c.update(overrides)
        seg = evaluation.segmenters(c, [100], workdir=PACKAGED)[100]
        return seg.method.settings

    recorded = recorded_settings(PACKAGED)
    got = method()
    assert got["linkage"] == recorded["linkage"] and got["edge_weights"] == recorded["edge_weights"]
    got = method(linkage="single", edge_weights=[])
    assert got["linkage"] == "single" and got["edge_weights"] is None
    # recompute=True is the average linkage, without the recorded edge weights (which that
    # linkage cannot use): no conflict with the recorded boundary linkage.
    got = method(recompute=True)
    assert got["linkage"] == "average" and got["edge_weights"] is None
