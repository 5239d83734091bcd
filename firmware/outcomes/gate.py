"""What the outcomes say before a session starts: refuse it, or start it with a "see your therapist" cue."""

from __future__ import annotations

from dataclasses import dataclass

from config.profile import Profile
from firmware.outcomes.course import course_status
from firmware.outcomes.records import Flag, PersonRecord


@dataclass(frozen=True)
class OutcomeRefusal:
    """A start refused because of the outcomes: a stable ``code`` and a sentence."""

    code: str
    text: str


def start_refusal(record: PersonRecord, profile: Profile) -> OutcomeRefusal | None:
    """Soreness not improving (unless ``pause_on_soreness = false``), or reevaluate with ``stop_on_reevaluate``."""
    flag = record.flags.get(Flag.SORENESS_NOT_IMPROVING)
    if flag is not None and profile.pause_on_soreness:
        return OutcomeRefusal(
            Flag.SORENESS_NOT_IMPROVING.value,
            "soreness_not_improving: the last follow-up said the soreness is not better; "
            "ask your therapist (they can clear it)",
        )
    status = course_status(record, profile.reevaluate_after)
    if status is not None and status.reevaluate and profile.stop_on_reevaluate:
        return OutcomeRefusal(Flag.REEVALUATE.value, f"reevaluate: {status.reason}; see your therapist")
    return None


def see_therapist(record: PersonRecord, profile: Profile) -> str | None:
    """The reason to play ``see_therapist`` at this start (sessions still allowed), or ``None``."""
    status = course_status(record, profile.reevaluate_after)
    return status.reason if status is not None and status.reevaluate else None
