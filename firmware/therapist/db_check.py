"""Is a ``--db`` file a therapist (clinic storage) database?  Checked before anything opens it for writing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from config.errors import PresspointError

_COLLECT_TABLES = ("sessions", "events", "sample_batches", "alembic_version")
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_collect_db(path: Path, *, create: bool) -> None:
    """Refuse a ``--db`` that is not a therapist database, in one line, before it is opened for writing.

    ``create``: a missing or empty file is fine (``collect`` makes the tables).
    A text file, random bytes, a directory or a device's own store is refused.
    """
    if path.is_dir():
        raise PresspointError(f"{path}: is a directory, not a database")
    if not path.exists():
        if create:
            return
        raise PresspointError(f"{path}: no such database (make one with: presspoint therapist collect --db {path})")
    if not path.is_file():
        raise PresspointError(f"{path}: not a regular file, not a database")
    try:
        with path.open("rb") as raw:
            head = raw.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise PresspointError(f"{path}: cannot read it ({exc.strerror})") from None
    if not head and create:
        return
    if head != _SQLITE_MAGIC:
        raise PresspointError(f"{path}: not a presspoint therapist database (not an SQLite file)")
    tables = _tables(path)
    if "outbox" in tables:
        raise PresspointError(
            f"{path}: is a device's own store, not a therapist database; collect into a file of its own"
        )
    missing = [name for name in _COLLECT_TABLES if name not in tables]
    if missing == ["alembic_version"]:
        raise PresspointError(
            f"{path}: a therapist database of an older presspoint (its own schema, before the clinic storage); "
            "collect into a new file"
        )
    if missing and not (create and not tables):
        raise PresspointError(f"{path}: not a presspoint therapist database (no {', '.join(missing)} table)")


def _tables(path: Path) -> set[str]:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PresspointError(f"{path}: cannot open it as SQLite ({exc})") from None
    try:
        return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise PresspointError(f"{path}: not a readable SQLite database ({exc})") from None
    finally:
        conn.close()
