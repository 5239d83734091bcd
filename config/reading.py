"""The one way presspoint opens a file the user named (config, plan, profile, trace).

Only regular files are read: a FIFO, a device such as ``/dev/zero`` or a
socket would hang the reader or never end, so the file is opened with
``O_NONBLOCK`` (opening a FIFO then returns at once), checked with ``fstat``
and refused unless it is a regular file no larger than the caller's limit.
Every failure is an ``InputFileError`` whose message is one short line.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import IO

from config.errors import InputFileError

MIB = 1024 * 1024

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)

#: Why an ``open`` failed, in words a user can act on.
_ERRNO_TEXT: dict[int, str] = {
    errno.ENOENT: "file not found",
    errno.EISDIR: "is a directory, not a file",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "symbolic link loop (too many levels of links)",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "path is too long",
    errno.ENXIO: "is a socket or an absent device, not a regular file",
}


def _open_error(path: Path, err: OSError) -> InputFileError:
    problem = _ERRNO_TEXT.get(err.errno or 0) or f"cannot open it ({err.strerror or type(err).__name__})"
    return InputFileError(path, None, problem)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def size_text(n_bytes: int) -> str:
    """``1 MiB``, ``64 MiB`` or ``300 bytes``: sizes for messages."""
    if n_bytes >= MIB and n_bytes % MIB == 0:
        return f"{n_bytes // MIB} MiB"
    if n_bytes >= MIB:
        return f"{n_bytes / MIB:.1f} MiB"
    return f"{n_bytes} bytes"


def open_regular(path: Path, limit_bytes: int) -> IO[bytes]:
    """A binary stream on ``path`` if it is a regular file of at most ``limit_bytes``."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as err:
        raise _open_error(path, err) from None
    except ValueError:  # an embedded NUL byte
        raise InputFileError(path, None, "path contains a NUL byte") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputFileError(path, None, _kind(info.st_mode))
        if info.st_size > limit_bytes:
            raise InputFileError(
                path, None, f"file is {size_text(info.st_size)}; the limit is {size_text(limit_bytes)}"
            )
        os.set_blocking(fd, True)
        return io.open(fd, "rb", closefd=True)  # noqa: UP020 - io.open takes a file descriptor
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``limit_bytes`` (a file growing past it is refused too)."""
    with open_regular(path, limit_bytes) as stream:
        try:
            data = stream.read(limit_bytes + 1)
        except OSError as err:
            raise InputFileError(path, None, f"cannot read it ({err.strerror or type(err).__name__})") from None
    if len(data) > limit_bytes:
        raise InputFileError(path, None, f"file is larger than the limit of {size_text(limit_bytes)}")
    return data
