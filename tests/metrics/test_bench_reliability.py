"""`eval.py bench` on reruns, bad result files, Ctrl-C and a killed parent.

Most tests use tiny synthetic images (12 x 16) in `tmp_path`; the two that run a real
`eval.py bench` process with workers use the official `bsds-bench` test case, whose
images take long enough to be interrupted mid-run.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from jaxseg.cli import bench as bench_cli
from jaxseg.metrics import bench
from jaxseg.metrics.bench import evaluate_image, run_bench
from jaxseg.metrics.boundary import seg2bdry
from jaxseg.metrics.io import load_groundtruth
from jaxseg.regions.merge import labels_to_ucm2

REPO = Path(__file__).resolve().parents[2]
IDS = ["a1", "b2", "c3"]
H, W = 12, 16
SUMMARY_FILES = ["eval_bdry.txt", "eval_bdry_thr.txt", "eval_cover.txt", "eval_RI_VOI.txt"]


def _load_eval_py():
    spec = importlib.util.spec_from_file_location("jaxseg_eval_entry_rel", REPO / "eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _write_gt(path: Path, segs: list[np.ndarray]) -> None:
    """A BSDS500 groundTruth .mat (1 x K cell of Segmentation/Boundaries structs)."""
    cell = np.empty((1, len(segs)), dtype=object)
    for k, seg in enumerate(segs):
        entry = np.zeros((1, 1), dtype=[("Segmentation", object), ("Boundaries", object)])
        entry[0, 0]["Segmentation"] = seg.astype(np.uint16)
        entry[0, 0]["Boundaries"] = seg2bdry(seg).astype(np.uint8)
        cell[0, k] = entry
    scipy.io.savemat(path, {"groundTruth": cell})


def _ucm2(seed: int) -> np.ndarray:
    """(2H+1, 2W+1) ucm2 in [0, 1]: a 3 x 4 grid of blocks, random merge levels."""
    labels = (np.arange(H)[:, None] // 4) * 4 + np.arange(W)[None, :] // 4  # (H, W)
    pairs = [(i, i + 1) for i in range(12) if i % 4 != 3] + [(i, i + 4) for i in range(8)]
    levels = np.random.default_rng(seed).uniform(0.05, 0.95, len(pairs))
    return labels_to_ucm2(labels, np.array(pairs), levels)


def _gt_segs(shift: int) -> list[np.ndarray]:
    a = np.ones((H, W), int)
    a[:, 8 + shift :] = 2
    b = a.copy()
    b[6:, :] += 2
    return [a, b]


@pytest.fixture
def data(tmp_path):
    """gt/, results A and B (same ids, other maps), each {id}.npz / {id}.mat."""
    gt = tmp_path / "gt"
    gt.mkdir()
    for k, i in enumerate(IDS):
        _write_gt(gt / f"{i}.mat", _gt_segs(k - 1))
    res = {}
    for name, offset in (("A", 0), ("B", 100)):
        res[name] = tmp_path / f"res_{name}"
        res[name].mkdir()
        for k, i in enumerate(IDS):
            np.savez(res[name] / f"{i}.npz", ucm2=_ucm2(offset + k))
    return gt, res


def _texts(out: Path) -> dict[str, str]:
    return {name: (out / name).read_text() for name in SUMMARY_FILES}


def _bench(res, gt, out, **kw):
    return run_bench(res, gt, out, nthresh=kw.pop("nthresh", 3), progress=False, **kw)


def test_rerun_reuses_only_results_of_the_same_inputs_and_settings(data, tmp_path):
    gt, res = data
    fresh = {n: _bench(res[n], gt, tmp_path / f"fresh_{n}") for n in "AB"}
    assert _texts(tmp_path / "fresh_A") != _texts(tmp_path / "fresh_B")  # the test can tell
    out = tmp_path / "out"
    assert _bench(res["A"], gt, out)["n_evaluated"] == 3
    again = _bench(res["A"], gt, out)
    assert (again["n_evaluated"], again["n_reused"]) == (0, 3)
    # other results under the same names: all evaluated, B's numbers, not A's
    got = _bench(res["B"], gt, out)
    assert (got["n_evaluated"], got["n_reused"]) == (3, 0)
    assert _texts(out) == _texts(tmp_path / "fresh_B")
    assert got["boundary"]["ods_f"] == fresh["B"]["boundary"]["ods_f"]
    summary = json.loads((out / "eval_summary.json").read_text())
    assert (summary["n_evaluated"], summary["n_reused"], summary["skipped"]) == (3, 0, [])
    # a new mtime alone does not invalidate (content hash); new content in one file does
    os.utime(res["B"] / "b2.npz", ns=(1, 1))
    assert _bench(res["B"], gt, out)["n_reused"] == 3
    shutil.copy(res["A"] / "b2.npz", res["B"] / "b2.npz")
    assert _bench(res["B"], gt, out)["n_evaluated"] == 1
    # another ground truth for one image
    _write_gt(gt / "c3.mat", _gt_segs(3))
    assert _bench(res["B"], gt, out)["n_evaluated"] == 1
    # every matching option: everything again, then reused under the same option
    for kw in ({"max_dist": 0.02}, {"thin_maps": False}, {"bench": "boundary"}, {"nthresh": 4}):
        first, second = _bench(res["B"], gt, out, **kw), _bench(res["B"], gt, out, **kw)
        assert (first["n_evaluated"], second["n_reused"]) == (3, 3), kw
    ref = _bench(res["B"], gt, tmp_path / "fresh_nthresh4", nthresh=4)
    assert ref["boundary"]["ods_f"] == second["boundary"]["ods_f"]


def test_cli_prints_evaluated_and_reused(data, tmp_path, capsys):
    gt, res = data
    eval_py = _load_eval_py()
    args = ["bench", "--results", str(res["A"]), "--gt", str(gt), "--out", str(tmp_path / "o")]
    args += ["--nthresh", "3", "--no-progress"]
    assert eval_py.main(args) == 0
    assert "3 images (3 evaluated, 0 reused)" in capsys.readouterr().out
    assert eval_py.main([*args, "--no-thin"]) == 0
    assert "3 images (3 evaluated, 0 reused)" in capsys.readouterr().out
    assert eval_py.main([*args, "--no-thin"]) == 0
    assert "3 images (0 evaluated, 3 reused)" in capsys.readouterr().out


@pytest.mark.parametrize("fail_on", ["b2_ev2.txt", "b2_ev5.txt", "b2_ev.json"])
def test_interrupted_image_write_is_redone(data, tmp_path, monkeypatch, fail_on):
    """A rewrite that stops between an image's files never leaves it looking finished.

    Run 1 (nthresh 3) completes; run 2 (nthresh 4) stops while writing image b2; run 3
    (nthresh 3 again) must not take b2's mix of run-1 and run-2 files (whose old
    fingerprint matches run 3's settings) as done.
    """
    gt, res = data
    out = tmp_path / "out"
    _bench(res["A"], gt, out)
    real_write = bench.write_text_atomic

    def failing_write(path, text):
        if Path(path).name == fail_on:
            raise OSError(28, "No space left on device", str(path))
        return real_write(path, text)

    monkeypatch.setattr(bench, "write_text_atomic", failing_write)
    with pytest.raises(OSError, match="No space left"):
        _bench(res["A"], gt, out, nthresh=4)
    monkeypatch.undo()
    got = _bench(res["A"], gt, out)
    assert (got["n_evaluated"], got["n_reused"]) == (2, 1)  # a1 (rewritten) and b2 redone
    _bench(res["A"], gt, tmp_path / "fresh")
    assert _texts(out) == _texts(tmp_path / "fresh")
    for i in IDS:
        for k in (1, 2, 4):
            assert (out / f"{i}_ev{k}.txt").read_text() == (
                tmp_path / "fresh" / f"{i}_ev{k}.txt"
            ).read_text()


def test_out_of_range_map_rejected(data, tmp_path, capsys):
    gt, res = data
    np.savez(res["A"] / "b2.npz", ucm2=np.round(_ucm2(1) * 255))  # an 8-bit map
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\], found \[0, 2\d\d\]"):
        evaluate_image(np.round(_ucm2(1) * 255), load_groundtruth(gt / "b2.mat"), nthresh=3)
    args = ["bench", "--results", str(res["A"]), "--gt", str(gt), "--out", str(tmp_path / "o")]
    assert _load_eval_py().main([*args, "--nthresh", "3", "--no-progress"]) == 1
    cap = capsys.readouterr()
    assert "2 images (2 evaluated, 0 reused)" in cap.out
    line = [ln for ln in cap.err.splitlines() if "b2.npz" in ln]
    assert len(line) == 1
    assert str(res["A"] / "b2.npz") in line[0] and "found [0, 2" in line[0]
    assert "divide an 8-bit map (0..255) by 255" in line[0]
    summary = json.loads((tmp_path / "o" / "eval_summary.json").read_text())
    assert summary["images"] == ["a1", "c3"]
    assert [s["file"] for s in summary["skipped"]] == [str(res["A"] / "b2.npz")]


def test_bad_result_files_are_skipped_and_listed(data, tmp_path, capsys):
    gt, res = data
    src = res["A"]
    good = (src / "a1.npz").read_bytes()
    extra = {"d4": "random bytes", "e5": "truncated", "f6": "wrong size", "g7": "bad .mat"}
    for i in extra:
        shutil.copy(gt / "a1.mat", gt / f"{i}.mat")
    (src / "d4.npz").write_bytes(np.random.default_rng(0).bytes(300))
    (src / "e5.npz").write_bytes(good[: len(good) // 2])
    np.savez(src / "f6.npz", ucm2=np.zeros((2 * H + 1, 2 * W + 3)))
    (src / "g7.mat").write_bytes(b"MATLAB 5.0 MAT-file, garbage" + bytes(200))
    out = tmp_path / "o"
    args = ["bench", "--results", str(src), "--gt", str(gt), "--out", str(out), "--nthresh", "3"]
    assert _load_eval_py().main([*args, "--no-progress"]) == 1
    cap = capsys.readouterr()
    assert "3 images (3 evaluated, 0 reused)" in cap.out  # the good ones, all evaluated
    assert "Traceback" not in cap.err
    assert "4 result files skipped" in cap.err
    for i in extra:
        assert sum(f"/{i}." in ln for ln in cap.err.splitlines()) == 1, i
    assert "f6.npz: ucm2 has shape (25, 35) but the ground truth is (12, 16)" in cap.err
    summary = json.loads((out / "eval_summary.json").read_text())
    assert [s["image"] for s in summary["skipped"]] == list(extra)
    # the figures are those of the good images alone
    for i in extra:
        next(src.glob(f"{i}.*")).unlink()
    _bench(src, gt, tmp_path / "good_only")
    assert _texts(out) == _texts(tmp_path / "good_only")


def test_ctrl_c_in_process_stops_cleanly(data, tmp_path, monkeypatch, capsys):
    """Ctrl-C (serial run): one line, exit 130; finished images are reused by the rerun."""
    gt, res = data
    real = bench.evaluate_image
    calls = []

    def interrupt_second(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(bench, "evaluate_image", interrupt_second)
    out = tmp_path / "o"
    args = ["bench", "--results", str(res["A"]), "--gt", str(gt), "--out", str(out)]
    args += ["--nthresh", "3", "--no-progress"]
    assert bench_cli.main(args[1:]) == 130
    cap = capsys.readouterr()
    assert cap.err.strip().count("\n") == 0 and "interrupted" in cap.err
    assert "finished images are kept" in cap.err
    assert not (out / "eval_summary.json").exists()  # no figures of a partial run
    monkeypatch.undo()
    assert bench_cli.main(args[1:]) == 0
    assert "3 images (2 evaluated, 1 reused)" in capsys.readouterr().out


# ------------------------------------------------------------------ real processes


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _proc_stat(int(p.name))) is not None:
            children.setdefault(st[1], []).append(int(p.name))
    found, stack = set(), [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            found.add(c)
            stack.append(c)
    return found


def _running(pids) -> set[int]:
    return {p for p in pids if (st := _proc_stat(p)) is not None and st[0] not in "ZX"}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def bench_process(bsds_bench_dir, tmp_path):
    """Starts `eval.py bench --workers 2` on 20 real images (long enough to interrupt).

    Yields ``(popen, helpers)`` once both pool processes exist; ``helpers`` are all its
    child processes then (the two workers and multiprocessing's resource tracker). Kills
    whichever of them is left at the end (orphans keep the pipes open otherwise).
    """
    if not Path("/proc/self/stat").is_file():
        pytest.skip("needs /proc (Linux) to find the worker processes")
    res, gt = tmp_path / "res", tmp_path / "gt"
    res.mkdir()
    gt.mkdir()
    for k in range(4):
        for f in sorted((bsds_bench_dir / "ucm2").glob("*.mat")):
            (res / f"{k}{f.name}").symlink_to(f)
            (gt / f"{k}{f.name}").symlink_to(bsds_bench_dir / "groundTruth" / f.name)
    # Started as a shell starts it: SIGINT raising KeyboardInterrupt. An xdist worker may
    # ignore SIGINT, an ignored SIGINT is inherited, and Python then never turns it into
    # Ctrl-C; the launcher puts it back. (Not preexec_fn: that forks a process running
    # JAX's threads, and JAX's fork hook warns.)
    launch = (
        "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
        " sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    cmd = [sys.executable, "-c", launch, str(REPO / "eval.py"), "bench", "--results", str(res)]
    cmd += ["--gt", str(gt), "--out", str(tmp_path / "out"), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: a signal to it does not reach pytest
    )
    helpers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while sum("spawn_main" in _cmdline(p) for p in helpers) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the pool processes did not start"
            time.sleep(0.2)
            helpers = _descendants(proc.pid)
        yield proc, set(helpers)
    finally:
        for pid in _running(helpers | _descendants(proc.pid)):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def _wait_gone(pids: set[int], seconds: float) -> tuple[set[int], float]:
    t0 = time.monotonic()
    while _running(pids) and time.monotonic() - t0 < seconds:
        time.sleep(0.1)
    return _running(pids), time.monotonic() - t0


def _ignores_sigint(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(ln for ln in status.splitlines() if ln.startswith("SigIgn:")).split()[1], 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


def test_ctrl_c_with_workers_stops_cleanly(bench_process):
    proc, helpers = bench_process
    workers = [p for p in helpers if "spawn_main" in _cmdline(p)]
    # from their start on (imports too): a terminal's Ctrl-C is the parent's to handle
    assert all(_ignores_sigint(p) for p in workers)
    deadline = time.monotonic() + 30
    while _ignores_sigint(proc.pid):  # the parent ignores it only while starting workers
        assert time.monotonic() < deadline, "the parent keeps ignoring SIGINT"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "interrupted" in err
    left, _ = _wait_gone(helpers, 10)
    assert not left, f"processes left after Ctrl-C: {[_cmdline(p) for p in left]}"


def test_no_worker_outlives_a_killed_parent(bench_process):
    proc, helpers = bench_process
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    left, waited = _wait_gone(helpers, 30)  # a worker still importing reacts once done
    assert not left, f"still running {waited:.1f} s after kill -9: {[_cmdline(p) for p in left]}"


def test_interrupt_while_loading_modules(monkeypatch, capsys):
    eval_py = _load_eval_py()

    def interrupted(module, argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(eval_py, "_run", interrupted)
    assert eval_py.main(["bench", "--results", "r"]) == 130
    assert capsys.readouterr().err == "eval.py bench: interrupted\n"
