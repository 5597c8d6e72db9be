"""``jaxseg bench`` and ``jaxseg plot``: the installed console script on the official
``bsds-bench`` test case, the result formats it reads, ``--gt`` forms and the reports."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from jaxseg.cli import bench as bench_cli
from jaxseg.cli import segment as cli
from jaxseg.metrics.io import read_table, save_npz_result

REGION_FILES = ["eval_cover.txt", "eval_cover_img.txt", "eval_cover_th.txt", "eval_RI_VOI.txt"]


def jaxseg(*args: str) -> int:
    return cli.main(list(args))


def _script() -> str:
    found = shutil.which("jaxseg", path=str(Path(sys.executable).parent))
    assert found, f"no jaxseg console script beside {sys.executable}; pip install -e ."
    return found


def test_installed_command_reproduces_official_test_1(bsds_bench_dir, tmp_path):
    """``jaxseg bench`` run from outside the checkout (another working folder) on the
    official 5-image ucm2 case: region files equal, boundary within 1e-3 (see
    tests/metrics/test_bench_official.py), plus the JSON, markdown and plot reports."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [_script(), "bench", str(bsds_bench_dir / "ucm2"), "--gt", str(bsds_bench_dir /
         "groundTruth"), "--out", "out", "--nthresh", "5", "--no-progress"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 images (5 evaluated, 0 reused) -> out" in proc.stdout
    official = bsds_bench_dir / "test_1"
    for name in REGION_FILES:
        np.testing.assert_array_equal(read_table(out / name), read_table(official / name))
    ours, theirs = read_table(out / "eval_bdry.txt")[0], read_table(official / "eval_bdry.txt")[0]
    np.testing.assert_allclose(ours[1:4], theirs[1:4], atol=1e-3, rtol=0)
    summary = json.loads((out / "eval_summary.json").read_text())
    assert (
        f"{summary['region']['pri_ods']:g}" == f"{read_table(official / 'eval_RI_VOI.txt')[0, 1]:g}"
    )
    table = (out / "eval_summary.md").read_text().splitlines()
    cover = read_table(official / "eval_cover.txt")[0]
    assert table[2].startswith("| out | 5 | ") and f"| {cover[1]:.3f} |" in table[2]
    with Image.open(out / "eval_pr.png") as png:
        assert png.size[0] > 300 and len(np.unique(np.asarray(png.convert("L")))) > 10


def _label_png(path: Path, labels: np.ndarray, bits: int) -> None:
    Image.fromarray(labels.astype(np.uint8 if bits == 8 else np.uint16)).save(path)


def test_label_pngs_8_and_16_bit_equal_segs(bsds_bench_dir, tmp_path, capsys):
    """Label PNGs (0-based labels, 8-bit, and 16-bit with values above 255) give the
    numbers of the same segmentations as segs .npz files."""
    ids = ["2018", "3063"]
    folders = {k: tmp_path / k for k in ("npz", "png8", "png16")}
    for f in folders.values():
        f.mkdir()
    for i in ids:
        seg = scipy.io.loadmat(bsds_bench_dir / "segs" / f"{i}.mat")["segs"][0, -1]
        assert seg.min() >= 1
        save_npz_result(folders["npz"] / f"{i}.npz", segs=seg[None])
        _label_png(folders["png8"] / f"{i}.png", seg - 1, 8)
        _label_png(folders["png16"] / f"{i}.png", (seg - 1) * 300, 16)
    gt = str(bsds_bench_dir / "groundTruth")
    for name, folder in folders.items():
        kind = [] if name == "npz" else ["--png-kind", "labels"]
        args = [str(folder), "--gt", gt, "--out", str(tmp_path / f"o_{name}"), "--no-progress"]
        assert jaxseg("bench", *args, *kind) == 0, capsys.readouterr().err
    for name in [*REGION_FILES, "eval_bdry.txt"]:
        ref = (tmp_path / "o_npz" / name).read_text()
        assert (tmp_path / "o_png8" / name).read_text() == ref, name
        assert (tmp_path / "o_png16" / name).read_text() == ref, name
    # read as boundary maps (the default), label PNGs only get the boundary benchmark
    capsys.readouterr()
    rc = jaxseg("bench", str(folders["png8"]), "--gt", gt, "--out", str(tmp_path / "b"))
    assert rc == 2 and "--png-kind labels" in capsys.readouterr().err


def test_sixteen_bit_boundary_png(bsds_bench_dir, tmp_path, capsys):
    """A 16-bit boundary map reads as value / 65535: the numbers of the 8-bit map."""
    for bits in (8, 16):
        (tmp_path / f"p{bits}").mkdir()
    src = bsds_bench_dir / "png" / "2018.png"
    pb8 = np.asarray(Image.open(src))
    shutil.copy(src, tmp_path / "p8" / "2018.png")
    Image.fromarray(pb8.astype(np.uint16) * 257).save(tmp_path / "p16" / "2018.png")
    for bits in (8, 16):
        args = [str(tmp_path / f"p{bits}"), "--gt", str(bsds_bench_dir / "groundTruth")]
        args += ["--out", str(tmp_path / f"o{bits}"), "--bench", "boundary", "--nthresh", "5"]
        assert jaxseg("bench", *args, "--no-progress") == 0, capsys.readouterr().err
    for name in ("eval_bdry.txt", "eval_bdry_thr.txt"):
        assert (tmp_path / "o8" / name).read_text() == (tmp_path / "o16" / name).read_text()


def test_gt_forms(bsds_bench_dir, tmp_path):
    root = tmp_path / "BSDS500"
    (root / "data" / "groundTruth").mkdir(parents=True)
    (root / "data" / "groundTruth" / "val").symlink_to(bsds_bench_dir / "groundTruth")
    gt = bench_cli.resolve_gt(root, "val")
    assert gt == root / "data" / "groundTruth" / "val"
    assert bench_cli.resolve_gt(root / "data", "val") == gt
    assert bench_cli.resolve_gt(gt) == gt  # a folder of <id>.mat
    with pytest.raises(FileNotFoundError, match="data/groundTruth/test"):
        bench_cli.resolve_gt(root, "test")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        bench_cli.resolve_gt(tmp_path / "missing")


def test_gt_root_and_split_on_bsds500(bsds_root, bsds_bench_dir, tmp_path, capsys):
    """``--gt BSDS500 --split test`` reads data/groundTruth/test (the 5 ids are test images)."""
    args = [str(bsds_bench_dir / "segs"), "--gt", str(bsds_root), "--out", str(tmp_path / "o")]
    assert jaxseg("bench", *args, "--bench", "region", "--no-progress") == 0
    official = bsds_bench_dir / "test_5"
    for name in REGION_FILES:
        np.testing.assert_array_equal(
            read_table(tmp_path / "o" / name), read_table(official / name)
        )
    capsys.readouterr()
    assert jaxseg("bench", *args, "--split", "val", "--no-progress") == 2
    assert "no ground truth <id>.mat in" in capsys.readouterr().err


def test_plot_compares_folders(bsds_bench_dir, tmp_path, capsys):
    png, md = tmp_path / "pr.png", tmp_path / "table.md"
    dirs = [str(bsds_bench_dir / "test_1"), str(bsds_bench_dir / "test_5")]
    assert jaxseg("plot", *dirs, "--png", str(png), "--labels", "ucm", "segs", "--md", str(md)) == 2
    assert "test_5/eval_bdry_thr.txt not found" in capsys.readouterr().err  # region only
    dirs[1] = str(bsds_bench_dir / "test_4")
    assert jaxseg("plot", *dirs, "--png", str(png), "--labels", "ucm", "segs", "--md", str(md)) == 0
    rows = md.read_text().splitlines()
    assert rows[0].startswith("| method | images | ODS F | OIS F | AP | Cover ODS")
    f_ucm = read_table(bsds_bench_dir / "test_1" / "eval_bdry.txt")[0, 3]
    assert rows[2].startswith(f"| ucm | 5 | {f_ucm:.3f} |") and rows[3].startswith("| segs | 5 |")
    with Image.open(png) as image:
        assert image.size[0] > 300
    assert jaxseg("plot", dirs[0], "--png", str(png), "--labels", "a", "b") == 2
    assert "got 2 labels for 1 folders" in capsys.readouterr().err
