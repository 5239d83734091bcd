"""The person's outcomes in the state directory: one JSON document, replaced atomically.

The service and ``presspoint person ...`` both change it, so every change is
read-modify-write under an exclusive ``flock`` on a lock file beside it; the
write itself is ``config.atomic`` (a power cut leaves the old or the new
document, never half of one).  A document that cannot be read is an error
naming the file, never silently replaced: it holds the person's safety flags.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, TypeVar

from config.json_document import load_document, save_document
from config.reading import MIB
from firmware.outcomes.records import PersonRecord

FILE_NAME: Final = "outcomes.json"
LIMIT_BYTES: Final = 4 * MIB

T = TypeVar("T")


class OutcomeStore:
    """``<state_dir>/outcomes.json`` and its lock."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self._lock_path = state_dir / f".{FILE_NAME}.lock"

    def load(self) -> PersonRecord:
        """The stored record (an empty one before anything was stored)."""
        return load_document(self.path, PersonRecord, LIMIT_BYTES)

    def change(self, edit: Callable[[PersonRecord], tuple[PersonRecord, T]]) -> T:
        """Apply ``edit`` to the stored record under the lock and store what it returns."""
        with self._locked():
            record, result = edit(self.load())
            self._save(record)
            return result

    def _save(self, record: PersonRecord) -> None:
        save_document(self.path, record, by_alias=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
