"""Atomic file writes: the one way jaxseg writes a file.

Every file the project writes goes through :func:`atomic_write`: the data goes to a
hidden temp file beside the destination (``.<name>.<random>.tmp``), which is renamed
over the destination (``os.replace``) only once it is complete. A reader therefore
sees either the old file or the whole new one, never half of one; an interrupted
write leaves at most a temp file, which :func:`remove_stale_temps` cleans.

The finished file gets the permissions any other program would give it: ``0666``
less the process umask (``mkstemp`` alone would leave ``0600``, unreadable to a web
server or a colleague).
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "TEMP_SUFFIX",
    "atomic_write",
    "current_umask",
    "remove_stale_temps",
    "write_bytes_atomic",
    "write_text_atomic",
]

TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Opens a temp file beside ``path``; on success it replaces ``path``.

    On any exception (including ``KeyboardInterrupt``) the temp file is removed and
    ``path`` is left as it was. The parent folder is created if missing.

    Args:
        path: the destination.
        mode: ``"wb"`` (default) or ``"w"`` (text, UTF-8).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r} for {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as f:
            yield f
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes | Callable[[IO[bytes]], Any]) -> Path:
    """Writes ``data`` (bytes, or a function that writes into a binary file) atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        if callable(data):
            data(f)
        else:
            f.write(data)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    path = Path(path)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> int:
    """Removes temp files an interrupted :func:`atomic_write` left in ``folder``.

    Args:
        folder: the folder to clean (missing: nothing to do).
        name: only the temps of this destination file name; all when ``None``.

    Returns:
        how many were removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    pattern = f".{glob.escape(name)}.*{TEMP_SUFFIX}" if name else f".*{TEMP_SUFFIX}"
    n = 0
    for p in folder.glob(pattern):
        if p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
    return n
