"""The changes the device and the CLI make to a person's record, as edits for ``OutcomeStore.change``.

Each takes the record and returns the new record and what the caller needs;
the time and a fresh course id come in from the caller, so the rules stay
pure and testable at their edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from firmware.outcomes.course import add_session, course_for, course_status, start_course
from firmware.outcomes.follow_up import FollowUpError, answer, clear_flag
from firmware.outcomes.records import CourseStatus, Flag, FollowUpAnswer, PersonRecord, SessionOutcome


@dataclass(frozen=True)
class FinishedSession:
    """What the outcomes need from a finished session."""

    session_id: str
    ended_at: datetime
    had_hold: bool
    pain_before: int | None = None
    pain_after: int | None = None


def record_session(
    record: PersonRecord,
    finished: FinishedSession,
    *,
    person: str,
    plan_version: int,
    reevaluate_after: int,
    new_course_id: str,
) -> tuple[PersonRecord, CourseStatus]:
    """Add a session to the person's course (a new course under a new plan version); the course after it."""
    record = course_for(
        record, person=person, plan_version=plan_version, now=finished.ended_at, course_id=new_course_id
    )
    assert record.course is not None
    outcome = SessionOutcome(
        session_id=finished.session_id,
        course_id=record.course.id,
        ended_at=finished.ended_at,
        had_hold=finished.had_hold,
        pain_before=finished.pain_before,
        pain_after=finished.pain_after,
    )
    record = add_session(record, outcome)
    status = course_status(record, reevaluate_after)
    assert status is not None
    return record, status


def reset_course(
    record: PersonRecord, *, person: str, now: datetime, new_course_id: str, because: str = "reset on the device"
) -> tuple[PersonRecord, str]:
    """``presspoint person course-reset``: a new course under the same plan version; its id."""
    version = record.course.plan_version if record.course is not None else 0
    record = start_course(
        record, person=person, plan_version=version, now=now, course_id=new_course_id, because=because
    )
    return record, new_course_id


def apply_signed_clear(
    record: PersonRecord, flag: Flag, version: int, *, person: str | None, now: datetime, new_course_id: str
) -> PersonRecord:
    """A therapist's signed clear, already checked: ``soreness_not_improving`` cleared, or ``reevaluate``
    answered with a new course (the therapist has reevaluated); the clear's version becomes the replay floor."""
    if flag is Flag.REEVALUATE:
        who = person or (record.course.person if record.course is not None else None)
        if who is None:
            raise FollowUpError("a course reset needs a profile_file in the device config (no course yet)")
        record, _ = reset_course(
            record, person=who, now=now, new_course_id=new_course_id, because="reset by the therapist (signed)"
        )
    else:
        record = clear_flag(record, flag)
    return record.model_copy(update={"clear_floor": version})


def answer_floor(record: PersonRecord, session_id: str, kind: str) -> int:
    """The version a signed clinic answer of ``kind`` for ``session_id`` must rise above."""
    return next((s.answer_versions.get(kind, 0) for s in record.sessions if s.session_id == session_id), 0)


def apply_clinic_answer(
    record: PersonRecord, session_id: str, kind: str, value: int | str, version: int, *, now: datetime
) -> PersonRecord:
    """A signed answer from the clinic app, already checked: a pain rating of that session (the course
    follows from the ratings), or its follow-up recorded as on the device; ``version`` becomes its floor."""
    session = next((s for s in record.sessions if s.session_id == session_id), None)
    if session is None:
        raise FollowUpError(f"no session {session_id!r} recorded on this device")
    if kind == "follow_up":
        record, session = answer(record, session_id, FollowUpAnswer(str(value)), now=now, by="clinic")
        changed = session
    else:
        changed = session.model_copy(update={kind: value})
    changed = changed.model_copy(update={"answer_versions": {**changed.answer_versions, kind: version}})
    sessions = tuple(changed if s.session_id == session_id else s for s in record.sessions)
    return record.model_copy(update={"sessions": sessions})
