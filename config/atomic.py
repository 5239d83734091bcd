"""Durable file writes: whole-file replace and append-one-line, both fsynced.

A safety setting (a plan, a tolerance) must never be half-written: a power cut
during the write has to leave either the old file or the new one.  So a file
is replaced by writing a temporary file in the same folder, fsyncing it,
``os.replace``-ing it over the old one and fsyncing the folder (without that
last step the rename itself may be lost on ext4/F2FS after a power cut).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` all at once (temp file + fsync + ``os.replace``).

    A symlink is written through, not replaced.  An existing file keeps its
    permission bits and group (a config that is 0640 root:presspoint must stay
    readable by the service after ``presspoint calibrate`` rewrote it); a new
    file gets ``mode``.
    """
    path = Path(os.path.realpath(path))
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        old = path.stat()
    except FileNotFoundError:
        old = None
    import tempfile  # here: 0.8 MiB with shutil, bz2 and lzma, for processes that never write

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, (old.st_mode & 0o7777) if old is not None else mode)
        if old is not None:
            with contextlib.suppress(PermissionError):  # only root may give a file away
                os.fchown(fd, -1, old.st_gid)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def append_line_durably(path: Path, line: str, *, mode: int = 0o600) -> None:
    """Append one line (a newline is added) and fsync before returning.

    ``O_APPEND`` makes each single ``write`` land at the end even with other
    writers, so lines never interleave.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
