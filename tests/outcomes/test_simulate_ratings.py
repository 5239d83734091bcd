"""``simulate --pain-before N --pain-after N``: the ratings in the summary, bad values refused, soreness refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware.cli.main import main
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.follow_up import answer
from firmware.outcomes.records import FollowUpAnswer
from firmware.outcomes.store import OutcomeStore
from tests.conftest import ROOT

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
QUICK = ROOT / "config" / "examples" / "quick-test.toml"


def test_the_ratings_go_into_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--plan", str(QUICK), "--json", "--pain-before", "6", "--pain-after", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["pain_before"], summary["pain_after"]) == (6, 0)


def test_without_ratings_they_are_null(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--plan", str(QUICK), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pain_before"] is None and summary["pain_after"] is None and summary["course"] is None


@pytest.mark.parametrize("value", ["11", "-1", "4.5", "x", "", "٣"])
def test_bad_ratings_are_one_line_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--plan", str(QUICK), "--pain-after", value]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("presspoint: --pain-after") and len(captured.err.splitlines()) == 1


def test_simulate_is_refused_while_soreness_is_not_improving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'profile_file = "{PROFILE}"\n[storage]\nstate_dir = "{tmp_path}"\n')
    store = OutcomeStore(tmp_path)
    ended = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    finished = FinishedSession("s1", ended, had_hold=True, pain_before=5)
    store.change(
        lambda r: record_session(r, finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1")
    )
    store.change(lambda r: answer(r, "s1", FollowUpAnswer.NOT_BETTER, now=ended + timedelta(hours=21), by="cli"))
    assert main(["simulate", "--config", str(config), "--plan", str(QUICK), "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.out == "" and "soreness_not_improving" in captured.err
    store.change(lambda r: answer(r, "s1", FollowUpAnswer.BETTER, now=ended + timedelta(hours=22), by="cli"))
    assert main(["simulate", "--config", str(config), "--plan", str(QUICK), "--json"]) == 0


def test_simulate_records_the_session_in_the_course_as_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace('name = "P-017"', 'name = "P-017"\nreevaluate_after = 2'))
    config = tmp_path / "device.toml"
    config.write_text(f'profile_file = "{profile}"\n[storage]\nstate_dir = "{tmp_path}"\n')

    def simulate(before: str) -> tuple[dict[str, object], str]:
        args = ["simulate", "--config", str(config), "--plan", str(QUICK), "--json", "--pain-before", before]
        assert main([*args, "--pain-after", "2"]) == 0
        captured = capsys.readouterr()
        summary: dict[str, object] = json.loads(captured.out)
        return summary, captured.err

    first, err = simulate("6")
    course = first["course"]
    assert isinstance(course, dict)
    assert (course["sessions_rated"], course["baseline_pain"], course["latest_pain"]) == (1, 6, 6)
    assert course["reevaluate"] is False and "see_therapist" not in err
    second, _ = simulate("5")  # 5 from 6 is no significant relief: after 2 rated sessions, reevaluate
    assert second["course"] == {
        "id": course["id"],
        "sessions_rated": 2,
        "baseline_pain": 6,
        "latest_pain": 5,
        "reevaluate": True,
        "reason": "2 rated sessions without significant relief (pain 6 at the start, 5 now; relief needs 4 or less)",
    }
    record = OutcomeStore(tmp_path).load()
    assert [(s.pain_before, s.pain_after) for s in record.sessions] == [(6, 2), (5, 2)]
    third, err = simulate("4")  # the start says see your therapist; then 4 is relief and clears it
    assert err.count("see_therapist: 2 rated sessions without significant relief (pain 6 at the start, 5 now") == 1
    assert third["course"]["reevaluate"] is False and third["course"]["sessions_rated"] == 3  # type: ignore[index]
