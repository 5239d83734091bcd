"""What the terminal tools list from the clinic database: sessions with their outcomes, refused starts, a person.

``therapist sessions`` and ``therapist person`` read these (oldest first, as
a course is read); the clinic pages read ``firmware.clinic.queries``.  The
stored summary is the source of pain ratings, spots and the course, so
summaries from devices of any age list the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware.clinic import schema as t
from firmware.clinic.messages import parse_summary, person_of
from firmware.clinic.queries import MISSING
from firmware.clinic.stored_values import is_real_change, row_kpa
from firmware.protocol.payloads import DeviceStatus
from firmware.protocol.person import PersonStatus
from firmware.session.summary import SessionSummary


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
    follow_up: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # the summary as published, newer keys included

    @property
    def spots(self) -> list[str]:
        return [str(s.get("name")) for s in self.fields.get("spots") or [] if isinstance(s, dict)]

    def pain(self, when: str) -> int | None:
        value = self.fields.get(f"pain_{when}")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def flags(self) -> list[str]:
        course = self.fields.get("course")
        found = ["reevaluate"] if isinstance(course, dict) and course.get("reevaluate") else []
        return [*found, "soreness"] if self.follow_up == "not_better" else found


@dataclass(frozen=True)
class Refusal:
    device_id: str
    at: str
    reason: str
    source: str  # "event" (the device's refusal event) or "status" (seen only in status/info)


def _order() -> tuple[Any, ...]:
    return (sa.func.coalesce(t.sessions.c.started_at, t.sessions.c.first_seen), t.sessions.c.session_id)


def session_listing(engine: Engine, device_id: str | None = None) -> list[SessionListing]:
    """Every session, oldest first, with its counts and its latest follow-up answer."""
    s = t.sessions
    n_events = sa.select(sa.func.count()).where(t.events.c.session_id == s.c.session_id).scalar_subquery()
    n_samples = (
        sa.select(sa.func.coalesce(sa.func.sum(t.sample_batches.c.n), 0))
        .where(t.sample_batches.c.session_id == s.c.session_id)
        .scalar_subquery()
    )
    answer = (
        sa.select(t.follow_ups.c.answer)
        .where(t.follow_ups.c.session_id == s.c.session_id)
        .order_by(t.follow_ups.c.answered_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(
        s.c.session_id, s.c.device_id, s.c.started_at, s.c.outcome, s.c.duration_s, s.c.peak_force_n, s.c.summary,
        n_events, n_samples, answer,
    ).order_by(*_order())
    if device_id is not None:
        query = query.where(s.c.device_id == device_id)
    out = []
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    for sid, dev, started, outcome, duration, peak, text, events, samples, follow_up in rows:
        summary, fields = parse_summary(text) if text else (None, {})
        person = person_of(fields) or MISSING
        out.append(SessionListing(sid, dev, started, outcome, duration, peak, summary, person, int(events),
                                  int(samples), follow_up, fields))
    return out


def session_ids(engine: Engine, prefix: str = "") -> list[str]:
    """Ids starting with ``prefix``, oldest first (the order ``session_listing`` uses)."""
    query = sa.select(t.sessions.c.session_id).order_by(*_order())
    if prefix:
        query = query.where(sa.func.substr(t.sessions.c.session_id, 1, len(prefix)) == prefix)
    with engine.connect() as conn:
        return [str(sid) for (sid,) in conn.execute(query)]


def refusals(engine: Engine, device_id: str | None = None) -> list[Refusal]:
    """Refused starts, oldest first: each refusal event, and a refusal seen only in a status.

    A status that says "refused" is shown only when no refusal event of the
    same reason arrived after that device's previous session started (the
    event is the better record of the same refusal).
    """
    query = sa.select(t.refusals.c.device_id, t.refusals.c.at, t.refusals.c.reason, t.refusals.c.source)
    if device_id is not None:
        query = query.where(t.refusals.c.device_id == device_id)
    with engine.connect() as conn:
        found = [Refusal(*row) for row in conn.execute(query.order_by(t.refusals.c.at))]
        starts = dict(conn.execute(sa.select(t.sessions.c.device_id, sa.func.max(t.sessions.c.started_at))
                                   .group_by(t.sessions.c.device_id)).all())
    events = [r for r in found if r.source == "event"]

    def told_by_an_event(status: Refusal) -> bool:
        since = str(starts.get(status.device_id) or "")
        return any(e.device_id == status.device_id and e.reason == status.reason and e.at >= since for e in events)

    return [r for r in found if r.source == "event" or not told_by_an_event(r)]


@dataclass(frozen=True)
class PptPoint:
    measured_at: str
    spot: str
    mean_kpa: float | None
    change_kpa: float | None
    real_change: bool | None
    schema: str


def ppt_history(engine: Engine, device_id: str) -> dict[str, list[PptPoint]]:
    """Every PPT measurement of a device by spot, oldest first, with its change against the previous one.

    A measurement that carries ``change_kpa``/``real_change`` (``ppt/2``) is
    shown as the device judged it; an older one is compared here (in kPa on
    a 1 cm2 probe, real past ``MDC_KPA``).
    """
    p = t.ppt
    query = (
        sa.select(p.c.measured_at, p.c.spot, p.c.mean_kpa, p.c.threshold_n, p.c.change_kpa, p.c.real_change,
                  p.c.schema_name)
        .where(p.c.device_id == device_id)
        .order_by(p.c.measured_at, p.c.measurement_id)
    )
    by_spot: dict[str, list[PptPoint]] = {}
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    for at, spot, mean_kpa, threshold_n, change, real, schema in rows:
        kpa = row_kpa(mean_kpa, threshold_n)
        points = by_spot.setdefault(spot or MISSING, [])
        previous = next((q.mean_kpa for q in reversed(points) if q.mean_kpa is not None), None)
        if change is None and kpa is not None and previous is not None:
            change = kpa - previous
            real = is_real_change(change)
        points.append(PptPoint(at, spot or MISSING, kpa, change, real, schema or "presspoint.ppt/1"))
    return by_spot


@dataclass(frozen=True)
class PersonView:
    device_id: str
    status: PersonStatus | None
    device_status: DeviceStatus | None
    sessions: list[SessionListing]
    ppt: dict[str, list[PptPoint]]
    refusals: list[Refusal]


def person_view(engine: Engine, device_id: str) -> PersonView:
    """The person on a device: course and flags (``person/status``), sessions, PPT per spot, refusals."""
    with engine.connect() as conn:
        state = conn.execute(sa.select(t.person_states.c.state).where(t.person_states.c.device_id == device_id)
                             ).scalar()
        info = conn.execute(sa.select(t.devices.c.status).where(t.devices.c.device_id == device_id)).scalar()
    return PersonView(
        device_id,
        PersonStatus.model_validate(json.loads(state)) if isinstance(state, str) else None,
        DeviceStatus.model_validate_json(info) if isinstance(info, str) else None,
        session_listing(engine, device_id),
        ppt_history(engine, device_id),
        refusals(engine, device_id),
    )


def known_device(engine: Engine, device_id: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(sa.select(t.devices.c.device_id).where(t.devices.c.device_id == device_id)).first()
    return found is not None
