"""The one atomic-write helper: permissions follow the umask, nothing half-written."""

import os
import stat

import numpy as np
import pytest

from jaxseg import fileio, io
from jaxseg.metrics import io as metrics_io


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_umask_is_read_without_changing_it():
    old = os.umask(0o027)
    try:
        assert fileio.current_umask() == 0o027
        assert fileio.current_umask() == 0o027  # unchanged by reading it
    finally:
        os.umask(old)


def test_written_files_get_the_umask_permissions(tmp_path, umask_022):
    # mkstemp alone makes 0600: a web server or a colleague could not read the outputs.
    fileio.write_text_atomic(tmp_path / "a.txt", "x")
    io.write_png(tmp_path / "b.png", np.zeros((4, 4), np.uint8))
    metrics_io.save_npz_result(tmp_path / "c.npz", segs=np.ones((4, 4), np.int32))
    for name in ("a.txt", "b.png", "c.npz"):
        assert _mode(tmp_path / name) == 0o644, name
    os.umask(0o002)
    fileio.write_text_atomic(tmp_path / "d.txt", "x")
    assert _mode(tmp_path / "d.txt") == 0o664


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.txt"
    fileio.write_text_atomic(target, "old")
    with pytest.raises(KeyboardInterrupt), fileio.atomic_write(target, "w") as f:
        f.write("new, half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


def test_remove_stale_temps_only_removes_temps(tmp_path):
    (tmp_path / ".x.npz.abc123.tmp").write_bytes(b"half")
    (tmp_path / ".y.npz.def456.tmp").write_bytes(b"half")
    (tmp_path / "x.npz").write_bytes(b"done")
    assert fileio.remove_stale_temps(tmp_path, "x.npz") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".y.npz.def456.tmp", "x.npz"]
    assert fileio.remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]
    assert fileio.remove_stale_temps(tmp_path / "missing") == 0
    # Names with glob characters are taken literally.
    (tmp_path / ".a[1]*.npz.abc.tmp").write_bytes(b"half")
    (tmp_path / ".a1x.npz.abc.tmp").write_bytes(b"other")
    assert fileio.remove_stale_temps(tmp_path, "a[1]*.npz") == 1
    assert (tmp_path / ".a1x.npz.abc.tmp").exists()
