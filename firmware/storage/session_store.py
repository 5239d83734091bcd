"""Durable local record of every session: rows, events, sample batches, summary.

The device keeps its own copy of each session so that a crash, a kill or a
power cut never loses more than the last uncommitted second: at restart a
session still marked ``running`` is closed as ``interrupted`` with a summary
built from what was stored (see ``firmware.storage.recovery``).

The session core owns the summary model; this module only stores its JSON.
Not thread-safe: used by the thread that owns the ``LocalDb``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firmware.storage.database import LocalDb


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One stored session."""

    session_id: str
    started_at: str
    state: str  # running | finished
    outcome: str | None
    meta: dict[str, Any]
    summary: bytes | None
    finished_at: str | None


@dataclass(frozen=True, slots=True)
class StoredSample:
    """One force sample as stored: seconds since session start, newtons, ADC counts."""

    t: float
    force_n: float
    raw: int | None


class SessionStore:
    """Session tables of the local database."""

    def __init__(self, db: LocalDb) -> None:
        self._db = db

    def start(self, session_id: str, started_at: str, meta: Mapping[str, Any] | None = None) -> None:
        """Record a new running session (idempotent for the same id)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sessions (session_id, started_at, state, meta) VALUES (?, ?, 'running', ?)",
                (session_id, started_at, json.dumps(dict(meta or {}), default=str)),
            )

    def add_event(self, session_id: str, index: int, t: float | None, event: Mapping[str, Any]) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO session_events (session_id, idx, t, body) VALUES (?, ?, ?, ?)",
                (session_id, index, t, json.dumps(dict(event), default=str)),
            )

    def add_sample_batch(
        self,
        session_id: str,
        batch: int,
        times: Sequence[float],
        forces: Sequence[float],
        raws: Sequence[int | None],
    ) -> None:
        if not (len(times) == len(forces) == len(raws)) or not times:
            raise ValueError("a sample batch needs equally long, non-empty times, forces and raws")
        body = json.dumps({"t": list(times), "f": list(forces), "r": list(raws)})
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO session_samples (session_id, batch, t0, n, body) VALUES (?, ?, ?, ?, ?)",
                (session_id, batch, times[0], len(times), body),
            )

    def finish(self, session_id: str, outcome: str, summary: bytes, finished_at: str) -> None:
        """Mark the session finished with its summary (durable: fsync before return)."""
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO sessions (session_id, started_at, state) VALUES (?, ?, 'running')",
                (session_id, finished_at),
            )
            conn.execute(
                "UPDATE sessions SET state = 'finished', outcome = ?, summary = ?, finished_at = ? "
                "WHERE session_id = ?",
                (outcome, summary, finished_at, session_id),
            )

    # -- reading --------------------------------------------------------------

    def get(self, session_id: str) -> SessionRow | None:
        row = self._db.conn.execute(
            "SELECT session_id, started_at, state, outcome, meta, summary, finished_at "
            "FROM sessions WHERE session_id = ?",
            (session_id,),
        ).fetchone()
        return None if row is None else _row(row)

    def find_unfinished(self) -> list[SessionRow]:
        """Sessions still marked ``running``: left so by a crash, kill or power cut."""
        rows = self._db.conn.execute(
            "SELECT session_id, started_at, state, outcome, meta, summary, finished_at "
            "FROM sessions WHERE state = 'running' ORDER BY rowid"
        ).fetchall()
        return [_row(r) for r in rows]

    def events(self, session_id: str) -> list[dict[str, Any]]:
        rows = self._db.conn.execute(
            "SELECT body FROM session_events WHERE session_id = ? ORDER BY idx", (session_id,)
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def event_count(self, session_id: str) -> int:
        row = self._db.conn.execute(
            "SELECT COUNT(*) FROM session_events WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(row[0])

    def samples(self, session_id: str) -> list[StoredSample]:
        rows = self._db.conn.execute(
            "SELECT body FROM session_samples WHERE session_id = ? ORDER BY batch", (session_id,)
        ).fetchall()
        out: list[StoredSample] = []
        for (body,) in rows:
            data = json.loads(body)
            out.extend(StoredSample(t, f, r) for t, f, r in zip(data["t"], data["f"], data["r"], strict=True))
        return out

    def prune_finished(self, keep: int) -> int:
        """Delete all but the ``keep`` most recent finished sessions; returns how many went."""
        with self._db.transaction(durable=False) as conn:
            old = [
                r[0]
                for r in conn.execute(
                    "SELECT session_id FROM sessions WHERE state = 'finished' ORDER BY rowid DESC LIMIT -1 OFFSET ?",
                    (keep,),
                ).fetchall()
            ]
            for table in ("session_events", "session_samples", "sessions"):
                conn.executemany(f"DELETE FROM {table} WHERE session_id = ?", [(s,) for s in old])
        return len(old)


def _row(r: Sequence[Any]) -> SessionRow:
    try:
        meta = json.loads(r[4]) if r[4] else {}
    except ValueError:
        meta = {}
    return SessionRow(
        str(r[0]),
        str(r[1]),
        str(r[2]),
        r[3],
        meta if isinstance(meta, dict) else {},
        None if r[5] is None else bytes(r[5]),
        r[6],
    )
