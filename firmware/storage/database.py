"""The device's one SQLite file: session store and MQTT outbox side by side.

Both live in one file so that a session's data and the messages that carry it
are committed in the same transaction: after a crash there is never an event
stored without its outbox message, or the other way round.

WAL mode lets readers go on while a commit is in progress; ``synchronous=FULL``
is used for transactions that must survive a power cut (session data and
summaries) and ``NORMAL`` for bookkeeping (deleting acknowledged messages),
where losing the last commit only means a duplicate the consumer drops.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config.errors import PresspointError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY,   -- per device, increasing, never reused
    msg_id     TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL,
    retain     INTEGER NOT NULL,
    session_id TEXT,
    t_from     REAL,                  -- sample batches: the time span they cover
    t_to       REAL,
    items      INTEGER NOT NULL DEFAULT 1,
    created_at REAL    NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_kind ON outbox (kind, seq);
CREATE TABLE IF NOT EXISTS sessions (
    session_id  TEXT PRIMARY KEY,
    started_at  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'finished')),
    outcome     TEXT,
    meta        TEXT NOT NULL DEFAULT '{}',
    summary     BLOB,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_state ON sessions (state);
CREATE TABLE IF NOT EXISTS session_events (
    session_id TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    t          REAL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (session_id, idx)
);
CREATE TABLE IF NOT EXISTS session_samples (
    session_id TEXT    NOT NULL,
    batch      INTEGER NOT NULL,
    t0         REAL    NOT NULL,
    n          INTEGER NOT NULL,
    body       TEXT    NOT NULL,      -- {"t": [...], "f": [...], "r": [...]}
    PRIMARY KEY (session_id, batch)
);
"""


class StorageError(PresspointError):
    """The local database cannot be opened or written; the message names the file."""


def check_state_dir(path: Path, *, what: str = "storage.state_dir") -> None:
    """Refuse a state directory the daemon could not use, before anything is created in it.

    It must be a directory we can write, or not exist yet below a directory we
    can write (it is made at start).  A file, a path through a file, a folder
    without write permission: one line naming ``what`` and the path.
    """
    probe = path
    while not probe.exists():
        if probe.is_symlink():
            raise StorageError(f"{what} {path}: {probe} is a broken symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "is a file, not a directory" if probe == path else f"is below {probe}, which is a file"
        raise StorageError(f"{what} {path}: {where}")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "is not writable" if probe == path else f"cannot be created: {probe} is not writable"
        raise StorageError(f"{what} {path}: {where}")


class LocalDb:
    """One SQLite connection with explicit, nestable transactions.

    The connection is in autocommit mode and transactions are opened with
    ``BEGIN IMMEDIATE`` by :meth:`transaction`, so the code decides exactly
    what is atomic.  Not thread-safe: one thread owns it (see ``StoreWriter``).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(_SCHEMA)
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.Error as exc:
            raise StorageError(f"local database {self.path}: {exc}") from None
        self._depth = 0
        self._durable = True  # matches PRAGMA synchronous=FULL above

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """Run the block atomically; the outermost block commits.

        ``durable`` commits with ``synchronous=FULL`` (an fsync per commit).
        The outermost block decides: SQLite ignores a change of
        ``synchronous`` inside a transaction (checked with strace), so a
        nested block cannot make the commit more durable and must not ask to.
        """
        outer = self._depth == 0
        if outer:
            if durable != self._durable:
                self.conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            self.conn.execute("BEGIN IMMEDIATE")
        elif durable and not self._durable:
            raise RuntimeError("a durable write nested in a non-durable transaction")
        self._depth += 1
        try:
            yield self.conn
        except BaseException:
            self._depth -= 1
            if outer:
                self.conn.execute("ROLLBACK")
            raise
        self._depth -= 1
        if outer:
            self.conn.execute("COMMIT")

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self.conn.close()
