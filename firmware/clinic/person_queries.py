"""Reading one person's outcomes for the persons pages: sessions per spot, ratings, the course, flags, PPT.

Everything is read from what the collector stores today (the session rows
and the summary JSON each device published, the PPT payloads) and is
tolerant of what is missing: a summary without ratings or a course, a
measurement in the older ``presspoint.ppt/1`` shape (threshold in N only,
read as kPa for the default 1 cm² probe).  The retained ``person/status``
and the ``follow_up`` answers are read from the tables ``person_status`` and
``follow_ups`` when the database has them (a later migration); without them
the flags and the pending follow-ups are worked out from the summaries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from firmware.clinic import schema as t
from firmware.outcomes.follow_up import CLOSES_AFTER, OPENS_AFTER
from firmware.protocol.ppt import PptMeasurement

#: A PPT change larger than this is a real change (the outcomes issue's default ``mdc_kpa``).
MDC_KPA = 40.0
#: kPa per N on the default 1 cm² probe (1 N/cm² = 10 kPa).
KPA_PER_N_1CM2 = 10.0


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


def _json(text: object) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _rating(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10 else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _optional_table(conn: Connection, name: str) -> sa.Table | None:
    """A table another part's migration adds, reflected when it is there."""
    if not sa.inspect(conn).has_table(name):
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=conn)


def _payload_column(table: sa.Table) -> sa.Column[Any] | None:
    return next((table.c[n] for n in ("payload", "status", "body", "message") if n in table.c), None)


@dataclass(frozen=True)
class _Optional:
    """The tables a later migration adds, looked up once per connection."""

    follow_ups: sa.Table | None
    person_status: sa.Table | None

    @classmethod
    def of(cls, conn: Connection) -> _Optional:
        return cls(_optional_table(conn, "follow_ups"), _optional_table(conn, "person_status"))


def _follow_ups(conn: Connection, table: sa.Table | None, session_ids: list[str]) -> dict[str, str]:
    """Each answered session's follow-up answer (``better`` / ``not_better`` / ``skipped``)."""
    if table is None or "session_id" not in table.c or not session_ids:
        return {}
    column = table.c["answer"] if "answer" in table.c else _payload_column(table)
    if column is None:
        return {}
    out: dict[str, str] = {}
    for session_id, value in conn.execute(
        sa.select(table.c.session_id, column).where(table.c.session_id.in_(session_ids))
    ):
        answer = value if column.name == "answer" else _json(value).get("answer")
        if isinstance(answer, str):
            out[str(session_id)] = answer
    return out


def _person_status(conn: Connection, table: sa.Table | None, device_id: str | None) -> dict[str, Any] | None:
    column = None if table is None else _payload_column(table)
    if table is None or column is None or "device_id" not in table.c or device_id is None:
        return None
    value = conn.execute(sa.select(column).where(table.c.device_id == device_id)).scalar()
    return _json(value) or None


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
    return [(s, d, at, outcome, _json(summary)) for s, d, at, outcome, summary in conn.execute(query)]


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
        fractions = [f for h in mine if (f := _number(h.get("in_band_fraction"))) is not None]
        peaks = [p for h in mine if (p := _number(h.get("peak_force_n"))) is not None]
        peak = max(peaks) if peaks else (_number(summary.get("peak_force_n")) if len(names) == 1 else None)
        out.append(
            SpotVisit(
                session_id,
                device_id,
                started_at,
                outcome,
                name,
                _rating(summary.get("pain_before")),
                _rating(summary.get("pain_after")),
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
        answers = _follow_ups(conn, _Optional.of(conn).follow_ups, [r[0] for r in rows])
    return [v for s, d, at, o, summary in rows for v in _visits(s, d, at, o, summary, answers.get(s))]


def _ended(started_at: str | None, summary: dict[str, Any]) -> datetime | None:
    duration = _number(summary.get("duration_s"))
    if started_at is None or duration is None:
        return None
    try:
        return datetime.fromisoformat(started_at.replace("Z", "+00:00")) + timedelta(seconds=duration)
    except ValueError:
        return None


def overview(engine: Engine, person: str, now: datetime | None = None) -> PersonOverview | None:
    """Course, flags and pending follow-ups of ``person``, from the newest data there is."""
    with engine.connect() as conn:
        found = _overviews(conn, [person], now or datetime.now(UTC), recent=200)
    return found[0] if found else None


def persons(engine: Engine) -> list[PersonOverview]:
    """Every person, by pseudonym: a few queries for all of them, not a few each."""
    with engine.connect() as conn:
        return _overviews(conn, None, datetime.now(UTC), recent=1)


_Row = tuple[str, str, str, str | None, dict[str, Any]]  # session, device, person, started_at, summary


def _recent_rows(conn: Connection, names: list[str] | None, recent: int, since: str) -> list[_Row]:
    """Each person's ``recent`` newest sessions and every session started since ``since``, newest first."""
    s = t.sessions.c
    started = sa.func.coalesce(s.started_at, s.first_seen)
    rank = sa.func.row_number().over(partition_by=s.person, order_by=(started.desc(), s.session_id.desc()))
    ranked = (
        sa.select(s.session_id, s.device_id, s.person, s.started_at, s.summary, started.label("at"), rank.label("n"))
        .where(s.person.is_not(None) if names is None else s.person.in_(names))
        .subquery()
    )
    query = (
        sa.select(ranked.c.session_id, ranked.c.device_id, ranked.c.person, ranked.c.started_at, ranked.c.summary)
        .where(sa.or_(ranked.c.n <= recent, ranked.c.at >= since))
        .order_by(ranked.c.at.desc(), ranked.c.session_id.desc())
    )
    return [(sid, device, str(person), at, _json(text)) for sid, device, person, at, text in conn.execute(query)]


def _clears(conn: Connection) -> dict[str, str]:
    """When each person's soreness flag was last cleared from the clinic."""
    out: dict[str, str] = {}
    log = t.audit_log.c
    for at, detail in conn.execute(sa.select(log.at, log.detail).where(log.action == "person_clear")):
        person = _json(detail).get("person")
        if isinstance(person, str) and at > out.get(person, ""):
            out[person] = at
    return out


def _overviews(conn: Connection, names: list[str] | None, moment: datetime, recent: int) -> list[PersonOverview]:
    s = t.sessions.c
    since = (moment - CLOSES_AFTER - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    totals = sa.select(s.person, sa.func.count(), sa.func.max(s.started_at)).group_by(s.person).order_by(s.person)
    totals = totals.where(s.person.is_not(None) if names is None else s.person.in_(names))
    found = {str(p): PersonOverview(str(p), int(n), last) for p, n, last in conn.execute(totals)}
    rows = _recent_rows(conn, names, recent, since)
    extra = _Optional.of(conn)
    answers = _follow_ups(conn, extra.follow_ups, [r[0] for r in rows])
    mine: dict[str, list[_Row]] = {}
    for row in rows:
        mine.setdefault(row[2], []).append(row)
    devices = {person: person_rows[0][1] for person, person_rows in mine.items()}
    versions = dict(
        conn.execute(
            sa.select(t.plan_states.c.device_id, t.plan_states.c.version).where(
                t.plan_states.c.device_id.in_(set(devices.values()))
            )
        ).all()
    )
    clears = _clears(conn)
    for person, item in found.items():
        item.device_id = devices.get(person)
        item.plan_version = versions.get(item.device_id)
        status = _person_status(conn, extra.person_status, item.device_id)
        _judge(item, mine.get(person, []), answers, status, clears.get(person), moment)
    return list(found.values())


def _judge(
    found: PersonOverview,
    rows: list[_Row],
    answers: dict[str, str],
    status: dict[str, Any] | None,
    cleared: str | None,
    moment: datetime,
) -> None:
    """The course, the flags and the follow-ups due, from the person's status if stored, else the summaries."""
    course = next((r[4]["course"] for r in rows if isinstance(r[4].get("course"), dict)), None)
    found.course = course
    if course is not None:
        found.reevaluate = bool(course.get("reevaluate"))
        found.reevaluate_reason = course.get("reason") if isinstance(course.get("reason"), str) else None
    if status is not None and status.get("person") in (found.person, None):
        flags = status.get("flags") or []
        found.soreness = "soreness_not_improving" in flags
        found.reevaluate = found.reevaluate or "reevaluate" in flags
        pending = status.get("pending_follow_up")
        found.pending_follow_ups = [str(pending["session_id"])] if isinstance(pending, dict) else []
        return
    answered = [(r[3] or "", answers[r[0]]) for r in rows if answers.get(r[0]) in ("better", "not_better")]
    latest = max(answered, default=None)
    found.soreness = latest is not None and latest[1] == "not_better" and (cleared is None or cleared < latest[0])
    for session_id, _device, _person, started_at, summary in rows:
        ended = _ended(started_at, summary)
        due = ended is not None and ended + OPENS_AFTER <= moment <= ended + CLOSES_AFTER
        if due and summary.get("holds") and session_id not in answers:
            found.pending_follow_ups.append(session_id)


def _kpa(raw: dict[str, Any]) -> float | None:
    for key in ("mean_kpa", "threshold_kpa"):
        if (value := _number(raw.get(key))) is not None:
            return value
    threshold = _number(raw.get("mean_n")) or _number(raw.get("threshold_n"))
    return None if threshold is None else threshold * KPA_PER_N_1CM2


def ppt_history(engine: Engine, person: str) -> list[PptPoint]:
    """The person's threshold measurements, oldest first, with the change at each spot marked.

    A measurement that names no person (``presspoint.ppt/1`` carries none) is
    the person's when it came from a device no other person has used.
    """
    mine = sa.select(t.sessions.c.device_id).where(t.sessions.c.person == person)
    shared = sa.select(t.sessions.c.device_id).where(t.sessions.c.person.is_not(None), t.sessions.c.person != person)
    unnamed = sa.and_(t.ppt.c.person.is_(None), t.ppt.c.device_id.in_(mine), t.ppt.c.device_id.not_in(shared))
    query = sa.select(t.ppt.c.payload).where(sa.or_(t.ppt.c.person == person, unnamed)).order_by(t.ppt.c.measured_at)
    with engine.connect() as conn:
        raws = [_json(p) for (p,) in conn.execute(query)]
    previous: dict[str, float] = {}
    out = []
    for raw in raws:
        spot = str(raw.get("spot") or "(one spot)")
        kpa = _kpa(raw)
        change = _number(raw.get("change_kpa"))
        if change is None and kpa is not None and spot in previous:
            change = kpa - previous[spot]
        real = raw.get("real_change")
        out.append(
            PptPoint(
                str(raw.get("measurement_id", "")),
                str(raw.get("device_id", "")),
                str(raw.get("measured_at", "")),
                spot,
                kpa,
                change,
                real if isinstance(real, bool) else change is not None and abs(change) > MDC_KPA,
                isinstance(raw.get("suggestion") or raw.get("suggested"), dict),
            )
        )
        if kpa is not None:
            previous[spot] = kpa
    return out


def measurement(engine: Engine, device_id: str, measurement_id: str) -> PptMeasurement | None:
    """One stored measurement of ``device_id`` in the shape the plan editor's suggestion reads, or ``None``."""
    query = (
        sa.select(t.ppt.c.payload).where(t.ppt.c.measurement_id == measurement_id).where(t.ppt.c.device_id == device_id)
    )
    with engine.connect() as conn:
        payload = conn.execute(query).scalar()
    if not isinstance(payload, str):
        return None
    try:
        return PptMeasurement.model_validate_json(payload)
    except ValueError:
        return None
