"""Reading one person's outcomes for the persons pages: sessions per spot, ratings, the course, flags, PPT.

Everything is read from what the collector stores: the session rows and the
summary each device published (ratings, spots, the course), the follow-up
answers (``follow_ups``), each device's retained ``person/status``
(``person_states``: the flags and the follow-up due, as the device judged
them) and the PPT columns (kPa, change, real change; a ``presspoint.ppt/1``
row has only ``threshold_n``, read as kPa for the default 1 cm² probe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from firmware.clinic import schema as t
from firmware.clinic.stored_values import is_real_change, json_object, number, rating, row_kpa


@dataclass(frozen=True)
class SpotVisit:
    """One spot of one session: the row a person's history shows."""

    session_id: str
    device_id: str
    started_at: str | None
    outcome: str | None
    spot: str
    pain_before: int | None
    pain_after: int | None
    in_band_fraction: float | None
    peak_force_n: float | None
    holds: int
    course_id: str | None
    follow_up: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PptPoint:
    measurement_id: str
    device_id: str
    measured_at: str
    spot: str
    mean_kpa: float | None
    change_kpa: float | None
    real_change: bool
    has_suggestion: bool


@dataclass
class PersonOverview:
    person: str
    sessions: int = 0
    last_session_at: str | None = None
    device_id: str | None = None
    plan_version: int | None = None
    course: dict[str, Any] | None = None
    reevaluate: bool = False
    reevaluate_reason: str | None = None
    soreness: bool = False
    pending_follow_ups: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _follow_ups(conn: Connection, session_ids: list[str]) -> dict[str, str]:
    """Each answered session's latest follow-up answer (``better`` / ``not_better`` / ``skip``)."""
    if not session_ids:
        return {}
    f = t.follow_ups.c
    query = sa.select(f.session_id, f.answer).where(f.session_id.in_(session_ids)).order_by(f.answered_at)
    return {str(session_id): str(answer) for session_id, answer in conn.execute(query)}


@dataclass(frozen=True)
class _Status:
    """A device's stored ``person/status``: whose it is, its flags, its course and the follow-up due."""

    person: str | None
    flags: frozenset[str]
    course: dict[str, Any] | None
    pending: str | None


def _statuses(conn: Connection, device_ids: set[str]) -> dict[str, _Status]:
    if not device_ids:
        return {}
    p = t.person_states.c
    out: dict[str, _Status] = {}
    for device_id, person, flags, state in conn.execute(
        sa.select(p.device_id, p.person, p.flags, p.state).where(p.device_id.in_(device_ids))
    ):
        raw = json_object(state)
        course, pending = raw.get("course"), raw.get("pending_follow_up")
        out[str(device_id)] = _Status(
            person,
            frozenset(flag for flag in str(flags).split(",") if flag),
            course if isinstance(course, dict) else None,
            str(pending["session_id"]) if isinstance(pending, dict) and pending.get("session_id") else None,
        )
    return out


def _summaries(
    conn: Connection, person: str, limit: int
) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
    started = sa.func.coalesce(t.sessions.c.started_at, t.sessions.c.first_seen)
    query = (
        sa.select(
            t.sessions.c.session_id,
            t.sessions.c.device_id,
            t.sessions.c.started_at,
            t.sessions.c.outcome,
            t.sessions.c.summary,
        )
        .where(t.sessions.c.person == person)
        .order_by(started.desc(), t.sessions.c.session_id.desc())
        .limit(limit)
    )
    return [(s, d, at, outcome, json_object(summary)) for s, d, at, outcome, summary in conn.execute(query)]


def _visits(
    session_id: str,
    device_id: str,
    started_at: str | None,
    outcome: str | None,
    summary: dict[str, Any],
    follow_up: str | None,
) -> list[SpotVisit]:
    holds = [h for h in summary.get("holds") or [] if isinstance(h, dict)]
    spots = [s for s in summary.get("spots") or [] if isinstance(s, dict)]
    names = {int(s["index"]): str(s.get("name", s["index"])) for s in spots if isinstance(s.get("index"), int)}
    if not names:
        names = {1: "(one spot)"}
    course = summary.get("course") if isinstance(summary.get("course"), dict) else None
    out = []
    for index, name in sorted(names.items()):
        mine = [h for h in holds if h.get("spot", 1) == index]
        fractions = [f for h in mine if (f := number(h.get("in_band_fraction"))) is not None]
        peaks = [p for h in mine if (p := number(h.get("peak_force_n"))) is not None]
        peak = max(peaks) if peaks else (number(summary.get("peak_force_n")) if len(names) == 1 else None)
        out.append(
            SpotVisit(
                session_id,
                device_id,
                started_at,
                outcome,
                name,
                rating(summary.get("pain_before")),
                rating(summary.get("pain_after")),
                sum(fractions) / len(fractions) if fractions else None,
                peak,
                len(mine),
                str(course["id"]) if course and course.get("id") else None,
                follow_up,
            )
        )
    return out


def history(engine: Engine, person: str, limit: int = 1000) -> list[SpotVisit]:
    """The person's sessions, one row per spot, newest first."""
    with engine.connect() as conn:
        rows = _summaries(conn, person, limit)
        answers = _follow_ups(conn, [r[0] for r in rows])
    return [v for s, d, at, o, summary in rows for v in _visits(s, d, at, o, summary, answers.get(s))]


def overview(engine: Engine, person: str) -> PersonOverview | None:
    """Course, flags and pending follow-ups of ``person``, from the newest data there is."""
    with engine.connect() as conn:
        found = _overviews(conn, [person])
    return found[0] if found else None


def persons(engine: Engine) -> list[PersonOverview]:
    """Every person, by pseudonym: a few queries for all of them, not a few each."""
    with engine.connect() as conn:
        return _overviews(conn, None)


_Row = tuple[str, str, str, str | None, dict[str, Any]]  # session, device, person, started_at, summary


def _latest_rows(conn: Connection, names: list[str] | None) -> list[_Row]:
    """Each person's newest session."""
    s = t.sessions.c
    started = sa.func.coalesce(s.started_at, s.first_seen)
    rank = sa.func.row_number().over(partition_by=s.person, order_by=(started.desc(), s.session_id.desc()))
    ranked = (
        sa.select(s.session_id, s.device_id, s.person, s.started_at, s.summary, rank.label("n"))
        .where(s.person.is_not(None) if names is None else s.person.in_(names))
        .subquery()
    )
    query = sa.select(ranked.c.session_id, ranked.c.device_id, ranked.c.person, ranked.c.started_at,
                      ranked.c.summary).where(ranked.c.n == 1)
    return [(sid, device, str(person), at, json_object(text)) for sid, device, person, at, text in conn.execute(query)]


def _overviews(conn: Connection, names: list[str] | None) -> list[PersonOverview]:
    s = t.sessions.c
    totals = sa.select(s.person, sa.func.count(), sa.func.max(s.started_at)).group_by(s.person).order_by(s.person)
    totals = totals.where(s.person.is_not(None) if names is None else s.person.in_(names))
    found = {str(p): PersonOverview(str(p), int(n), last) for p, n, last in conn.execute(totals)}
    latest = {row[2]: row for row in _latest_rows(conn, names)}
    devices = {person: row[1] for person, row in latest.items()}
    versions = dict(
        conn.execute(
            sa.select(t.plan_states.c.device_id, t.plan_states.c.version).where(
                t.plan_states.c.device_id.in_(set(devices.values()))
            )
        ).all()
    )
    statuses = _statuses(conn, set(devices.values()))
    for person, item in found.items():
        item.device_id = devices.get(person)
        item.plan_version = versions.get(item.device_id)
        status = statuses.get(item.device_id or "")
        _judge(item, latest.get(person), status if status is not None and status.person == person else None)
    return list(found.values())


def _judge(found: PersonOverview, row: _Row | None, status: _Status | None) -> None:
    """The course from the device's stored status, else the person's newest summary; the flags and the
    follow-up due from that status (a person whose device now runs another profile has none stored)."""
    course = row[4].get("course") if row is not None else None
    course = course if isinstance(course, dict) else None
    if status is not None and status.course is not None:
        course = status.course
    found.course = course
    if course is not None:
        found.reevaluate_reason = course.get("reason") if isinstance(course.get("reason"), str) else None
    if status is None:
        found.reevaluate = bool(course and course.get("reevaluate"))
        return
    found.reevaluate = "reevaluate" in status.flags
    found.soreness = "soreness_not_improving" in status.flags
    found.pending_follow_ups = [status.pending] if status.pending else []


def ppt_history(engine: Engine, person: str) -> list[PptPoint]:
    """The person's threshold measurements, oldest first, from the stored PPT columns.

    A measurement names no person (the device's retained status does): it is
    the person's when it came from a device no other person has used.  A
    ``presspoint.ppt/1`` row has only ``threshold_n``: its kPa is for the
    default 1 cm² probe and its change is worked out against the previous one.
    """
    p = t.ppt.c
    mine = sa.select(t.sessions.c.device_id).where(t.sessions.c.person == person)
    shared = sa.select(t.sessions.c.device_id).where(t.sessions.c.person.is_not(None), t.sessions.c.person != person)
    unnamed = sa.and_(p.person.is_(None), p.device_id.in_(mine), p.device_id.not_in(shared))
    query = (
        sa.select(p.measurement_id, p.device_id, p.measured_at, p.spot, p.mean_kpa, p.threshold_n, p.change_kpa,
                  p.real_change, p.payload)
        .where(sa.or_(p.person == person, unnamed))
        .order_by(p.measured_at)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    previous: dict[str, float] = {}
    out = []
    for measurement_id, device_id, measured_at, spot_name, mean_kpa, threshold_n, change, real, payload in rows:
        spot = spot_name or "(one spot)"
        kpa = row_kpa(mean_kpa, threshold_n)
        if change is None and mean_kpa is None and kpa is not None and spot in previous:
            change = kpa - previous[spot]
        raw = json_object(payload)
        out.append(
            PptPoint(
                measurement_id, device_id, measured_at, spot, kpa, change,
                bool(real) if real is not None else change is not None and is_real_change(change),
                isinstance(raw.get("suggestion") or raw.get("suggested"), dict),
            )
        )
        if kpa is not None:
            previous[spot] = kpa
    return out
