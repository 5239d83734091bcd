"""The service's side of the follow-up on the device: which session to ask about and when; the answer stored and sent.

A real store in a temporary state directory and a clock the test sets; what
would go to the outbox is kept in a list.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config.profile import load_profile
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.records import Flag
from firmware.outcomes.store import OutcomeStore
from firmware.protocol.topics import Topics
from firmware.service.person_outcomes import PersonOutcomes
from tests.conftest import DEVICE_MAX_N, ROOT

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
ENDED = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def outcomes_at(state: Path, hours: float, sent: list[tuple[str, bytes, int, bool]]) -> PersonOutcomes:
    def enqueue(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        sent.append((topic, payload, qos, retain))

    return PersonOutcomes(
        store=OutcomeStore(state),
        profile=load_profile(PROFILE, DEVICE_MAX_N),
        device_id="fu-1",
        topics=Topics("fu-1"),
        enqueue=enqueue,
        plan_version=lambda: 0,
        now=lambda: ENDED + timedelta(hours=hours),
    )


@pytest.fixture
def state(tmp_path: Path) -> Path:
    finished = FinishedSession("s1", ENDED, had_hold=True, pain_before=5)
    OutcomeStore(tmp_path).change(
        lambda r: record_session(r, finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1")
    )
    return tmp_path


@pytest.mark.parametrize(
    ("hours", "opens_in_h", "closes_in_h"),
    [(19.9, 0.1, 28.1), (20.0, 0.0, 28.0), (48.0, -28.0, 0.0)],
)
def test_the_device_is_told_when_the_window_opens_and_closes(
    state: Path, hours: float, opens_in_h: float, closes_in_h: float
) -> None:
    due = outcomes_at(state, hours, []).next_follow_up()
    assert due is not None
    session_id, opens_in_s, closes_in_s = due
    assert session_id == "s1"
    assert opens_in_s == pytest.approx(opens_in_h * 3600) and closes_in_s == pytest.approx(closes_in_h * 3600)


def test_after_48_hours_or_an_answer_there_is_nothing_to_ask(state: Path) -> None:
    assert outcomes_at(state, 48.01, []).next_follow_up() is None
    sent: list[tuple[str, bytes, int, bool]] = []
    outcomes = outcomes_at(state, 21.0, sent)
    outcomes.device_answer("s1", "not_better")
    assert outcomes.next_follow_up() is None
    [(topic, payload, qos, retain)] = [m for m in sent if m[0].endswith("/follow_up")]
    message = json.loads(payload)
    assert (topic, qos, retain) == ("presspoint/fu-1/session/s1/follow_up", 1, True)
    assert (message["answer"], message["answered_by"], message["hours_after"]) == ("not_better", "device", 21.0)
    assert Flag.SORENESS_NOT_IMPROVING in OutcomeStore(state).load().flags
    assert outcomes.refusal() is not None and "soreness_not_improving" in outcomes.refusal()  # type: ignore[operator]


def test_a_bad_answer_from_the_device_changes_nothing(state: Path) -> None:
    sent: list[tuple[str, bytes, int, bool]] = []
    outcomes = outcomes_at(state, 21.0, sent)
    outcomes.device_answer("s1", "maybe")
    outcomes.device_answer("nope", "better")
    assert sent == [] and OutcomeStore(state).load().sessions[0].follow_up is None
