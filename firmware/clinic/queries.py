"""Reading the clinic database: what the pages, the API and the terminal tools show.

Lists are newest first and bounded (``limit``), served by the indexes in
``firmware.clinic.schema``, so a database with many thousands of sessions
answers a page in milliseconds.  ``session_data`` returns the therapist
report's ``SessionData`` so the plot and PDF code is the one the terminal
``therapist report`` uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware.clinic import schema as t
from firmware.clinic.messages import parse_summary, person_of
from firmware.protocol.payloads import DeviceStatus, SamplesBatch
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.ppt import PptMeasurement
from firmware.session.summary import SessionSummary

MISSING = "-"


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


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    device_id: str
    person: str | None
    started_at: str | None
    outcome: str | None
    duration_s: float | None
    peak_force_n: float | None
    holds: int | None
    holds_completed: int | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    online: bool | None
    status: DeviceStatus | None
    plan_state: PlanState | None
    plan_error: PlanError | None
    last_session: SessionRow | None

    def as_json(self) -> dict[str, Any]:
        status = self.status
        return {
            "device_id": self.device_id,
            "online": self.online,
            "firmware_version": status.firmware_version if status else None,
            "calibrated": status.calibrated if status else None,
            "session_id": status.session_id if status else None,
            "phase": status.phase if status else None,
            "force_n": status.force_n if status else None,
            "last_outcome": status.last_outcome if status else None,
            "refused": status.refused if status else None,
            "plan_version": self.plan_state.version if self.plan_state else None,
        }


_SESSION_COLUMNS = (
    t.sessions.c.session_id,
    t.sessions.c.device_id,
    t.sessions.c.person,
    t.sessions.c.started_at,
    t.sessions.c.outcome,
    t.sessions.c.duration_s,
    t.sessions.c.peak_force_n,
    t.sessions.c.holds,
    t.sessions.c.holds_completed,
)


def _newest_first() -> tuple[Any, ...]:
    started = sa.func.coalesce(t.sessions.c.started_at, t.sessions.c.first_seen)
    return (started.desc(), t.sessions.c.session_id.desc())


def sessions(
    engine: Engine, *, device_id: str | None = None, person: str | None = None, limit: int = 200, offset: int = 0
) -> list[SessionRow]:
    query = sa.select(*_SESSION_COLUMNS)
    if device_id is not None:
        query = query.where(t.sessions.c.device_id == device_id)
    if person is not None:
        query = query.where(t.sessions.c.person == person)
    query = query.order_by(*_newest_first()).limit(limit).offset(offset)
    with engine.connect() as conn:
        return [SessionRow(*row) for row in conn.execute(query)]


def session_row(engine: Engine, session_id: str) -> SessionRow | None:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_SESSION_COLUMNS).where(t.sessions.c.session_id == session_id)).first()
    return None if row is None else SessionRow(*row)


def summary_text(engine: Engine, session_id: str) -> str | None:
    """The summary exactly as the device published it."""
    with engine.connect() as conn:
        value = conn.execute(sa.select(t.sessions.c.summary).where(t.sessions.c.session_id == session_id)).scalar()
    return value if isinstance(value, str) else None


def session_data(engine: Engine, session_id: str) -> SessionData | None:
    """Summary, events and samples of one session, ready to plot."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(t.sessions.c.device_id, t.sessions.c.summary).where(t.sessions.c.session_id == session_id)
        ).first()
        if row is None:
            return None
        device_id, summary_json = row
        events = [
            json.loads(body)
            for (body,) in conn.execute(
                sa.select(t.events.c.body).where(t.events.c.session_id == session_id).order_by(t.events.c.idx)
            )
        ]
        times: list[float] = []
        forces: list[float | None] = []
        for (payload,) in conn.execute(
            sa.select(t.sample_batches.c.payload)
            .where(t.sample_batches.c.session_id == session_id)
            .order_by(t.sample_batches.c.batch)
        ):
            batch = SamplesBatch.model_validate_json(payload)
            times.extend(batch.times())
            forces.extend(batch.force_n)
    if not summary_json:
        return SessionData(session_id, device_id, None, events, times, forces)
    summary, raw = parse_summary(summary_json)
    return SessionData(session_id, device_id, summary, events, times, forces, person_of(raw) or MISSING)


def devices(engine: Engine) -> list[DeviceRow]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                t.devices.c.device_id,
                t.devices.c.online,
                t.devices.c.status,
                t.plan_states.c.state,
                t.plan_errors.c.error,
            )
            .select_from(
                t.devices.outerjoin(t.plan_states, t.plan_states.c.device_id == t.devices.c.device_id).outerjoin(
                    t.plan_errors, t.plan_errors.c.device_id == t.devices.c.device_id
                )
            )
            .order_by(t.devices.c.device_id)
        ).all()
    out = []
    for device_id, online, status, state, error in rows:
        last = sessions(engine, device_id=device_id, limit=1)
        out.append(
            DeviceRow(
                device_id,
                online,
                DeviceStatus.model_validate_json(status) if status else None,
                PlanState.model_validate_json(state) if state else None,
                PlanError.model_validate_json(error) if error else None,
                last[0] if last else None,
            )
        )
    return out


def device(engine: Engine, device_id: str) -> DeviceRow | None:
    return next((d for d in devices(engine) if d.device_id == device_id), None)


@dataclass(frozen=True)
class PersonRow:
    person: str
    sessions: int
    last_session_at: str | None


def persons(engine: Engine) -> list[PersonRow]:
    query = (
        sa.select(t.sessions.c.person, sa.func.count(), sa.func.max(t.sessions.c.started_at))
        .where(t.sessions.c.person.is_not(None))
        .group_by(t.sessions.c.person)
        .order_by(t.sessions.c.person)
    )
    with engine.connect() as conn:
        return [PersonRow(str(p), int(n), last) for p, n, last in conn.execute(query)]


def ppt_measurements(engine: Engine, *, device_id: str | None = None, limit: int = 200) -> list[PptMeasurement]:
    """Single-trial measurements (``presspoint.ppt/1``), newest first; later schemas: ``history.ppt_history``."""
    query = sa.select(t.ppt.c.payload).order_by(t.ppt.c.measured_at.desc()).limit(limit)
    query = query.where(sa.or_(t.ppt.c.schema_name.is_(None), t.ppt.c.schema_name == "presspoint.ppt/1"))
    if device_id is not None:
        query = query.where(t.ppt.c.device_id == device_id)
    with engine.connect() as conn:
        return [PptMeasurement.model_validate_json(p) for (p,) in conn.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for table in (t.sessions, t.events, t.sample_batches, t.ppt, t.rejected, t.devices, t.refusals, t.follow_ups):
            out[table.name] = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
        out["summaries"] = int(
            conn.execute(
                sa.select(sa.func.count()).select_from(t.sessions).where(t.sessions.c.summary.is_not(None))
            ).scalar_one()
        )
    return out
