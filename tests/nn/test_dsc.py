"""Deep Superpixel Cut: pieces against hand-made cases, vmap == loop, gradients vs. finite diff."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import ndimage

from jaxseg.nn import dsc
from jaxseg.nn.superae import SuperAE

# Big graphs compiled once: optimisations only cost compile time here.
pytestmark = pytest.mark.usefixtures("fast_compile")


def _blocks(k):
    """Block-diagonal W over 2k superpixels (pairs), and the matching hard P."""
    m = 2 * k
    w = np.zeros((m, m), np.float32)
    p = np.zeros((m, k), np.float32)
    for c in range(k):
        w[2 * c : 2 * c + 2, 2 * c : 2 * c + 2] = 1.0
        p[2 * c : 2 * c + 2, c] = 1.0
    return w, p


def test_soft_cut_zero_for_perfect_partition_and_grows_with_cut_edge():
    w, p = _blocks(3)
    assert float(dsc.soft_cut(w, p)) == pytest.approx(0.0, abs=1e-6)
    values = []
    for strength in (0.1, 0.5, 1.0):
        w2 = w.copy()
        w2[1, 2] = w2[2, 1] = strength  # an edge across classes 0 and 1
        values.append(float(dsc.soft_cut(w2, p)))
    assert 0 < values[0] < values[1] < values[2]
    # Closed form for the strongest edge: classes 0 and 1 each lose 1 of assoc 5.
    assert values[2] == pytest.approx(2 * (1 / 5), rel=1e-5)
    # An unused class costs 1 (the limit of a vanishing class), so collapse is not free.
    p_one = np.zeros_like(p)
    p_one[:, 0] = 1.0
    assert float(dsc.soft_cut(w, p_one)) == pytest.approx(2.0, abs=1e-6)


def test_similarity_matrix_against_numpy():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((5, 4)).astype(np.float32)
    c = np.array([[0, 0], [0, 3], [10, 0], [1, 1], [50, 50]], np.float32)
    valid = np.array([True, True, True, True, False])
    w = np.asarray(dsc.similarity_matrix(f, c, valid, sigma=10.0, radius=5.0))
    ref = np.exp(-((f[:, None] - f[None]) ** 2).sum(-1) / 10.0)
    near = np.linalg.norm(c[:, None] - c[None], axis=-1) < 5.0
    ref = np.where(near & valid[:, None] & valid[None], ref, 0.0)
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-7)
    assert w[0, 2] == 0 and w[4, 4] == 0 and w[0, 0] == pytest.approx(1.0)


def test_pseudo_labels_hand_case():
    # Two superpixels (left/right halves); the left one has 3 pixels of class 2
    # and 1 of class 0 -> all class 2; the right one ties 1:1 -> smallest class (0).
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.int32)
    cls = np.array([[2, 2, 0, 1], [2, 0, 1, 0]])
    logits = np.eye(3, dtype=np.float32)[cls] * 5.0
    out = np.asarray(dsc.pseudo_labels(logits, labels, 4))
    np.testing.assert_array_equal(out, [[2, 2, 0, 0], [2, 2, 0, 0]])


def _np_dsc_loss(x, labels, cent, valid, pseudo, *, w_features, sigma, radius):
    """Eq. 9 in float64 NumPy: CE to fixed pseudo-labels + soft cut with W built from
    ``w_features`` (the pooled logits themselves, or a constant for W held fixed)."""
    m, k = len(valid), x.shape[-1]
    logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    ce = -np.mean(np.take_along_axis(logp, pseudo[..., None], -1))
    member = labels.reshape(-1)[None, :] == np.arange(m)[:, None]  # (m, P)
    f = member @ x.reshape(-1, k) / np.maximum(member.sum(1), 1)[:, None]
    soft = np.exp(f) / np.exp(f).sum(-1, keepdims=True) * valid[:, None]
    wf = f if w_features is None else w_features
    near = ((cent[:, None] - cent[None]) ** 2).sum(-1) < radius**2
    near &= valid[:, None] & valid[None, :]
    w = np.where(near, np.exp(-((wf[:, None] - wf[None]) ** 2).sum(-1) / sigma), 0.0)
    assoc = (w.sum(1)[:, None] * soft).sum(0)
    within = np.einsum("ik,ij,jk->k", soft, w, soft)
    return ce + k - np.sum(within / (assoc + 1e-8)), f


def test_dsc_loss_gradients_match_float64_finite_differences():
    rng = np.random.default_rng(0)
    labels = np.arange(64).reshape(8, 8) // 16  # 4 stripes (label 4 empty: padding)
    logits = rng.standard_normal((8, 8, 5))
    cent = np.array([[1.5, 3.5], [3.5, 3.5], [5.5, 3.5], [7.5, 3.5], [0, 0]])
    valid = np.array([True, True, True, True, False])
    pseudo = np.asarray(dsc.pseudo_labels(logits.astype(np.float32), labels, 5))
    kw = dict(sigma=10.0, radius=3.0)

    def loss(x, wg):
        out = dsc.dsc_loss(x, labels, cent, valid, num_segments=5, w_gradient=wg, **kw)
        return out[0]

    _, f0 = _np_dsc_loss(logits, labels, cent, valid, pseudo, w_features=None, **kw)
    grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    for wg in (False, True):
        w_features = None if wg else f0  # W constant: built from the unperturbed logits

        def ref(x, w_features=w_features):
            return _np_dsc_loss(x, labels, cent, valid, pseudo, w_features=w_features, **kw)[0]

        value, g = grad(jnp.asarray(logits, jnp.float32), wg)
        assert float(value) == pytest.approx(ref(logits), rel=1e-5)
        eps, fd = 1e-6, np.zeros_like(logits)
        for idx in np.ndindex(logits.shape):
            step = np.zeros_like(logits)
            step[idx] = eps
            fd[idx] = (ref(logits + step) - ref(logits - step)) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-3, atol=1e-4 * np.abs(fd).max())
    # The two modes differ: the W path carries gradient of its own.
    x32 = jnp.asarray(logits, jnp.float32)
    g_const, g_w = grad(x32, False)[1], grad(x32, True)[1]
    assert float(jnp.abs(g_w - g_const).max()) > 1e-3 * float(jnp.abs(g_const).max())


def _tiny_problem(b=2, h=12, w=16):
    rng = np.random.default_rng(0)
    images = rng.random((b, h, w, 3), dtype=np.float32)
    sps = np.stack(
        [
            (np.arange(h)[:, None] // 4) * 4 + (np.arange(w)[None, :] // 4),  # 12 blocks
            (np.arange(h)[:, None] // 6) * 2 + (np.arange(w)[None, :] // 8),  # 4 blocks
        ][:b]
    ).astype(np.int32)
    return SuperAE(rngs=nnx.Rngs(0)), images, sps


@pytest.mark.parametrize("train_encoder", [False, True])
def test_vmapped_batch_equals_per_image_loop(train_encoder):
    model, images, sps = _tiny_problem()
    keys = jax.random.split(jax.random.key(3), 2)
    kw = dict(num_classes=6, max_segments=16, num_iters=3, train_encoder=train_encoder)
    batch = dsc.dsc_optimize_batch(model, images, sps, keys=keys, **kw)
    for i in range(2):
        one = dsc.dsc_optimize(model, images[i], sps[i], key=keys[i], **kw)
        np.testing.assert_allclose(batch.sp_features[i], one.sp_features, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(batch.losses[i], one.losses, rtol=2e-4, atol=2e-5)
        np.testing.assert_array_equal(
            batch.sp_class[i][: sps[i].max() + 1], one.sp_class[: sps[i].max() + 1]
        )
    assert bool(jnp.all(jnp.isfinite(batch.losses)))


def test_segment_connected_and_merge_to_counts():
    model, images, sps = _tiny_problem(b=1)
    res = dsc.dsc_segment(
        model, images[0], sps[0], key=jax.random.key(0), num_classes=6, num_iters=4
    )
    lab = res.labels
    k = int(lab.max()) + 1
    assert lab.shape == sps[0].shape and res.region_features.shape == (k, 6)
    assert res.losses.shape == (4, 3)
    for j in range(k):
        assert ndimage.label(lab == j)[1] == 1
        # Regions are unions of superpixels.
        assert len(np.unique(lab[sps[0] == np.unique(sps[0][lab == j])[0]])) == 1
    counts = [k, 3, 1]
    segs = dsc.merge_to_counts(lab, res.region_features, counts)
    assert [int(s.max()) + 1 for s in segs] == counts
    for s in segs:  # coarser levels are unions of finer regions
        for j in range(k):
            assert len(np.unique(s[lab == j])) == 1


def test_merge_to_counts_merges_the_most_similar_pair_first():
    lab = np.repeat(np.arange(3)[None], 2, 0).repeat(2, 1)  # regions 0|1|2 left to right
    feats = np.array([[0.0], [10.0], [10.5]])
    (two,) = dsc.merge_to_counts(lab, feats, [2])
    assert two[0, 2] == two[0, 4] != two[0, 0]


def test_errors_name_the_value_and_fix():
    model, images, sps = _tiny_problem(b=1)
    with pytest.raises(ValueError, match="raise max_segments"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), max_segments=4)
    with pytest.raises(TypeError, match="unknown DSC option"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), iters=3)
    with pytest.raises(ValueError, match="logit_norm must be one of"):
        dsc.dsc_optimize(model, images[0], sps[0], key=jax.random.key(0), logit_norm="bn")
    with pytest.raises(ValueError, match="same-size images only"):
        dsc.dsc_optimize_batch(
            model, images[0], sps[0], keys=jax.random.split(jax.random.key(0), 1)
        )
    with pytest.raises(TypeError, match="SuperAE"):
        dsc.dsc_optimize(object(), images[0], sps[0], key=jax.random.key(0))


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


def test_eval_dsc_end_to_end_small(bsds_root, tmp_path, monkeypatch):
    import json

    from jaxseg.experiments import lin2021 as evaluation_dsc
    from jaxseg.metrics import bench
    from jaxseg.train import checkpointing

    evaluated = []  # (segmentation stack, ground truth) of every evaluate_image call
    evaluate_image = bench.evaluate_image

    def spy(stack, gt, **kw):
        evaluated.append((stack, gt))
        return evaluate_image(stack, gt, **kw)

    monkeypatch.setattr(bench, "evaluate_image", spy)
    config = __import__("ml_collections").ConfigDict({"task": "superae", "image_scale": 0.25})
    checkpointing.export_model(SuperAE(rngs=nnx.Rngs(0)), config, tmp_path / "model")
    argv = ["--superae", str(tmp_path / "model"), "--data_dir", str(bsds_root), "--limit", "1"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "img,kmeans_rgb,ncut_deep"]
    argv += ["--counts", "12,6", "--base_count", "12", "--partitions", "4,2"]
    assert evaluation_dsc.main(argv) == 0
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
    from jaxseg.experiments import lin2021 as evaluation_dsc

    with pytest.raises(SystemExit):
        evaluation_dsc.build_parser().parse_args(
            ["--superae", "x", "--out", "y", "--variants", "dscc"]
        )
    with pytest.raises(SystemExit):
        evaluation_dsc.build_parser().parse_args(["--superae", "x", "--out", "y", "--counts", "0"])


def test_eval_dsc_levels_and_generator_settings(bsds_root, tmp_path, monkeypatch):
    import json

    from jaxseg.experiments import lin2021 as evaluation_dsc
    from jaxseg.train import checkpointing

    written = []
    write = evaluation_dsc._write_results

    def spy(*a, **k):
        out = write(*a, **k)
        written.append((out["n_images"], out["complete"]))
        return out

    monkeypatch.setattr(evaluation_dsc, "_write_results", spy)

    config = __import__("ml_collections").ConfigDict({"task": "superae", "image_scale": 0.25})
    checkpointing.export_model(SuperAE(rngs=nnx.Rngs(0)), config, tmp_path / "model")
    argv = ["--superae", str(tmp_path / "model"), "--data_dir", str(bsds_root), "--limit", "2"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "img", "--counts", "12,3"]
    argv += ["--gen_kw", '{"min_size_frac": 0.25}', "--write_every", "1"]
    assert evaluation_dsc.main(argv) == 0
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
        evaluation_dsc.build_parser().parse_args(
            ["--superae", "x", "--out", "y", "--gen_kw", "[1]"]
        )


def test_eval_dsc_max_segments_is_shared_and_falls_back(bsds_root, tmp_path, monkeypatch):
    from jaxseg.experiments import lin2021 as evaluation_dsc
    from jaxseg.train import checkpointing

    seen = []

    def fake_segment(model, image, superpixels, *, key, max_segments=None, **kw):
        seen.append((int(superpixels.max()) + 1, max_segments))
        return dsc.DSCResult(superpixels, np.zeros((int(superpixels.max()) + 1, 2)), None)

    monkeypatch.setattr(dsc, "dsc_segment", fake_segment)
    config = __import__("ml_collections").ConfigDict({"task": "superae", "image_scale": 0.25})
    checkpointing.export_model(SuperAE(rngs=nnx.Rngs(0)), config, tmp_path / "model")
    argv = ["--superae", str(tmp_path / "model"), "--data_dir", str(bsds_root), "--limit", "1"]
    argv += ["--out", str(tmp_path / "out"), "--variants", "dsc", "--counts", "40,5"]
    assert evaluation_dsc.main(argv + ["--max_segments", "16"]) == 0
    (m_fine, pad_fine), (m_coarse, pad_coarse) = seen
    assert m_fine > 16 and pad_fine is None  # too many superpixels: automatic padding
    assert m_coarse <= 16 and pad_coarse == 16


def test_ncut_reaches_counts_and_follows_colour():
    """NCut baseline on a 4x4 grid of superpixels in 4 quadrants: red / dark red on
    top, blue / dark blue below, so the 2-region cut is top vs bottom."""
    from jaxseg.experiments import lin2021 as evaluation_dsc

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[:32, :32]
    labels = ((ys // 8) * 4 + xs // 8).astype(np.int32)  # 16 superpixels
    quad = (ys // 16) * 2 + xs // 16
    colours = np.array([[1, 0, 0], [0.7, 0, 0], [0, 0, 1], [0, 0, 0.7]], np.float32)
    image = colours[quad] + 0.02 * rng.normal(size=(32, 32, 3)).astype(np.float32)
    segs = evaluation_dsc._ncut_segs(image, labels, counts=[4, 2], seed=0)
    assert [int(s.max()) + 1 for s in segs] == [4, 2]
    # the 4-region cut is the quadrant partition (up to relabelling)
    pairs = {(int(a), int(b)) for a, b in zip(segs[0].ravel(), quad.ravel(), strict=True)}
    assert len(pairs) == 4
    # the 2-region cut is top vs bottom
    top, bottom = segs[1][:16], segs[1][16:]
    assert np.unique(top).size == 1 and np.unique(bottom).size == 1 and top[0, 0] != bottom[0, 0]
    # native thresholds: a tiny threshold cuts nothing
    (one,) = evaluation_dsc._ncut_segs(image, labels, thresholds=[1e-6], seed=0)
    assert int(one.max()) == 0
