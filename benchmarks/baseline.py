"""A git revision of this repository checked out beside the working tree, for benchmarks
that time the previous code in the same run (``--baseline REV``).

    from baseline import worktree
    with worktree("cfb5495", work_dir / "baseline_tree") as tree:
        subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree)

``PYTHONPATH=tree`` puts that revision's ``jaxseg`` before the installed one.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def worktree(rev: str, path: Path) -> Iterator[Path]:
    """``rev`` checked out (detached) at ``path``, removed again on exit (also one left
    over at ``path`` by an interrupted run)."""

    def remove():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)

    remove()
    done = subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"--baseline {rev}: git worktree add failed: {done.stderr.strip()}")
    try:
        yield path
    finally:
        remove()
