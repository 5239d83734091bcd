"""Storing what the devices publish: every message once, whoever receives it and however often.

MQTT QoS 1 is at-least-once, the device re-sends what was not acknowledged,
retained summaries arrive at every subscribe, and several clinic instances
may share one database.  So every write is ``INSERT ... ON CONFLICT DO
NOTHING`` keyed on the message's own id (``msg_id``; ``measurement_id``;
``session_id`` for a summary, which is filled in only while still empty),
and the affected row count tells a new message from a repeat - on SQLite
and PostgreSQL alike.  Retained state (availability, status, plan state and
error) is an upsert that never goes back in time.

A payload that fails validation, or whose topic and body disagree on device
or session, goes to ``rejected``: counted, never data.  ``ingest`` commits
before it returns, so the collector acknowledges only what is on disk.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from firmware.clinic import schema as t
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.ppt import PptMeasurement
from firmware.session.summary import SessionSummary


class Ingested(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"  # an empty retained payload (a cleared topic) or a topic not stored


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_iso(moment: datetime) -> str:
    """An aware time as the schema stores it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.cache
def _insert_ignore_statement(dialect_name: str, table: sa.Table) -> Any:
    """Built once per table: building a statement per message costs more than running it."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    return dialect.insert(table).on_conflict_do_nothing().returning(key)


def insert_ignore(conn: Connection, table: sa.Table, values: dict[str, Any]) -> bool:
    """Insert one row unless its key exists; ``True`` when it was new.

    ``RETURNING`` rather than the row count, which psycopg reports as -1 here.
    """
    return conn.execute(_insert_ignore_statement(conn.dialect.name, table), values).first() is not None


def person_of(summary: dict[str, Any]) -> str | None:
    """The pseudonym a summary names (``person`` as text, or an object with ``pseudonym``/``id``)."""
    person = summary.get("person")
    if isinstance(person, dict):
        person = person.get("pseudonym") or person.get("id")
    return person[:128] if isinstance(person, str) and person else None


def parse_summary(payload: bytes | str) -> tuple[SessionSummary, dict[str, Any]]:
    """The summary's core fields, validated; fields other issues add (``person``...) are kept but not judged."""
    raw = json.loads(payload)
    if not isinstance(raw, dict):
        raise ValueError("a summary is a JSON object")
    known = {field.alias or name for name, field in SessionSummary.model_fields.items()} | set(
        SessionSummary.model_fields
    )
    return SessionSummary.model_validate({k: v for k, v in raw.items() if k in known}), raw


def _reject(conn: Connection, topic: str, reason: str, payload: bytes) -> Ingested:
    conn.execute(
        t.rejected.insert().values(
            topic=topic[:1000],
            reason=reason[:500],
            payload_sha256=hashlib.sha256(payload).hexdigest(),
            received_at=now_iso(),
        )
    )
    return Ingested.REJECTED


class ClinicStore:
    """Writes one message at a time, from one caller at a time (the collector; other threads make their own)."""

    def __init__(self, engine: Engine, *, prefix: str = "presspoint") -> None:
        self.engine = engine
        self.prefix = prefix
        # Sessions (and devices) known to have their row: most messages then need one statement, not three.
        self._known: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._pending: list[str] = []

    def ingest(self, topic: str, payload: bytes) -> Ingested:
        """Store one received message (committed on return)."""
        return self.ingest_many([(topic, payload)])[0]

    def ingest_many(self, messages: list[tuple[str, bytes]]) -> list[Ingested]:
        """Store messages in one transaction (committed on return): one commit for a burst, not one each.

        Every handler validates before it writes, so a bad payload is recorded
        in ``rejected`` within the same transaction and the others still count.
        A database error rolls back them all and propagates: nothing was stored,
        nothing may be acknowledged.
        """
        self._pending.clear()
        with self.engine.begin() as conn:
            results = [self._one(conn, topic, payload) for topic, payload in messages]
        self._committed()
        return results

    def _one(self, conn: Connection, topic: str, payload: bytes) -> Ingested:
        if not payload or not topic.startswith(self.prefix + "/"):
            return Ingested.IGNORED
        parts = topic[len(self.prefix) + 1 :].split("/")
        device_id = parts[0]
        kind = f"session/{parts[3]}" if len(parts) == 4 and parts[1] == "session" else "/".join(parts[1:])
        handler = _HANDLERS.get(kind)
        if handler is None or (parts[1:2] == ["session"]) != (len(parts) == 4):
            return Ingested.IGNORED
        try:
            return handler(self, conn, topic, device_id, parts, payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
            return _reject(conn, topic, f"invalid: {where}: {first.get('msg', 'invalid')}", payload)
        except (ValueError, UnicodeDecodeError) as err:
            return _reject(conn, topic, f"invalid: {str(err).splitlines()[0]}", payload)

    # -- one handler per topic kind ------------------------------------------------

    def _ensure_device(self, conn: Connection, device_id: str) -> None:
        if f"d/{device_id}" not in self._known:
            insert_ignore(conn, t.devices, {"device_id": device_id, "first_seen": now_iso()})
            self._remember(conn, f"d/{device_id}")

    def _ensure_session(self, conn: Connection, device_id: str, session_id: str) -> None:
        if f"s/{session_id}" in self._known:
            return
        self._ensure_device(conn, device_id)
        insert_ignore(conn, t.sessions, {"session_id": session_id, "device_id": device_id, "first_seen": now_iso()})
        self._remember(conn, f"s/{session_id}")

    def _remember(self, conn: Connection, key: str) -> None:
        """Known once the transaction commits (a rolled-back row must be inserted again): see ``ingest``."""
        self._pending.append(key)

    def _committed(self) -> None:
        for key in self._pending:
            self._known[key] = None
        self._pending.clear()
        while len(self._known) > 10_000:
            self._known.popitem(last=False)

    def forget(self) -> None:
        """After rows were deleted (a person erased): check every session row again."""
        self._known.clear()

    def _availability(self, conn: Connection, topic: str, device_id: str, _p: list[str], payload: bytes) -> Ingested:
        text = payload.decode("utf-8").strip()
        if text not in ("online", "offline"):
            raise ValueError(f"availability is online or offline, not {text[:20]!r}")
        self._ensure_device(conn, device_id)
        changed = conn.execute(
            t.devices.update()
            .where(t.devices.c.device_id == device_id)
            .where(sa.or_(t.devices.c.online.is_(None), t.devices.c.online != (text == "online")))
            .values(online=text == "online", availability_at=now_iso())
        ).rowcount
        return Ingested.NEW if changed else Ingested.DUPLICATE

    def _status(self, conn: Connection, topic: str, device_id: str, _p: list[str], payload: bytes) -> Ingested:
        status = DeviceStatus.model_validate_json(payload)
        if status.device_id != device_id:
            raise ValueError("status's device id differs from its topic")
        self._ensure_device(conn, device_id)
        changed = conn.execute(
            t.devices.update()
            .where(t.devices.c.device_id == device_id)
            .where(sa.or_(t.devices.c.status_at.is_(None), t.devices.c.status_at < status.updated_at))
            .values(status=payload.decode("utf-8"), status_at=status.updated_at)
        ).rowcount
        return Ingested.NEW if changed else Ingested.DUPLICATE

    def _plan_state(self, conn: Connection, topic: str, device_id: str, _p: list[str], payload: bytes) -> Ingested:
        state = PlanState.model_validate_json(payload)
        if state.device_id != device_id:
            raise ValueError("plan state's device id differs from its topic")
        self._ensure_device(conn, device_id)
        row = {"device_id": device_id, "version": state.version, "state": payload.decode()}
        row["updated_at"] = state.updated_at
        if insert_ignore(conn, t.plan_states, row):
            return Ingested.NEW
        changed = conn.execute(
            t.plan_states.update()
            .where(t.plan_states.c.device_id == device_id)
            .where(t.plan_states.c.updated_at < state.updated_at)
            .values(**row)
        ).rowcount
        return Ingested.NEW if changed else Ingested.DUPLICATE

    def _plan_error(self, conn: Connection, topic: str, device_id: str, _p: list[str], payload: bytes) -> Ingested:
        error = PlanError.model_validate_json(payload)
        if error.device_id != device_id:
            raise ValueError("plan error's device id differs from its topic")
        self._ensure_device(conn, device_id)
        row = {"device_id": device_id, "request_id": error.request_id, "error": payload.decode(), "at": error.at}
        if insert_ignore(conn, t.plan_errors, row):
            return Ingested.NEW
        changed = conn.execute(
            t.plan_errors.update()
            .where(t.plan_errors.c.device_id == device_id)
            .where(t.plan_errors.c.at < error.at)
            .values(**row)
        ).rowcount
        return Ingested.NEW if changed else Ingested.DUPLICATE

    def _summary(self, conn: Connection, topic: str, device_id: str, parts: list[str], payload: bytes) -> Ingested:
        session_id = parts[2]
        summary, raw = parse_summary(payload)
        if summary.session_id != session_id or summary.device_id != device_id:
            raise ValueError("summary's device/session id differ from its topic")
        self._ensure_session(conn, device_id, session_id)
        changed = conn.execute(
            t.sessions.update()
            .where(t.sessions.c.session_id == session_id)
            .where(t.sessions.c.summary.is_(None))
            .values(
                summary=payload.decode("utf-8"),
                person=person_of(raw),
                started_at=utc_iso(summary.started_at),
                outcome=str(summary.outcome),
                duration_s=summary.duration_s,
                peak_force_n=summary.peak_force_n,
                holds=len(summary.holds),
                holds_completed=sum(1 for h in summary.holds if h.outcome == "completed"),
                summary_at=now_iso(),
            )
        ).rowcount
        return Ingested.NEW if changed else Ingested.DUPLICATE

    def _event(self, conn: Connection, topic: str, device_id: str, parts: list[str], payload: bytes) -> Ingested:
        message = EventMessage.model_validate_json(payload)
        if message.session_id != parts[2] or message.device_id != device_id:
            raise ValueError("event's device/session id differ from its topic")
        self._ensure_session(conn, device_id, message.session_id)
        new = insert_ignore(
            conn,
            t.events,
            {
                "msg_id": message.msg_id,
                "device_id": device_id,
                "session_id": message.session_id,
                "seq": message.seq,
                "idx": message.index,
                "t": message.event.t,
                "type": message.event.type,
                "body": json.dumps(message.event.model_dump(mode="json")),
                "received_at": now_iso(),
            },
        )
        return Ingested.NEW if new else Ingested.DUPLICATE

    def _samples(self, conn: Connection, topic: str, device_id: str, parts: list[str], payload: bytes) -> Ingested:
        batch = SamplesBatch.model_validate_json(payload)
        if batch.session_id != parts[2] or batch.device_id != device_id:
            raise ValueError("samples' device/session id differ from their topic")
        self._ensure_session(conn, device_id, batch.session_id)
        new = insert_ignore(
            conn,
            t.sample_batches,
            {
                "msg_id": batch.msg_id,
                "device_id": device_id,
                "session_id": batch.session_id,
                "seq": batch.seq,
                "batch": batch.batch,
                "t0": batch.t0,
                "n": batch.n,
                "payload": payload.decode("utf-8"),
                "received_at": now_iso(),
            },
        )
        return Ingested.NEW if new else Ingested.DUPLICATE

    def _ppt(self, conn: Connection, topic: str, device_id: str, _p: list[str], payload: bytes) -> Ingested:
        m = PptMeasurement.model_validate_json(payload)
        if m.device_id != device_id:
            raise ValueError("measurement's device id differs from its topic")
        self._ensure_device(conn, device_id)
        raw = json.loads(payload)
        new = insert_ignore(
            conn,
            t.ppt,
            {
                "measurement_id": m.measurement_id,
                "device_id": device_id,
                "person": person_of(raw),
                "measured_at": m.measured_at,
                "outcome": str(m.outcome),
                "threshold_n": m.threshold_n,
                "payload": payload.decode("utf-8"),
                "received_at": now_iso(),
            },
        )
        return Ingested.NEW if new else Ingested.DUPLICATE


_HANDLERS = {
    "status": ClinicStore._availability,
    "status/info": ClinicStore._status,
    "plan/state": ClinicStore._plan_state,
    "plan/error": ClinicStore._plan_error,
    "session/summary": ClinicStore._summary,
    "session/event": ClinicStore._event,
    "session/samples": ClinicStore._samples,
    "ppt": ClinicStore._ppt,
}
