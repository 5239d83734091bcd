"""The relief rule at its edges, the course, and the reevaluate flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.profile import validate_profile
from firmware.outcomes.actions import FinishedSession, record_session, reset_course
from firmware.outcomes.course import course_status
from firmware.outcomes.gate import see_therapist, start_refusal
from firmware.outcomes.records import PersonRecord
from firmware.outcomes.relief import relief_ceiling, significant_relief

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("baseline", "latest", "relief"),
    [
        (6, 4, True),
        (6, 5, False),
        (3, 1, True),
        (3, 2, False),
        (10, 7, True),
        (10, 8, False),
        (2, 0, True),
        (1, 0, False),
        (0, 0, False),
    ],
)
def test_significant_relief_is_two_points_and_thirty_percent(baseline: int, latest: int, relief: bool) -> None:
    assert significant_relief(baseline, latest) is relief


def test_the_relief_ceiling_is_the_highest_relieving_rating() -> None:
    for baseline in range(11):
        ceiling = relief_ceiling(baseline)
        assert all(significant_relief(baseline, x) is (x <= ceiling) for x in range(11))


def session(record: PersonRecord, n: int, pain: int | None, *, version: int = 0, after: int = 3) -> PersonRecord:
    finished = FinishedSession(f"s{n}", T0 + timedelta(days=n), had_hold=True, pain_before=pain)
    record, _ = record_session(
        record, finished, person="P-017", plan_version=version, reevaluate_after=after, new_course_id=f"c{n}"
    )
    return record


def test_baseline_is_the_first_rated_session_and_latest_the_last() -> None:
    record = PersonRecord()
    for n, pain in enumerate([None, 6, None, 5], start=1):
        record = session(record, n, pain)
    status = course_status(record, 3)
    assert status is not None
    assert (status.id, status.sessions_rated, status.baseline_pain, status.latest_pain) == ("c1", 2, 6, 5)
    assert status.reevaluate is False


def test_reevaluate_after_three_rated_sessions_without_relief_and_relief_clears_it() -> None:
    record = PersonRecord()
    for n, pain in enumerate([6, 6], start=1):
        record = session(record, n, pain)
    assert course_status(record, 3).reevaluate is False  # type: ignore[union-attr]
    record = session(record, 3, 5)
    status = course_status(record, 3)
    assert status is not None and status.reevaluate
    assert status.reason == (
        "3 rated sessions without significant relief (pain 6 at the start, 5 now; relief needs 4 or less)"
    )
    assert course_status(record, 4).reevaluate is False  # type: ignore[union-attr]
    record = session(record, 4, 4)
    status = course_status(record, 3)
    assert status is not None and not status.reevaluate and status.reason is None


def test_a_new_plan_version_starts_a_new_course_and_reset_does_too() -> None:
    record = PersonRecord()
    for n in (1, 2, 3):
        record = session(record, n, 6)
    assert course_status(record, 3).reevaluate  # type: ignore[union-attr]
    record = session(record, 4, 6, version=2)
    status = course_status(record, 3)
    assert status is not None
    assert (status.id, status.sessions_rated, status.reevaluate) == ("c4", 1, False)
    assert record.course is not None and record.course.started_because == "new plan version 2"
    record = session(record, 5, 6, version=2)
    assert record.course.id == "c4"
    record, course_id = reset_course(record, person="P-017", now=T0 + timedelta(days=6), new_course_id="c-reset")
    status = course_status(record, 3)
    assert status is not None and (status.id, status.sessions_rated) == (course_id, 0) == ("c-reset", 0)
    assert record.course.plan_version == 2
    assert len(record.sessions) == 5  # earlier sessions stay


def test_the_gate_refuses_on_reevaluate_only_when_the_profile_says_so() -> None:
    record = PersonRecord()
    for n in (1, 2, 3):
        record = session(record, n, 6)
    relaxed = validate_profile({"name": "P-017", "screened_on": "2026-11-02"})
    strict = validate_profile({"name": "P-017", "screened_on": "2026-11-02", "stop_on_reevaluate": True})
    assert start_refusal(record, relaxed) is None
    assert see_therapist(record, relaxed) is not None
    refusal = start_refusal(record, strict)
    assert refusal is not None and refusal.code == "reevaluate"
