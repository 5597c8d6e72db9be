"""`eval.py` end to end (bench, resume, parallel, npz, plot, dispatch) and result/GT I/O."""

import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from jaxseg.metrics.bench import evaluate_results, run_bench
from jaxseg.metrics.io import (
    load_groundtruth,
    load_result,
    read_table,
    save_npz_result,
)

REPO = Path(__file__).resolve().parents[2]
IDS = ["2018", "3063", "5096", "6046", "8068"]
COLUMNS = {
    "eval_bdry.txt": 8,
    "eval_bdry_img.txt": 5,
    "eval_bdry_thr.txt": 4,
    "eval_cover.txt": 4,
    "eval_cover_img.txt": 4,
    "eval_cover_th.txt": 2,
    "eval_RI_VOI.txt": 6,
    "eval_RI_VOI_thr.txt": 3,
}
REGION_FILES = [k for k in COLUMNS if not k.startswith("eval_bdry")]


def _load_eval_py():
    spec = importlib.util.spec_from_file_location("jaxseg_eval_entry", REPO / "eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def eval_py():
    return _load_eval_py()


def _bench_args(bench_dir, out, *extra):
    return [
        "bench",
        "--results",
        str(bench_dir / "ucm2"),
        "--gt",
        str(bench_dir / "groundTruth"),
        "--out",
        str(out),
        "--nthresh",
        "5",
        "--images",
        str(bench_dir / "images"),
        "--no-progress",
        *extra,
    ]


@pytest.fixture(scope="module")
def ucm_run(eval_py, bsds_bench_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ucm_run")
    assert eval_py.main(_bench_args(bsds_bench_dir, out)) == 0
    return out


def test_cli_writes_official_files(ucm_run, bsds_bench_dir):
    for name, ncol in COLUMNS.items():
        lines = (ucm_run / name).read_text().splitlines()
        for line in lines:
            fields = line.split()
            assert len(fields) == ncol, (name, line)
            assert line == " ".join(f"{f:>10}" for f in fields), (name, line)  # %10g / %10d
    # same shape of table as the official files
    for name in COLUMNS:
        assert (
            read_table(ucm_run / name).shape == read_table(bsds_bench_dir / "test_1" / name).shape
        )
    summary = json.loads((ucm_run / "eval_summary.json").read_text())
    assert summary["n_images"] == 5
    assert summary["region"]["cover_ods"] == pytest.approx(0.654023, abs=5e-7)  # official
    assert summary["boundary"]["ods_f"] == pytest.approx(0.704632, abs=1e-3)  # official test_1
    assert 0 <= summary["region"]["gce_at_pri_ods"] <= 1


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*_ev*.txt")}


def test_cli_resume_skips_finished_images(eval_py, ucm_run, bsds_bench_dir, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(ucm_run, out)  # copy2 keeps mtimes
    before = _mtimes(out)
    assert len(before) == 5 * 5  # _ev1.._ev5 per image
    capsys.readouterr()
    assert eval_py.main(_bench_args(bsds_bench_dir, out)) == 0
    assert "(0 evaluated, 5 reused)" in capsys.readouterr().out
    assert _mtimes(out) == before  # nothing recomputed or rewritten
    # losing one image's file recomputes that image only
    (out / "3063_ev1.txt").unlink()
    assert eval_py.main(_bench_args(bsds_bench_dir, out)) == 0
    assert "(1 evaluated, 4 reused)" in capsys.readouterr().out
    after = _mtimes(out)
    assert all(after[k] == v for k, v in before.items() if not k.startswith("3063"))
    for name in COLUMNS:
        assert (out / name).read_text() == (ucm_run / name).read_text()
    # other thresholds: every image is evaluated again
    assert eval_py.main(_bench_args(bsds_bench_dir, out, "--nthresh", "3")) == 0
    assert "(5 evaluated, 0 reused)" in capsys.readouterr().out
    assert read_table(out / "eval_bdry_thr.txt").shape == (3, 4)


def test_parallel_equals_serial(ucm_run, bsds_bench_dir, tmp_path):
    out = tmp_path / "par"
    res = run_bench(
        bsds_bench_dir / "ucm2",
        bsds_bench_dir / "groundTruth",
        out,
        nthresh=5,
        bench="region",
        workers=2,
        progress=False,
    )
    assert res["images"] == IDS and res["n_evaluated"] == 5
    for name in REGION_FILES:
        assert (out / name).read_text() == (ucm_run / name).read_text()


def test_npz_results(bsds_bench_dir, tmp_path):
    """jaxseg's .npz format gives the official numbers (ucm2 -> test_1, segs -> test_5)."""
    ucm_dir, segs_dir = tmp_path / "ucm", tmp_path / "segs"
    for i in IDS:
        ucm2 = scipy.io.loadmat(bsds_bench_dir / "ucm2" / f"{i}.mat")["ucm2"]
        save_npz_result(ucm_dir / f"{i}.npz", ucm2=ucm2)
        segs = scipy.io.loadmat(bsds_bench_dir / "segs" / f"{i}.mat")["segs"]
        save_npz_result(segs_dir / f"{i}.npz", segs=np.stack(list(segs.ravel())))
    assert not list(ucm_dir.glob(".*"))  # no temp files left
    for src, case in ((ucm_dir, "test_1"), (segs_dir, "test_5")):
        out = tmp_path / f"out_{case}"
        run_bench(
            src, bsds_bench_dir / "groundTruth", out, nthresh=5, bench="region", progress=False
        )
        for name in REGION_FILES:
            np.testing.assert_array_equal(
                read_table(out / name), read_table(bsds_bench_dir / case / name)
            )


def test_evaluate_results_in_memory(bsds_bench_dir):
    results = {
        i: scipy.io.loadmat(bsds_bench_dir / "ucm2" / f"{i}.mat")["ucm2"] for i in reversed(IDS)
    }
    gts = {i: load_groundtruth(bsds_bench_dir / "groundTruth" / f"{i}.mat") for i in IDS}
    out = evaluate_results(results, gts, nthresh=5, bench="region")
    assert out["images"] == IDS  # byte-sorted, whatever the dict order
    official = read_table(bsds_bench_dir / "test_1" / "eval_cover.txt")[0]
    got = [float(f"{x:g}") for x in out["region"]["cover"]]
    np.testing.assert_array_equal(got, official)
    with pytest.raises(KeyError, match="no ground truth for images"):
        evaluate_results({"123": results["2018"]}, gts, nthresh=5)
    with pytest.raises(ValueError, match="bench must be one of"):
        evaluate_results(results, gts, bench="edges")


def test_bench_input_errors(bsds_bench_dir, tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    for i in IDS[:4]:  # 8068 missing
        shutil.copy(bsds_bench_dir / "ucm2" / f"{i}.mat", res)
    gt = bsds_bench_dir / "groundTruth"
    images = bsds_bench_dir / "images"
    with pytest.raises(FileNotFoundError, match=r"for 1 images, e.g. \['8068'\]"):
        run_bench(res, gt, tmp_path / "o", images_dir=images, progress=False)
    with pytest.raises(FileNotFoundError, match="ground-truth directory"):
        run_bench(res, tmp_path / "nope", tmp_path / "o", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no result files"):
        run_bench(tmp_path / "empty", gt, tmp_path / "o", progress=False)
    png = tmp_path / "png"
    shutil.copytree(bsds_bench_dir / "png", png)
    with pytest.raises(ValueError, match="only be evaluated with bench='boundary'"):
        run_bench(png, gt, tmp_path / "o3", nthresh=5, progress=False)


def test_groundtruth_errors(bsds_bench_dir, tmp_path):
    gt = load_groundtruth(bsds_bench_dir / "groundTruth" / "2018.mat")
    assert len(gt.segmentations) == 5 and gt.shape == (481, 321)
    assert gt.segmentations[0].dtype == np.int32 and gt.boundaries[0].dtype == bool
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_groundtruth(tmp_path / "missing.mat")
    bad = tmp_path / "corrupt.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    with pytest.raises(ValueError, match="cannot read .*corrupt.mat"):
        load_groundtruth(bad)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"x": np.ones(3)})
    with pytest.raises(ValueError, match="no 'groundTruth' variable"):
        load_groundtruth(other)
    with pytest.raises(ValueError, match="neither 'ucm2' nor 'segs'"):
        load_result(other)


def test_result_io_errors(tmp_path):
    with pytest.raises(ValueError, match="needs ucm2=... and/or segs="):
        save_npz_result(tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        save_npz_result(tmp_path / "a.npz", ucm2=np.full((5, 7), 2.0))
    with pytest.raises(ValueError, match="labels must be >= 1"):
        save_npz_result(tmp_path / "a.npz", segs=np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match=r"\(2H\+1, 2W\+1\)"):
        save_npz_result(tmp_path / "a.npz", ucm2=np.zeros((4, 7)))
    with pytest.raises(ValueError, match="does not fit segs"):
        save_npz_result(tmp_path / "a.npz", ucm2=np.zeros((5, 7)), segs=np.ones((2, 2), int))
    with pytest.raises(ValueError, match="must end in .npz"):
        save_npz_result(tmp_path / "a.mat", segs=np.ones((2, 2), int))
    save_npz_result(tmp_path / "b.npz", ucm2=np.zeros((5, 7)), segs=np.ones((2, 3), int))
    r = load_result(tmp_path / "b.npz")
    assert r.kind == "ucm2" and r.data.shape == (5, 7)  # ucm2 preferred, as for .mat
    import skimage.io

    skimage.io.imsave(tmp_path / "rgb.png", np.zeros((4, 5, 3), np.uint8), check_contrast=False)
    with pytest.raises(ValueError, match=r"expected a grayscale \(one-channel\) boundary map"):
        load_result(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="unsupported result file"):
        load_result(tmp_path / "x.txt")


def test_plot(eval_py, ucm_run, tmp_path, monkeypatch, capsys):
    import matplotlib.colors
    import matplotlib.figure
    from PIL import Image

    # A second, worse run: the same curve at half the recall, F 0.5.
    half = tmp_path / "half"
    half.mkdir()
    thr = read_table(ucm_run / "eval_bdry_thr.txt") * [1.0, 0.5, 1.0, 1.0]
    np.savetxt(half / "eval_bdry_thr.txt", thr, fmt="%10g")
    summary = read_table(ucm_run / "eval_bdry.txt")[0]  # T, R, P, F (ODS), OIS R, P, F, AP
    summary[1], summary[3] = 0.5 * summary[1], 0.5
    np.savetxt(half / "eval_bdry.txt", summary[None], fmt="%10g")
    figures = []
    savefig = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        figures.append(fig)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    png = tmp_path / "pr" / "curves.png"
    args = ["plot", str(half), str(ucm_run), "--png", str(png), "--labels", "half", "full"]
    assert eval_py.main(args) == 0
    (fig,) = figures
    image = np.asarray(Image.open(png).convert("RGB")).astype(int)
    width, height = np.round(fig.get_size_inches() * fig.dpi).astype(int)
    assert image.shape == (height, width, 3)
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_label().startswith("[F=")]
    full_thr = read_table(ucm_run / "eval_bdry_thr.txt")
    f_full = read_table(ucm_run / "eval_bdry.txt")[0][3]
    # Legend order: best F first; each curve is its run's (R, P) over the thresholds.
    # Labelled as the official BSDS plots are: F without its leading zero.
    assert [c.get_label() for c in curves] == [
        f"[F={f_full:.3f}] full".replace("F=0.", "F=."),
        "[F=.500] half",
    ]
    for curve, run_thr in zip(curves, (full_thr, thr), strict=True):
        keep = run_thr[:, 1] >= 1e-3
        np.testing.assert_allclose(curve.get_xydata(), run_thr[keep][:, 1:3])
        # The saved pixels on the curve have the curve's colour.
        rgb = np.array(matplotlib.colors.to_rgb(curve.get_color())) * 255
        x, y = ax.transData.transform(run_thr[keep][:, 1:3]).T
        on = image[np.round(height - y).astype(int), np.round(x).astype(int)]
        assert np.mean(np.abs(on - rgb).max(axis=1) < 60) > 0.8
    assert not np.allclose(curves[0].get_color(), curves[1].get_color())
    # Bad input: exit status 2 and the reason on stderr.
    capsys.readouterr()
    assert (
        eval_py.main(["plot", str(ucm_run), str(ucm_run), "--png", str(png), "--labels", "a"]) == 2
    )
    assert "got 1 labels for 2 folders" in capsys.readouterr().err
    assert eval_py.main(["plot", str(tmp_path), "--png", str(png)]) == 2
    assert "eval_bdry_thr.txt not found" in capsys.readouterr().err


def test_dispatch(eval_py, monkeypatch):
    calls = []
    for name in ("jaxseg.cli.eval_dsc", "jaxseg.cli.eval_wang2020"):
        fake = types.ModuleType(name)
        fake.main = lambda argv, name=name: calls.append((name, argv)) or 0
        monkeypatch.setitem(sys.modules, name, fake)
    assert eval_py.main(["dsc", "--x", "1"]) == 0
    assert eval_py.main(["--config", "c.py", "--workdir", "w"]) == 0
    assert calls == [
        ("jaxseg.cli.eval_dsc", ["--x", "1"]),
        ("jaxseg.cli.eval_wang2020", ["--config", "c.py", "--workdir", "w"]),
    ]
    monkeypatch.setitem(sys.modules, "jaxseg.cli.eval_dsc", None)  # makes the import fail
    with pytest.raises(SystemExit, match="jaxseg.cli.eval_dsc is not available"):
        eval_py.main(["dsc"])


def test_parallel_worker_error_propagates(bsds_bench_dir, tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    shutil.copy(bsds_bench_dir / "groundTruth" / "2018.mat", gt)
    (gt / "3063.mat").write_bytes(b"not a mat file")
    res = tmp_path / "res"
    res.mkdir()
    for i in ("2018", "3063"):
        shutil.copy(bsds_bench_dir / "segs" / f"{i}.mat", res)
    with pytest.raises(ValueError, match="cannot read .*3063.mat"):
        run_bench(res, gt, tmp_path / "out", bench="region", workers=2, progress=False)
    assert not (tmp_path / "out" / "3063_ev2.txt").exists()


def test_written_files_are_readable(tmp_path):
    save_npz_result(tmp_path / "r.npz", segs=np.ones((2, 3), int))
    assert (tmp_path / "r.npz").stat().st_mode & 0o044 == 0o044  # not mkstemp's 0600
