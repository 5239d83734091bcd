"""One daemon per state directory: an exclusive ``flock`` on ``<state_dir>/presspoint.lock``.

Two daemons on one state dir corrupt each other's work: the second closes
the first one's live session as ``interrupted`` and both number the same
outbox rows.  So ``presspoint run`` takes this lock before it opens the
store and holds it for the life of the process (the kernel drops it when the
process ends, however it ends: no stale lock after a crash).  The file
holds the holder's PID, so the refusal can name it.  The descriptor is not
inherited by the real-time child (Python opens files close-on-exec).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Final

from config.errors import PresspointError

LOCK_NAME: Final = "presspoint.lock"


class StateDirBusy(PresspointError):
    """Another process holds the state directory's lock."""


class StateLock:
    """Held from ``acquire`` to ``release`` (or the process's end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: Path) -> StateLock:
        """Take the lock (never waits); ``StateDirBusy`` naming the holder's PID if it is taken."""
        path = state_dir / LOCK_NAME
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise PresspointError(f"storage.state_dir {state_dir}: cannot use it ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "another process"
            raise StateDirBusy(
                f"storage.state_dir {state_dir} is in use by another presspoint ({who}, lock {path}); "
                "stop it, or give this one its own state_dir"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise PresspointError(f"storage.state_dir {state_dir}: cannot lock {path} ({exc.strerror})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the flock

    def __enter__(self) -> StateLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
