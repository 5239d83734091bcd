"""The next-day soreness check: "as long as the soreness improves in about 24 hours, it's normal".

A session that had a hold is followed up from 20 h to 48 h after it ended
(both ends included).  ``not_better`` sets ``soreness_not_improving``; a later
``better`` (or the therapist) clears it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from firmware.outcomes.records import Flag, FlagRecord, FollowUpAnswer, PersonRecord, SessionOutcome

OPENS_AFTER: Final = timedelta(hours=20)
CLOSES_AFTER: Final = timedelta(hours=48)
LATEST: Final = "latest"


class Window(StrEnum):
    NOT_YET = "not_yet"
    OPEN = "open"
    CLOSED = "closed"


class FollowUpError(ValueError):
    """A follow-up that cannot be recorded; the message is one line."""


def window(ended_at: datetime, now: datetime) -> Window:
    """Where ``now`` is relative to the follow-up window of a session that ended at ``ended_at``."""
    elapsed = now - ended_at
    if elapsed < OPENS_AFTER:
        return Window.NOT_YET
    if elapsed <= CLOSES_AFTER:
        return Window.OPEN
    return Window.CLOSED


def due_follow_up(record: PersonRecord, now: datetime) -> SessionOutcome | None:
    """The latest session with a hold, no answer yet and its window open: the device asks about it."""
    for session in reversed(record.sessions):
        if session.had_hold and session.follow_up is None and window(session.ended_at, now) is Window.OPEN:
            return session
    return None


def next_follow_up(record: PersonRecord, now: datetime) -> tuple[SessionOutcome, Window] | None:
    """What the device should ask about next: a follow-up due now, else the latest one still to come."""
    due = due_follow_up(record, now)
    if due is not None:
        return due, Window.OPEN
    for session in reversed(record.sessions):
        if session.had_hold and session.follow_up is None and window(session.ended_at, now) is Window.NOT_YET:
            return session, Window.NOT_YET
    return None


def find_session(record: PersonRecord, ref: str) -> SessionOutcome:
    """A session by id, unique id prefix or ``latest``; ``FollowUpError`` saying why not."""
    if not record.sessions:
        raise FollowUpError("no sessions recorded on this device yet")
    if ref == LATEST:
        return record.sessions[-1]
    exact = [s for s in record.sessions if s.session_id == ref]
    if exact:
        return exact[0]
    matches = [s for s in record.sessions if ref and s.session_id.startswith(ref)]
    if not matches:
        raise FollowUpError(f"no session {ref!r} (an id, a unique prefix of one, or 'latest')")
    if len(matches) > 1:
        raise FollowUpError(f"session prefix {ref!r} is not unique: {len(matches)} sessions start with it")
    return matches[0]


def answer(
    record: PersonRecord, session_id: str, reply: FollowUpAnswer, *, now: datetime, by: str
) -> tuple[PersonRecord, SessionOutcome]:
    """Record the follow-up of one session and update the soreness flag."""
    session = find_session(record, session_id)
    if not session.had_hold:
        raise FollowUpError(f"session {session.session_id} had no hold: there is nothing to follow up")
    if now < session.ended_at:
        raise FollowUpError(f"session {session.session_id} ends in the future ({session.ended_at.isoformat()})")
    answered = session.model_copy(
        update={"follow_up": reply, "answered_at": now, "answered_by": by, "follow_up_published": False}
    )
    sessions = tuple(answered if s.session_id == session.session_id else s for s in record.sessions)
    flags = dict(record.flags)
    if reply is FollowUpAnswer.NOT_BETTER:
        flags[Flag.SORENESS_NOT_IMPROVING] = FlagRecord(set_at=now, session_id=session.session_id)
    elif reply is FollowUpAnswer.BETTER:
        flags.pop(Flag.SORENESS_NOT_IMPROVING, None)
    return record.model_copy(update={"sessions": sessions, "flags": flags}), answered


def mark_published(record: PersonRecord, session_ids: set[str]) -> PersonRecord:
    sessions = tuple(
        s.model_copy(update={"follow_up_published": True}) if s.session_id in session_ids else s
        for s in record.sessions
    )
    return record.model_copy(update={"sessions": sessions})


def unpublished(record: PersonRecord) -> list[SessionOutcome]:
    """Answered follow-ups not yet handed to the outbox (answered while the service was down, say)."""
    return [s for s in record.sessions if s.follow_up is not None and not s.follow_up_published]


def clear_flag(record: PersonRecord, flag: Flag) -> PersonRecord:
    """The therapist cleared ``flag`` (on the device, or by a signed message)."""
    if flag is Flag.REEVALUATE:
        raise FollowUpError("reevaluate is not stored: it clears with relief or with a new course (course-reset)")
    flags = {k: v for k, v in record.flags.items() if k is not flag}
    return record.model_copy(update={"flags": flags})
