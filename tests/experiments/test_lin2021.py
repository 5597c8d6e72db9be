"""The lin2021 evaluation (``eval.py dsc``, :mod:`jaxseg.experiments.lin2021`) on tiny data:
its rows are the benchmark of the segmentations each variant makes, its options reach the
generators and DSC, and the baselines behave on synthetic images."""

import json

import ml_collections
import numpy as np
import pytest
from flax import nnx

from jaxseg.cli import eval_dsc
from jaxseg.experiments import lin2021
from jaxseg.metrics import bench
from jaxseg.nn import dsc
from jaxseg.nn.superae import SuperAE
from jaxseg.train import checkpointing


def _region_scores(seg, gts):
    """Covering, PRI and VI (log2) of one segmentation against the humans, from the
    contingency tables (the definitions, computed here independently)."""
    cover, ri, vi = 0.0, 0.0, 0.0
    for gt in gts:
        _, a = np.unique(seg, return_inverse=True)
        _, b = np.unique(gt, return_inverse=True)
        n = np.zeros((a.max() + 1, b.max() + 1))
        np.add.at(n, (a.ravel(), b.ravel()), 1)
        rows, cols, total = n.sum(1), n.sum(0), n.sum()
        cover += np.sum(cols * np.max(n / (rows[:, None] + cols[None, :] - n), axis=0)) / total
        pairs = total * (total - 1) / 2
        ri += 1 - (np.sum(rows**2) / 2 + np.sum(cols**2) / 2 - np.sum(n**2)) / pairs
        joint = n[n > 0] / total
        vi += -np.sum(rows / total * np.log2(rows / total))
        vi += -np.sum(cols / total * np.log2(cols / total))
        vi -= 2 * np.sum(joint * np.log2(joint / np.outer(rows, cols)[n > 0] * total**2))
    return cover / len(gts), ri / len(gts), vi / len(gts)


@pytest.fixture(scope="module")
def superae_dir(tmp_path_factory):
    """An untrained SuperAE exported at scale 0.25 (read only: shared by the tests)."""
    config = ml_collections.ConfigDict({"task": "superae", "image_scale": 0.25})
    path = tmp_path_factory.mktemp("superae") / "model"
    checkpointing.export_model(SuperAE(rngs=nnx.Rngs(0)), config, path)
    return path


def test_eval_dsc_end_to_end_small(bsds_root, tmp_path, monkeypatch, superae_dir):

    evaluated = []  # (segmentation stack, ground truth) of every evaluate_image call
    evaluate_image = bench.evaluate_image

    def spy(stack, gt, **kw):
        evaluated.append((stack, gt))
        return evaluate_image(stack, gt, **kw)

    monkeypatch.setattr(bench, "evaluate_image", spy)
    argv = ["--superae", str(superae_dir), "--data_dir", str(bsds_root), "--limit", "1"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "img,kmeans_rgb,ncut_deep"]
    argv += ["--counts", "12,6", "--base_count", "12", "--partitions", "4,2"]
    assert eval_dsc.main(argv) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["n_images"] == 1 and res["scale"] == 0.25
    # Each row is the best level's SC / PRI / VI of the segmentations the variant made
    # (one image: ODS = OIS), at the full image size.
    assert len(evaluated) == 3
    for variant, (stack, gt) in zip(("img", "kmeans_rgb", "ncut_deep"), evaluated, strict=True):
        assert stack.shape == (2, *gt.shape) and stack.min() >= 1
        regions = [len(np.unique(level)) for level in stack]
        assert regions == res["levels"][variant]["regions"]
        scores = np.array([_region_scores(level, gt.segmentations) for level in stack])
        row = res["rows"][variant]
        for col, best in (("sc", max), ("pri", max), ("vi", min)):
            expect = best(scores[:, ("sc", "pri", "vi").index(col)])
            assert row[f"{col}_ods"] == pytest.approx(expect, abs=5e-6), (variant, col)
            assert row[f"{col}_ois"] == pytest.approx(expect, abs=5e-6), (variant, col)
    # img: the image's own superpixels, near the two counts asked for.
    assert 6 <= res["levels"]["img"]["regions"][0] <= 18
    assert res["levels"]["img"]["regions"][1] < res["levels"]["img"]["regions"][0]
    assert "| img | ours |" in (tmp_path / "out" / "results.md").read_text()


def test_eval_dsc_bad_arguments():

    with pytest.raises(SystemExit):
        eval_dsc.build_parser().parse_args(["--superae", "x", "--out", "y", "--variants", "dscc"])
    with pytest.raises(SystemExit):
        eval_dsc.build_parser().parse_args(["--superae", "x", "--out", "y", "--counts", "0"])


def test_eval_dsc_levels_and_generator_settings(bsds_root, tmp_path, monkeypatch, superae_dir):

    written = []
    write = lin2021._write_results

    def spy(*a, **k):
        out = write(*a, **k)
        written.append((out["n_images"], out["complete"]))
        return out

    monkeypatch.setattr(lin2021, "_write_results", spy)

    argv = ["--superae", str(superae_dir), "--data_dir", str(bsds_root), "--limit", "2"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "img", "--counts", "12,3"]
    argv += ["--gen_kw", '{"min_size_frac": 0.25}', "--write_every", "1"]
    assert eval_dsc.main(argv) == 0
    assert written == [(1, False), (2, True)]  # partial results after image 1
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    lv = res["levels"]["img"]
    assert len(lv["sc"]) == len(lv["vi"]) == len(lv["regions"]) == 2
    assert lv["regions"][0] > lv["regions"][1] >= 1
    # ODS is the best level over the data set.
    assert res["rows"]["img"]["sc_ods"] == pytest.approx(max(lv["sc"]), abs=1e-6)
    assert res["rows"]["img"]["vi_ods"] == pytest.approx(min(lv["vi"]), abs=1e-6)
    assert res["settings"]["gen_kw"] == {"min_size_frac": 0.25}
    assert "| img | " in (tmp_path / "out" / "results.md").read_text()
    with pytest.raises(SystemExit):
        eval_dsc.build_parser().parse_args(["--superae", "x", "--out", "y", "--gen_kw", "[1]"])


def test_eval_dsc_max_segments_is_shared_and_falls_back(
    bsds_root, tmp_path, monkeypatch, superae_dir
):
    """dsc_img pads every image to --max_segments unless it has more superpixels, then to
    its count rounded up to 64 (the dsc method's rule, decided per image)."""
    seen = []

    def fake_segment(model, image, superpixels, *, key, max_segments=None, **kw):
        seen.append((int(superpixels.max()) + 1, max_segments))
        return dsc.DSCResult(superpixels, np.zeros((int(superpixels.max()) + 1, 2)), None)

    monkeypatch.setattr(dsc, "dsc_segment", fake_segment)
    argv = ["--superae", str(superae_dir), "--data_dir", str(bsds_root), "--limit", "1"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "dsc_img", "--counts", "40,5"]
    assert eval_dsc.main(argv + ["--max_segments", "16"]) == 0
    (m_fine, pad_fine), (m_coarse, pad_coarse) = seen
    assert 16 < m_fine <= 64 and pad_fine == 64  # too many superpixels: rounded up to 64
    assert m_coarse <= 16 and pad_coarse == 16


def test_ncut_reaches_counts_and_follows_colour():
    """NCut baseline on a 4x4 grid of superpixels in 4 quadrants: red / dark red on
    top, blue / dark blue below, so the 2-region cut is top vs bottom."""

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:32, :32]
    labels = ((ys // 8) * 4 + xs // 8).astype(np.int32)  # 16 superpixels
    quad = (ys // 16) * 2 + xs // 16
    colours = np.array([[1, 0, 0], [0.7, 0, 0], [0, 0, 1], [0, 0, 0.7]], np.float32)
    image = colours[quad] + 0.02 * rng.normal(size=(32, 32, 3)).astype(np.float32)
    segs = lin2021._ncut_segs(image, labels, counts=[4, 2], seed=0)
    assert [int(s.max()) + 1 for s in segs] == [4, 2]
    # the 4-region cut is the quadrant partition (up to relabelling)
    pairs = {(int(a), int(b)) for a, b in zip(segs[0].ravel(), quad.ravel(), strict=True)}
    assert len(pairs) == 4
    # the 2-region cut is top vs bottom
    top, bottom = segs[1][:16], segs[1][16:]
    assert np.unique(top).size == 1 and np.unique(bottom).size == 1 and top[0, 0] != bottom[0, 0]
    # native thresholds: a tiny threshold cuts nothing
    (one,) = lin2021._ncut_segs(image, labels, thresholds=[1e-6], seed=0)
    assert int(one.max()) == 0


def test_eval_dsc_folder_and_tfds_sources_give_the_same_rows(
    bsds_tfds_pairs, tmp_path, superae_dir
):
    """The cheapest variant (img) on 2 val images read from the folder and from the
    prepared TFDS dataset: the same rows and levels."""
    root, tfds_dir = bsds_tfds_pairs
    argv = ["--superae", str(superae_dir), "--split", "val", "--limit", "2"]
    argv += ["--variants", "img", "--counts", "12,3"]
    results = {}
    for source, extra in (
        ("folder", ["--data_dir", str(root)]),
        ("tfds", ["--source", "tfds", "--tfds_dir", str(tfds_dir), "--data_dir", "not_read"]),
    ):
        assert eval_dsc.main([*argv, *extra, "--out", str(tmp_path / source)]) == 0
        results[source] = json.loads((tmp_path / source / "results.json").read_text())
    folder, tfds = results["folder"], results["tfds"]
    assert folder["settings"]["source"] == "folder" and tfds["settings"]["source"] == "tfds"
    assert folder["n_images"] == tfds["n_images"] == 2
    assert folder["rows"] == tfds["rows"] and folder["levels"] == tfds["levels"]
    assert folder["levels"]["img"]["regions"][0] > folder["levels"]["img"]["regions"][1]


def test_eval_dsc_source_errors(tmp_path):
    config = lin2021.default_config()
    config.update(dict(superae="x", out=str(tmp_path), source="zip"))
    with pytest.raises(ValueError, match=r"config.source='zip' is not a BSDS500 source"):
        lin2021.run(config)
    config.update(dict(source="tfds", tfds_dir=str(tmp_path / "none")))
    with pytest.raises(FileNotFoundError, match=r"holds no prepared bsds500"):
        lin2021.run(config)  # before the model is read
    with pytest.raises(SystemExit):
        eval_dsc.build_parser().parse_args(["--superae", "x", "--out", "y", "--source", "zip"])
