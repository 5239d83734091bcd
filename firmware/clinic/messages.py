"""What one received message means for the clinic database, decided before anything is written.

Each topic kind has a reader that validates the payload and returns a
``Parsed``: the device (and session) rows it needs, at most one row for a
message table (stored once, keyed on the message's own id: ``msg_id``,
``measurement_id``...) and at most one state change (retained state that
never goes back in time).  ``firmware.clinic.ingest`` writes a whole burst of
these in one transaction.  A reader raises ``ValueError`` or pydantic's
``ValidationError`` for a payload that is not data: it goes to ``rejected``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from firmware.clinic import clinic_answers
from firmware.clinic import schema as t
from firmware.clinic.bulk_insert import insert_new
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.protocol.person import FollowUpMessage, PersonStatus
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.ppt import PPT_SCHEMA, PPT_SCHEMA_2, PptMeasurement, PptSpotMeasurement
from firmware.session.summary import SessionSummary

#: A state change, run in the burst's transaction; ``True`` when it changed something.
StateChange = Callable[[Connection], bool]


_now_cache: tuple[int, str] = (-1, "")  # the last millisecond asked for, as text: a burst asks once per message


def now_iso() -> str:
    """Now, as the schema stores times (UTC, milliseconds, ``Z``)."""
    global _now_cache
    ms = time.time_ns() // 1_000_000
    cached_ms, text = _now_cache
    if ms != cached_ms:
        moment = datetime.fromtimestamp(ms // 1000, UTC).replace(microsecond=ms % 1000 * 1000)
        text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        _now_cache = (ms, text)
    return text


def utc_iso(moment: datetime) -> str:
    """An aware time as the schema stores it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)  # one per message: not frozen, whose __init__ costs twice as much
class Parsed:
    device_id: str
    session_id: str | None = None
    table: sa.Table | None = None
    row: dict[str, Any] | None = None
    change: StateChange | None = None
    kind: str = ""


def person_of(summary: dict[str, Any]) -> str | None:
    """The pseudonym a summary names (``person`` as text, or an object with ``pseudonym``/``id``)."""
    person = summary.get("person")
    if isinstance(person, dict):
        person = person.get("pseudonym") or person.get("id")
    return person[:128] if isinstance(person, str) and person else None


def parse_summary(payload: bytes | str) -> tuple[SessionSummary, dict[str, Any]]:
    """The summary's core fields, validated; fields other issues add are kept but not judged."""
    raw = _object(payload)
    known = {field.alias or name for name, field in SessionSummary.model_fields.items()} | set(
        SessionSummary.model_fields
    )
    return SessionSummary.model_validate({k: v for k, v in raw.items() if k in known}), raw


def _object(payload: bytes | str) -> dict[str, Any]:
    raw = json.loads(payload)
    if not isinstance(raw, dict):
        raise ValueError("the payload is not a JSON object")
    return raw


def _same(what: str, body_device: str, device_id: str, body_session: str | None = None, session: str | None = None
          ) -> None:
    if body_device != device_id or body_session != session:
        raise ValueError(f"{what}'s device/session id differ from its topic")


def _newer(table: sa.Table, time_column: str, device_id: str, row: dict[str, Any]) -> StateChange:
    """Insert the device's row, or replace it only with a newer one (retained copies arrive again and again)."""

    def change(conn: Connection) -> bool:
        if insert_new(conn, table, [row]):
            return True
        column = table.c[time_column]
        return bool(
            conn.execute(
                table.update().where(table.c.device_id == device_id).where(column < row[time_column]).values(**row)
            ).rowcount
        )

    return change


def availability(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    text = payload.decode("utf-8").strip()
    if text not in ("online", "offline"):
        raise ValueError(f"availability is online or offline, not {text[:20]!r}")
    online = text == "online"

    def change(conn: Connection) -> bool:
        devices = t.devices
        query = devices.update().where(devices.c.device_id == device_id)
        query = query.where(sa.or_(devices.c.online.is_(None), devices.c.online != online))
        return bool(conn.execute(query.values(online=online, availability_at=now_iso())).rowcount)

    return Parsed(device_id, change=change)


def status(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    info = DeviceStatus.model_validate_json(payload)
    _same("status", info.device_id, device_id)

    def change(conn: Connection) -> bool:
        devices = t.devices
        query = devices.update().where(devices.c.device_id == device_id)
        query = query.where(sa.or_(devices.c.status_at.is_(None), devices.c.status_at < info.updated_at))
        return bool(conn.execute(query.values(status=payload.decode("utf-8"), status_at=info.updated_at)).rowcount)

    refusal = None
    if info.refused:  # a refusal seen only in the status (its event missed): one row per reason and last session
        refusal = _refusal_row(device_id, info.updated_at, info.refused, "status", key=info.last_session_id or "")
    return Parsed(device_id, table=t.refusals if refusal else None, row=refusal, change=change)


def _refusal_row(device_id: str, at: str, reason: str, source: str, *, key: str) -> dict[str, Any]:
    digest = hashlib.sha256("\n".join((device_id, source, key, reason)).encode()).hexdigest()[:40]
    return {"refusal_id": digest, "device_id": device_id, "at": at[:40], "reason": reason[:500], "source": source,
            "received_at": now_iso()}


def device_event(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    """``<p>/<device>/event``: events not tied to a session; a refused start is the one stored."""
    raw = _object(payload)
    if raw.get("device_id", device_id) != device_id:
        raise ValueError("event's device id differs from its topic")
    if raw.get("type") == "person_answer_refused":
        return _answer_refused(device_id, raw)
    if raw.get("type") != "session_refused":
        return Parsed(device_id)
    reason, at = raw.get("reason"), raw.get("at")
    if not isinstance(reason, str) or not isinstance(at, str):
        raise ValueError("a session_refused event has a reason and an at")
    return Parsed(device_id, table=t.refusals, row=_refusal_row(device_id, at, reason, "event", key=at),
                  kind="refused")


def _answer_refused(device_id: str, raw: dict[str, Any]) -> Parsed:
    """The device refused an answer sent from the clinic: that answer's row says so."""
    request_id, reason, at = raw.get("request_id"), raw.get("reason"), raw.get("at")
    if not isinstance(request_id, str) or not isinstance(reason, str) or not isinstance(at, str):
        return Parsed(device_id)  # not one of ours (no request id): nothing to mark
    return Parsed(device_id, change=lambda conn: clinic_answers.mark_refused(conn, device_id, request_id, reason, at))


def _both(first: StateChange, second: StateChange) -> StateChange:
    """Both changes, in order; ``True`` when either changed something."""
    return lambda conn: first(conn) | second(conn)


def plan_state(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    state = PlanState.model_validate_json(payload)
    _same("plan state", state.device_id, device_id)
    row = {"device_id": device_id, "version": state.version, "state": payload.decode(), "updated_at": state.updated_at}
    return Parsed(device_id, change=_newer(t.plan_states, "updated_at", device_id, row))


def plan_error(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    error = PlanError.model_validate_json(payload)
    _same("plan error", error.device_id, device_id)
    row = {"device_id": device_id, "request_id": error.request_id, "error": payload.decode(), "at": error.at}
    return Parsed(device_id, change=_newer(t.plan_errors, "at", device_id, row))


def person_status(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    state = PersonStatus.model_validate_json(payload)
    _same("person status", state.device_id, device_id)
    row = {"device_id": device_id, "person": state.person, "flags": ",".join(str(f) for f in state.flags)[:200],
           "state": payload.decode(), "updated_at": state.updated_at}
    newer = _newer(t.person_states, "updated_at", device_id, row)
    try:
        moment = datetime.fromisoformat(state.updated_at.replace("Z", "+00:00"))
    except ValueError:
        return Parsed(device_id, change=newer)
    if moment.tzinfo is None:
        return Parsed(device_id, change=newer)
    at = utc_iso(moment)
    return Parsed(device_id, change=_both(newer, lambda conn: clinic_answers.mark_status(conn, device_id, at)))


def summary(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    session_id = parts[2]
    model, raw = parse_summary(payload)
    _same("summary", model.device_id, device_id, model.session_id, session_id)
    values = {
        "summary": payload.decode("utf-8"),
        "person": person_of(raw),
        "started_at": utc_iso(model.started_at),
        "outcome": str(model.outcome),
        "duration_s": model.duration_s,
        "peak_force_n": model.peak_force_n,
        "holds": len(model.holds),
        "holds_completed": sum(1 for h in model.holds if h.outcome == "completed"),
    }

    def change(conn: Connection) -> bool:
        sessions = t.sessions
        query = sessions.update().where(sessions.c.session_id == session_id).where(sessions.c.summary.is_(None))
        return bool(conn.execute(query.values(**values, summary_at=now_iso())).rowcount)

    return Parsed(device_id, session_id, change=change, kind="summary")


def event(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    message = EventMessage.model_validate_json(payload)
    _same("event", message.device_id, device_id, message.session_id, parts[2])
    row = {
        "msg_id": message.msg_id, "device_id": device_id, "session_id": message.session_id, "seq": message.seq,
        "idx": message.index, "t": message.event.t, "type": message.event.type,
        "body": json.dumps(message.event.model_dump(mode="json")), "received_at": now_iso(),
    }
    return Parsed(device_id, message.session_id, t.events, row, kind="event")


def samples(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    batch = SamplesBatch.model_validate_json(payload)
    _same("samples", batch.device_id, device_id, batch.session_id, parts[2])
    row = {
        "msg_id": batch.msg_id, "device_id": device_id, "session_id": batch.session_id, "seq": batch.seq,
        "batch": batch.batch, "t0": batch.t0, "n": batch.n, "payload": payload.decode("utf-8"),
        "received_at": now_iso(),
    }
    return Parsed(device_id, batch.session_id, t.sample_batches, row, kind="samples")


def follow_up(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    answer = FollowUpMessage.model_validate_json(payload)
    _same("follow-up", answer.device_id, device_id, answer.session_id, parts[2])
    row = {"session_id": answer.session_id, "answered_at": utc_iso(answer.answered_at), "device_id": device_id,
           "answer": str(answer.answer), "payload": payload.decode("utf-8"), "received_at": now_iso()}
    if answer.answered_by != "clinic":
        return Parsed(device_id, answer.session_id, t.follow_ups, row, kind="follow_up")

    def acknowledged(conn: Connection) -> bool:
        return clinic_answers.mark_follow_up(conn, device_id, answer.session_id, str(answer.answer),
                                             row["answered_at"])

    return Parsed(device_id, answer.session_id, t.follow_ups, row, change=acknowledged, kind="follow_up")


def ppt(device_id: str, parts: list[str], payload: bytes) -> Parsed:
    """A measurement: ``presspoint.ppt/2`` (one spot, its trials, kPa, the change) as the device sends it, or a
    ``presspoint.ppt/1`` trial from an older device; validated by its model, stored whole with its columns."""
    raw = _object(payload)
    schema = raw.get("schema")
    common: dict[str, Any]
    if schema == PPT_SCHEMA_2:
        spot = PptSpotMeasurement.model_validate_json(payload)
        common = {"measurement_id": spot.measurement_id, "device_id": spot.device_id, "measured_at": spot.measured_at,
                  "outcome": "measured", "threshold_n": spot.mean_n, "spot": spot.spot, "mean_kpa": spot.mean_kpa,
                  "change_kpa": spot.change_kpa, "real_change": spot.real_change}
    elif schema == PPT_SCHEMA:
        trial = PptMeasurement.model_validate_json(payload)
        common = {"measurement_id": trial.measurement_id, "device_id": trial.device_id,
                  "measured_at": trial.measured_at, "outcome": str(trial.outcome), "threshold_n": trial.threshold_n,
                  "spot": None, "mean_kpa": None, "change_kpa": None, "real_change": None}
    else:
        raise ValueError(f"not a PPT measurement (schema {str(schema)[:40]!r})")
    _same("measurement", common["device_id"], device_id)
    row = {**common, "measured_at": common["measured_at"][:40], "person": None,  # the device's status names them
           "payload": payload.decode("utf-8"), "received_at": now_iso(), "schema_name": schema}
    return Parsed(device_id, table=t.ppt, row=row, kind="ppt")


#: Topic kind (the levels after the device id; ``session/<kind>`` for a session's) -> its reader.
READERS: dict[str, Callable[[str, list[str], bytes], Parsed]] = {
    "status": availability,
    "status/info": status,
    "event": device_event,
    "plan/state": plan_state,
    "plan/error": plan_error,
    "person/status": person_status,
    "ppt": ppt,
    "session/summary": summary,
    "session/event": event,
    "session/samples": samples,
    "session/follow_up": follow_up,
}
