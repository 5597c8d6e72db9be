"""`jaxseg segment` on reruns: interrupted writes, unwritable --out, index.html, reserved names.

A ``kill -9`` is simulated inside the process: the rename that finishes a file
(``os.replace`` in :mod:`jaxseg.fileio`) raises a ``BaseException`` that no handler
catches, and from then on nothing is renamed or cleaned up, as in a killed process.
Its temp file stays behind, as a real kill would leave it.
"""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxseg import fileio, pipeline
from jaxseg.cli import segment as cli
from jaxseg.metrics.io import load_result

H, W = 16, 20
FAST = ["--method", "slic", "--n-segments", "12", "--batch-size", "1", "-q"]  # one compile
ALWAYS = (  # files every image folder holds (the label PNGs too, at this label count)
    "superpixels.npy",
    "superpixels.png",
    "segments.npy",
    "segments.png",
    "ucm.png",
    "overlay_superpixels.png",
    "overlay_segments.png",
    "result.json",
)
WRITES_PER_IMAGE = len(ALWAYS) + 1  # + bench/<name>.npz

pytestmark = pytest.mark.usefixtures("fast_compile")


def segment(*args: str) -> int:
    return cli.main(["segment", *args])


def _scene(seed: int) -> np.ndarray:
    """Two flat colours split at a seed-dependent column, plus noise: images differ."""
    rng = np.random.default_rng(seed)
    img = np.zeros((H, W, 3), np.float32)
    img[:, : 4 + seed % 12] = (0.9, 0.2, 0.1)
    img[:, 4 + seed % 12 :] = (0.1, 0.3, 0.9)
    img += rng.normal(0.0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def _inputs(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(_scene(i)).save(folder / f"im{i}.png")
    return folder


def _temps(out: Path) -> list[Path]:
    return [p for p in out.rglob(f"*{fileio.TEMP_SUFFIX}") if p.is_file()]


def _assert_complete(out: Path, name: str) -> dict:
    """Every output of ``name`` present, readable and from one run."""
    folder = out / name
    info = json.loads((folder / "result.json").read_text())
    assert info["name"] == name
    sp = np.load(folder / "superpixels.npy")
    seg = np.load(folder / "segments.npy")
    assert sp.shape == seg.shape == (H, W)
    assert int(sp.max()) + 1 == info["n_superpixels"]
    assert int(seg.max()) + 1 == info["n_segments"]
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "superpixels.png")), sp)
    np.testing.assert_array_equal(np.asarray(Image.open(folder / "segments.png")), seg)
    for file in ("ucm.png", "overlay_superpixels.png", "overlay_segments.png"):
        assert np.asarray(Image.open(folder / file)).shape[:2] == (H, W)
    bench = out / "bench" / (name.replace("/", "__") + ".npz")
    result = load_result(bench)
    assert result.data.shape == (2 * H + 1, 2 * W + 1)
    with np.load(bench) as z:
        np.testing.assert_array_equal(z["segs"][0], seg + 1)
    return info


class Killed(BaseException):
    """The simulated kill -9: no ``except Exception`` / ``except OSError`` stops it."""


class _FailingOS:
    """``os`` for :mod:`jaxseg.fileio` whose ``replace`` fails at output ``fail_at`` (1-based).

    ``kill=True``: raise :class:`Killed` and then act dead (no rename, no unlink: the temp
    file stays). ``kill=False``: raise ``OSError(ENOSPC)`` once, like a full disk.
    """

    def __init__(self, fail_at: int, *, kill: bool):
        self.fail_at, self.kill, self.calls, self.dead = fail_at, kill, 0, False

    def replace(self, src, dst):
        if self.dead:
            raise Killed("already dead")
        if Path(dst).name.startswith("."):  # the --out probe: not an output
            return os.replace(src, dst)
        self.calls += 1
        if self.calls == self.fail_at:
            if self.kill:
                self.dead = True
                raise Killed(f"killed while finishing {dst}")
            raise OSError(errno.ENOSPC, "No space left on device (simulated)", str(dst))
        return os.replace(src, dst)

    def unlink(self, path):
        if not self.dead:
            os.unlink(path)

    def __getattr__(self, name):
        return getattr(os, name)


def _failing_writes(monkeypatch, fail_at: int, *, kill: bool) -> _FailingOS:
    fake = _FailingOS(fail_at, kill=kill)
    monkeypatch.setattr(fileio, "os", fake)
    return fake


@pytest.mark.parametrize("fail_at", [5, WRITES_PER_IMAGE - 1, WRITES_PER_IMAGE])
def test_failed_write_is_redone_on_rerun(tmp_path, monkeypatch, capsys, fail_at):
    # fail_at 8 is the bench npz, 9 result.json: every other file is already in place.
    _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), *FAST]
    with monkeypatch.context() as m:
        _failing_writes(m, fail_at, kill=False)
        assert segment(*args) == 1
    err = capsys.readouterr().err
    assert "cannot write outputs" in err and "No space left" in err
    assert not (out / "im0" / "result.json").exists()
    assert segment(*args) == 0
    err = capsys.readouterr().err
    assert "1 segmented, 0 skipped (exist), 0 failed" in err
    if fail_at > 1:
        assert "incomplete" in err and "segmenting it again" in err
    _assert_complete(out, "im0")
    assert _temps(out) == []


def test_killed_write_leaves_temps_that_the_rerun_cleans(tmp_path, monkeypatch, capsys):
    _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "--out", str(out), *FAST]
    with monkeypatch.context() as m:
        _failing_writes(m, WRITES_PER_IMAGE - 1, kill=True)  # while finishing the bench npz
        with pytest.raises(Killed):
            segment(*args)
    bench_temps = list((out / "bench").glob(f".im0.npz.*{fileio.TEMP_SUFFIX}"))
    assert len(bench_temps) == 1  # what a kill -9 leaves
    capsys.readouterr()
    assert segment(*args) == 0
    assert "1 segmented, 0 skipped (exist)" in capsys.readouterr().err
    _assert_complete(out, "im0")
    assert _temps(out) == []


def test_interrupted_overwrite_is_not_taken_for_finished(tmp_path, monkeypatch, capsys):
    # A complete result (one segment), then --overwrite at another level killed after
    # segments.npy: new labels beside the old result.json; the rerun must redo the image.
    _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    base = [str(tmp_path / "in"), "--out", str(out), *FAST]
    assert segment(*base, "--threshold", "1") == 0
    assert _assert_complete(out, "im0")["n_segments"] == 1
    with monkeypatch.context() as m:
        _failing_writes(m, 5, kill=True)  # sp.npy, sp.png, overlay, segments.npy written
        with pytest.raises(Killed):
            segment(*base, "--threshold", "0", "--overwrite")
    capsys.readouterr()
    assert segment(*base, "--threshold", "0") == 0
    assert "1 segmented, 0 skipped (exist)" in capsys.readouterr().err
    info = _assert_complete(out, "im0")
    assert info["settings"]["threshold"] == 0.0 and info["n_segments"] > 1


def test_kill_at_random_moments_then_rerun_completes(tmp_path, monkeypatch, capsys):
    count = 10
    folder = _inputs(tmp_path / "in", count)
    names = [f"im{i}" for i in range(count)]
    reference = tmp_path / "reference"
    assert segment(str(folder), "--out", str(reference), *FAST) == 0
    total = count * WRITES_PER_IMAGE + 1  # + index.html
    for seed in range(5):
        rng = np.random.default_rng(seed)
        out = tmp_path / f"out{seed}"
        args = [str(folder), "--out", str(out), "--html", *FAST]
        for _ in range(3):  # killed three times at random moments, each a rerun
            with monkeypatch.context() as m:
                fake = _failing_writes(m, int(rng.integers(1, total + 1)), kill=True)
                try:
                    segment(*args)
                except Killed:
                    assert _temps(out)  # the kill left its temp file behind
                else:  # the kill came after this run's last write (all were skipped)
                    assert fake.calls < fake.fail_at
        capsys.readouterr()
        assert segment(*args) == 0
        err = capsys.readouterr().err
        assert "0 failed" in err
        for name in names:
            _assert_complete(out, name)
            with np.load(out / "bench" / f"{name}.npz") as a:
                with np.load(reference / "bench" / f"{name}.npz") as b:
                    np.testing.assert_array_equal(a["ucm2"], b["ucm2"])
                    np.testing.assert_array_equal(a["segs"], b["segs"])
        assert sorted(p.name for p in (out / "bench").iterdir()) == sorted(
            f"{n}.npz" for n in names
        )
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted([*names, "bench"])
        assert _temps(out) == []
        page = (out / "index.html").read_text()
        assert all(f"<th>{name}</th>" in page for name in names)


def test_out_under_a_file_fails_before_computing(tmp_path, monkeypatch, capsys):
    Image.fromarray(_scene(0)).save(tmp_path / "a.png")
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "afile" / "sub"

    def no_segmenter(*args, **kwargs):
        pytest.fail("the method was set up before --out was checked")

    monkeypatch.setattr(pipeline, "Segmenter", no_segmenter)
    monkeypatch.setattr(cli.io, "read_image", no_segmenter)
    assert segment(str(tmp_path / "a.png"), "--out", str(out), "--html", *FAST) == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and "cannot write" in err
    assert f"{tmp_path / 'afile'} is a file" in err  # what is in the way
    assert "--out" in err.split("cannot write", 1)[1]  # the fix names the option
    assert "Traceback" not in err


def test_out_unwritable_folder_fails_before_computing(tmp_path, monkeypatch, capsys):
    # Root ignores chmod: an unwritable folder is simulated by a refused rename.
    Image.fromarray(_scene(0)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()

    class Refusing(_FailingOS):
        def replace(self, src, dst):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(fileio, "os", Refusing(0, kill=False))
    monkeypatch.setattr(pipeline, "Segmenter", lambda *a, **k: pytest.fail("computed first"))
    assert segment(str(tmp_path / "a.png"), "--out", str(out), *FAST) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot write" in err and "Permission denied" in err
    assert f"choose another --out folder you can write to, or make {out} writable" in err
    assert list(out.iterdir()) == []  # the probe left nothing


def test_second_html_run_lists_every_complete_image(tmp_path, monkeypatch, capsys):
    for i in range(3):
        Image.fromarray(_scene(i)).save(tmp_path / f"p{i}.png")
    out = tmp_path / "out"
    assert segment(str(tmp_path / "p0.png"), "--out", str(out), "--html", *FAST) == 0
    # p2 is left incomplete (killed before its result.json): not on the page.
    with monkeypatch.context() as m:
        _failing_writes(m, WRITES_PER_IMAGE, kill=True)
        with pytest.raises(Killed):
            segment(str(tmp_path / "p2.png"), "--out", str(out), *FAST)
    assert segment(str(tmp_path / "p1.png"), "--out", str(out), "--html", *FAST) == 0
    page = (out / "index.html").read_text()
    assert "<th>p0</th>" in page and "<th>p1</th>" in page
    assert "<th>p2</th>" not in page
    assert page.index("<th>p0</th>") < page.index("<th>p1</th>")
    assert 'src="p0/input.jpg"' in page and 'src="p1/overlay_segments.png"' in page


def test_reserved_names_keep_bench_folder_apart(tmp_path, capsys):
    folder = tmp_path / "in"
    (folder / "bench").mkdir(parents=True)
    Image.fromarray(_scene(0)).save(folder / "bench.jpg", quality=95)
    Image.fromarray(_scene(1)).save(folder / "photo.png")
    Image.fromarray(_scene(2)).save(folder / "index.html.png")
    Image.fromarray(_scene(3)).save(folder / "bench" / "inner.png")
    out = tmp_path / "out"
    assert segment(str(folder), "--out", str(out), "--recursive", "--html", *FAST) == 0
    # OUT/bench holds the benchmark files and nothing else: eval.py bench reads it as is.
    expected = {"bench_jpg.npz", "photo.npz", "index.html_png.npz", "bench_dir__inner.npz"}
    assert {p.name for p in (out / "bench").iterdir()} == expected
    assert (out / "index.html").is_file()
    for name in ("bench_jpg", "photo", "index.html_png", "bench_dir/inner"):
        _assert_complete(out, name)
    page = (out / "index.html").read_text()
    assert "<th>bench_jpg</th>" in page and "<th>bench_dir/inner</th>" in page
    capsys.readouterr()
    assert segment(str(folder), "--out", str(out), "--recursive", *FAST) == 0
    assert "0 segmented, 4 skipped (exist), 0 failed" in capsys.readouterr().err
