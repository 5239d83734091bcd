"""A person's course in one line, as ``presspoint person show`` and ``presspoint therapist person`` print it.

Pure (the therapist tools import it and may not import the device's CLI):
the course's id, its rated sessions, the pain at its start and latest, and
the reason when the person should see the therapist.
"""

from __future__ import annotations

from firmware.outcomes.records import CourseStatus

#: What a pain rating that is not there reads as.
NO_RATING = "-"


def course_text(course: CourseStatus) -> str:
    """``<id>: N rated session(s), baseline pain B, latest L`` and ``; REEVALUATE: <reason>`` when due."""
    text = (
        f"{course.id}: {course.sessions_rated} rated session(s), baseline pain "
        f"{_pain(course.baseline_pain)}, latest {_pain(course.latest_pain)}"
    )
    return text + (f"; REEVALUATE: {course.reason}" if course.reevaluate else "")


def _pain(value: int | None) -> str:
    return NO_RATING if value is None else str(value)
