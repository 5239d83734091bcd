"""The therapist's SQLite database of sessions: summaries, events, sample batches, PPT measurements.

Idempotent by construction, because MQTT QoS 1 is at-least-once and the
device re-sends what was not acknowledged: events and sample batches are
keyed by the ``msg_id`` every message carries and are also unique per
(session, index) / (session, batch); a summary is stored once per
``session_id`` (retained copies arrive at every subscribe); a PPT
measurement once per ``measurement_id``.  ``INSERT OR IGNORE`` tells a new
row from a repeat.  Payloads that fail validation, or whose topic and body
disagree on device or session, go to ``rejected`` - counted, never data.

Each ``ingest`` commits before it returns (WAL, ``synchronous=FULL``), so
the collector can acknowledge the message to the broker only after it is
on disk.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from firmware.protocol.payloads import EventMessage, SamplesBatch
from firmware.protocol.ppt import PptMeasurement
from firmware.session.summary import SessionSummary
from firmware.therapist.readable import MISSING, person_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id   TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    started_at   TEXT,
    outcome      TEXT,
    duration_s   REAL,
    peak_force_n REAL,
    summary      TEXT,
    first_seen   TEXT NOT NULL,
    summary_at   TEXT
);
CREATE TABLE IF NOT EXISTS events (
    msg_id     TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    t          REAL,
    type       TEXT NOT NULL,
    body       TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (session_id, idx)
);
CREATE TABLE IF NOT EXISTS sample_batches (
    msg_id     TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    batch      INTEGER NOT NULL,
    t0         REAL NOT NULL,
    n          INTEGER NOT NULL,
    payload    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (session_id, batch)
);
CREATE TABLE IF NOT EXISTS ppt (
    measurement_id TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL,
    measured_at    TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    threshold_n    REAL,
    payload        TEXT NOT NULL,
    received_at    TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    topic          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    received_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events (session_id, idx);
CREATE INDEX IF NOT EXISTS batches_session ON sample_batches (session_id, batch);
"""


#: Tables every therapist database has; ``outbox`` is what marks a device's own store.
class Ingested(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"  # an empty retained payload (a cleared topic) or a topic we do not store


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SessionListing:
    session_id: str
    device_id: str
    started_at: str | None
    outcome: str | None
    duration_s: float | None
    peak_force_n: float | None
    summary: SessionSummary | None
    person: str
    events: int
    samples: int


@dataclass
class SessionData:
    """Everything stored about one session, ready to plot."""

    session_id: str
    device_id: str
    summary: SessionSummary | None
    events: list[dict[str, Any]]
    times: list[float]
    forces: list[float | None]
    person: str = MISSING


def read_summary(summary_json: str) -> tuple[SessionSummary, str]:
    """A stored summary and the person it names (``-`` for summaries from before ``person``).

    ``person`` is read from the stored JSON itself, so summaries with and
    without it both list; a model that does not know the field yet is given
    the rest.
    """
    fields = json.loads(summary_json)
    person = person_of(fields)
    if "person" not in SessionSummary.model_fields:
        fields.pop("person", None)
    return SessionSummary.model_validate(fields), person


class CollectStore:
    """One SQLite file; not thread-safe (the collector uses it from one task)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA busy_timeout=5000")
        self.conn.executescript(_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    # -- ingest ------------------------------------------------------------------

    def ingest(self, topic: str, payload: bytes, *, prefix: str = "presspoint") -> Ingested:
        """Store one received message (committed on return); tells new from repeat and rejects bad ones."""
        if not payload:
            return Ingested.IGNORED
        if not topic.startswith(prefix + "/"):
            return Ingested.IGNORED
        parts = topic[len(prefix) + 1 :].split("/")
        try:
            if len(parts) == 4 and parts[1] == "session":
                device_id, _, session_id, kind = parts
                if kind == "summary":
                    return self._summary(topic, device_id, session_id, payload)
                if kind == "event":
                    return self._event(topic, device_id, session_id, payload)
                if kind == "samples":
                    return self._samples(topic, device_id, session_id, payload)
            elif len(parts) == 2 and parts[1] == "ppt":
                return self._ppt(topic, parts[0], payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
            return self._reject(topic, f"invalid: {where}: {first.get('msg', 'invalid')}", payload)
        return Ingested.IGNORED

    def _reject(self, topic: str, reason: str, payload: bytes) -> Ingested:
        self.conn.execute(
            "INSERT INTO rejected (topic, reason, payload_sha256, received_at) VALUES (?, ?, ?, ?)",
            (topic, reason[:500], hashlib.sha256(payload).hexdigest(), _now()),
        )
        return Ingested.REJECTED

    def _ensure_session(self, device_id: str, session_id: str) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO sessions (session_id, device_id, first_seen) VALUES (?, ?, ?)",
            (session_id, device_id, _now()),
        )

    def _summary(self, topic: str, device_id: str, session_id: str, payload: bytes) -> Ingested:
        summary = SessionSummary.model_validate_json(payload)
        if summary.session_id != session_id or summary.device_id != device_id:
            return self._reject(topic, "summary's device/session id differ from its topic", payload)
        with self.conn:
            self.conn.execute("BEGIN")
            self._ensure_session(device_id, session_id)
            cursor = self.conn.execute(
                "UPDATE sessions SET summary = ?, started_at = ?, outcome = ?, duration_s = ?, peak_force_n = ?, "
                "summary_at = ? WHERE session_id = ? AND summary IS NULL",
                (
                    payload.decode("utf-8"),
                    summary.started_at.isoformat(),
                    str(summary.outcome),
                    summary.duration_s,
                    summary.peak_force_n,
                    _now(),
                    session_id,
                ),
            )
        return Ingested.NEW if cursor.rowcount == 1 else Ingested.DUPLICATE

    def _event(self, topic: str, device_id: str, session_id: str, payload: bytes) -> Ingested:
        message = EventMessage.model_validate_json(payload)
        if message.session_id != session_id or message.device_id != device_id:
            return self._reject(topic, "event's device/session id differ from its topic", payload)
        body = message.event.model_dump(mode="json")
        with self.conn:
            self.conn.execute("BEGIN")
            self._ensure_session(device_id, session_id)
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO events (msg_id, device_id, session_id, seq, idx, t, type, body, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.msg_id,
                    device_id,
                    session_id,
                    message.seq,
                    message.index,
                    message.event.t,
                    message.event.type,
                    json.dumps(body),
                    _now(),
                ),
            )
        return Ingested.NEW if cursor.rowcount == 1 else Ingested.DUPLICATE

    def _samples(self, topic: str, device_id: str, session_id: str, payload: bytes) -> Ingested:
        batch = SamplesBatch.model_validate_json(payload)
        if batch.session_id != session_id or batch.device_id != device_id:
            return self._reject(topic, "samples' device/session id differ from their topic", payload)
        with self.conn:
            self.conn.execute("BEGIN")
            self._ensure_session(device_id, session_id)
            cursor = self.conn.execute(
                "INSERT OR IGNORE INTO sample_batches "
                "(msg_id, device_id, session_id, seq, batch, t0, n, payload, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch.msg_id,
                    device_id,
                    session_id,
                    batch.seq,
                    batch.batch,
                    batch.t0,
                    batch.n,
                    payload.decode("utf-8"),
                    _now(),
                ),
            )
        return Ingested.NEW if cursor.rowcount == 1 else Ingested.DUPLICATE

    def _ppt(self, topic: str, device_id: str, payload: bytes) -> Ingested:
        m = PptMeasurement.model_validate_json(payload)
        if m.device_id != device_id:
            return self._reject(topic, "measurement's device id differs from its topic", payload)
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO ppt (measurement_id, device_id, measured_at, outcome, threshold_n, payload, "
            "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                m.measurement_id,
                device_id,
                m.measured_at,
                str(m.outcome),
                m.threshold_n,
                payload.decode("utf-8"),
                _now(),
            ),
        )
        return Ingested.NEW if cursor.rowcount == 1 else Ingested.DUPLICATE

    # -- queries -----------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("sessions", "events", "sample_batches", "ppt", "rejected"):
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        summaries = self.conn.execute("SELECT COUNT(*) FROM sessions WHERE summary IS NOT NULL").fetchone()
        out["summaries"] = int(summaries[0])
        return out

    def sessions(self, device_id: str | None = None) -> list[SessionListing]:
        rows = self.conn.execute(
            "SELECT s.session_id, s.device_id, s.started_at, s.outcome, s.duration_s, s.peak_force_n, s.summary, "
            "(SELECT COUNT(*) FROM events e WHERE e.session_id = s.session_id), "
            "(SELECT COALESCE(SUM(n), 0) FROM sample_batches b WHERE b.session_id = s.session_id) "
            "FROM sessions s WHERE (? IS NULL OR s.device_id = ?) ORDER BY COALESCE(s.started_at, s.first_seen), "
            "s.session_id",
            (device_id, device_id),
        ).fetchall()
        out = []
        for sid, dev, started, outcome, duration, peak, summary_json, n_events, n_samples in rows:
            summary, person = read_summary(summary_json) if summary_json else (None, MISSING)
            out.append(
                SessionListing(sid, dev, started, outcome, duration, peak, summary, person, n_events, int(n_samples))
            )
        return out

    def session_ids(self, prefix: str = "") -> list[str]:
        """Ids starting with ``prefix``, oldest first (the order ``sessions`` lists them in)."""
        rows = self.conn.execute(
            "SELECT session_id FROM sessions WHERE substr(session_id, 1, ?) = ? "
            "ORDER BY COALESCE(started_at, first_seen), session_id",
            (len(prefix), prefix),
        ).fetchall()
        return [sid for (sid,) in rows]

    def session(self, session_id: str) -> SessionData | None:
        row = self.conn.execute(
            "SELECT device_id, summary FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return None
        device_id, summary_json = row
        summary, person = read_summary(summary_json) if summary_json else (None, MISSING)
        events = [
            json.loads(body)
            for (body,) in self.conn.execute("SELECT body FROM events WHERE session_id = ? ORDER BY idx", (session_id,))
        ]
        times: list[float] = []
        forces: list[float | None] = []
        for (payload,) in self.conn.execute(
            "SELECT payload FROM sample_batches WHERE session_id = ? ORDER BY batch", (session_id,)
        ):
            batch = SamplesBatch.model_validate_json(payload)
            times.extend(batch.times())
            forces.extend(batch.force_n)
        return SessionData(session_id, device_id, summary, events, times, forces, person)

    def ppt_measurements(self, device_id: str | None = None) -> list[PptMeasurement]:
        return [
            PptMeasurement.model_validate_json(payload)
            for (payload,) in self.conn.execute(
                "SELECT payload FROM ppt WHERE (? IS NULL OR device_id = ?) ORDER BY measured_at",
                (device_id, device_id),
            )
        ]
