"""The next-day follow-up: its window, the answers, the soreness flag and what it refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config.profile import validate_profile
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.follow_up import (
    FollowUpError,
    Window,
    answer,
    clear_flag,
    due_follow_up,
    find_session,
    window,
)
from firmware.outcomes.gate import start_refusal
from firmware.outcomes.records import Flag, FollowUpAnswer, PersonRecord

END = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
PROFILE = validate_profile({"name": "P-017", "screened_on": "2026-11-02"})


def with_sessions(*specs: tuple[str, bool]) -> PersonRecord:
    record = PersonRecord()
    for n, (sid, had_hold) in enumerate(specs):
        finished = FinishedSession(sid, END + timedelta(minutes=n), had_hold=had_hold, pain_before=5)
        record, _ = record_session(
            record, finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1"
        )
    return record


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(19.9, Window.NOT_YET), (20.0, Window.OPEN), (30.0, Window.OPEN), (48.0, Window.OPEN), (48.001, Window.CLOSED)],
)
def test_the_window_opens_at_20_h_and_closes_after_48_h(hours: float, expected: Window) -> None:
    assert window(END, END + timedelta(hours=hours)) is expected


def test_the_device_asks_about_the_latest_session_with_a_hold_in_its_window() -> None:
    record = with_sessions(("a1", True), ("b2", False))
    assert due_follow_up(record, END + timedelta(hours=19.9)) is None
    due = due_follow_up(record, END + timedelta(hours=20, minutes=1))
    assert due is not None and due.session_id == "a1"
    assert due_follow_up(record, END + timedelta(hours=49)) is None
    record, _ = answer(record, "a1", FollowUpAnswer.SKIPPED, now=END + timedelta(hours=21), by="device")
    assert due_follow_up(record, END + timedelta(hours=22)) is None


def test_sessions_are_found_by_id_unique_prefix_or_latest() -> None:
    record = with_sessions(("abc1", True), ("abd2", True), ("xyz3", True))
    assert find_session(record, "latest").session_id == "xyz3"
    assert find_session(record, "abc").session_id == "abc1"
    assert find_session(record, "abd2").session_id == "abd2"
    with pytest.raises(FollowUpError, match="not unique: 2 sessions"):
        find_session(record, "ab")
    with pytest.raises(FollowUpError, match="no session 'q'"):
        find_session(record, "q")
    with pytest.raises(FollowUpError, match="no sessions recorded"):
        find_session(PersonRecord(), "latest")


def test_a_session_without_a_hold_has_no_follow_up() -> None:
    record = with_sessions(("a1", False))
    with pytest.raises(FollowUpError, match="had no hold"):
        answer(record, "a1", FollowUpAnswer.BETTER, now=END + timedelta(hours=21), by="cli")


def test_not_better_refuses_starts_until_a_later_better_or_a_clear() -> None:
    record = with_sessions(("a1", True), ("b2", True))
    record, _ = answer(record, "a1", FollowUpAnswer.NOT_BETTER, now=END + timedelta(hours=21), by="cli")
    assert Flag.SORENESS_NOT_IMPROVING in record.flags
    refusal = start_refusal(record, PROFILE)
    assert refusal is not None and refusal.code == "soreness_not_improving"
    assert start_refusal(record, PROFILE.model_copy(update={"pause_on_soreness": False})) is None
    better, _ = answer(record, "b2", FollowUpAnswer.BETTER, now=END + timedelta(hours=22), by="clinic")
    assert start_refusal(better, PROFILE) is None
    cleared = clear_flag(record, Flag.SORENESS_NOT_IMPROVING)
    assert start_refusal(cleared, PROFILE) is None
    with pytest.raises(FollowUpError, match="reevaluate is not stored"):
        clear_flag(record, Flag.REEVALUATE)
