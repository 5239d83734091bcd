"""The course: sessions of one person under one plan version, and when it is time to reevaluate.

"If a person's not feeling significant relief in two to three sessions, it's
time to reevaluate": once ``reevaluate_after`` sessions of the course are
rated and the latest ``pain_before`` is not a significant relief from the
first, the flag is set; relief clears it.  A new plan version (or a reset on
the device) starts a new course.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from firmware.outcomes.records import CourseRecord, CourseStatus, PersonRecord, SessionOutcome
from firmware.outcomes.relief import relief_ceiling, significant_relief

#: Sessions kept in the record (all courses); the oldest go first.
MAX_SESSIONS: Final = 400


def rated_sessions(record: PersonRecord) -> list[SessionOutcome]:
    """The course's sessions with a ``pain_before``, oldest first."""
    if record.course is None:
        return []
    course_id = record.course.id
    return [s for s in record.sessions if s.course_id == course_id and s.pain_before is not None]


def course_status(record: PersonRecord, reevaluate_after: int) -> CourseStatus | None:
    """The course in force with its ratings and the reevaluate flag; ``None`` before the first course."""
    if record.course is None:
        return None
    rated = rated_sessions(record)
    baseline = rated[0].pain_before if rated else None
    latest = rated[-1].pain_before if rated else None
    reason: str | None = None
    enough = len(rated) >= reevaluate_after
    if baseline is not None and latest is not None and enough and not significant_relief(baseline, latest):
        ceiling = relief_ceiling(baseline)
        needed = f"relief needs {ceiling} or less" if ceiling >= 0 else "no lower rating is possible"
        reason = (
            f"{len(rated)} rated sessions without significant relief "
            f"(pain {baseline} at the start, {latest} now; {needed})"
        )
    return CourseStatus(
        id=record.course.id,
        sessions_rated=len(rated),
        baseline_pain=baseline,
        latest_pain=latest,
        reevaluate=reason is not None,
        reason=reason,
    )


def start_course(
    record: PersonRecord, *, person: str, plan_version: int, now: datetime, course_id: str, because: str
) -> PersonRecord:
    """A new course from now on (earlier sessions stay, with their follow-ups)."""
    course = CourseRecord(
        id=course_id, person=person, plan_version=plan_version, started_at=now, started_because=because
    )
    return record.model_copy(update={"course": course})


def course_for(record: PersonRecord, *, person: str, plan_version: int, now: datetime, course_id: str) -> PersonRecord:
    """The record with a course for ``person`` under ``plan_version``: the one in force, or a new one."""
    course = record.course
    if course is None:
        because = "first session"
    elif course.person != person:
        because = f"new person {person!r}"
    elif course.plan_version != plan_version:
        because = f"new plan version {plan_version}"
    else:
        return record
    return start_course(record, person=person, plan_version=plan_version, now=now, course_id=course_id, because=because)


def add_session(record: PersonRecord, outcome: SessionOutcome) -> PersonRecord:
    """Record one finished session (a repeat of a known id replaces it)."""
    kept = [s for s in record.sessions if s.session_id != outcome.session_id]
    kept.append(outcome)
    return record.model_copy(update={"sessions": tuple(kept[-MAX_SESSIONS:])})
