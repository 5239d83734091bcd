"""``presspoint run`` plays ``see_therapist`` at a start while the course says reevaluate (the start still runs)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware.cues.patterns import PATTERNS
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.store import OutcomeStore
from firmware.session.states import Cue
from tests.conftest import PRESSPOINT, ROOT, SPEED_LAG
from tests.device.pressing import PROFILE, rating_device


def levels(log: Path) -> list[float]:
    return [float(line.split()[1]) for line in log.read_text().splitlines()]


@pytest.mark.parametrize("rate_pain", [False, True], ids=["no-rating", "then-the-rating"])
def test_see_therapist_plays_before_the_session_while_reevaluate_is_set(
    tmp_path: Path, cli_env: dict[str, str], rate_pain: bool
) -> None:
    profile = tmp_path / "profile.toml"
    keys = "reevaluate_after = 2" + ("\nrate_pain = true" if rate_pain else "")
    profile.write_text(PROFILE.read_text().replace('name = "P-017"', f'name = "P-017"\n{keys}'))
    state = tmp_path / "state"
    store = OutcomeStore(state)
    start = datetime.now(UTC) - timedelta(days=3)
    for n, pain in enumerate((6, 5)):  # 5 after 6: no significant relief in 2 rated sessions
        finished = FinishedSession(f"s{n}", start + timedelta(days=n), had_hold=False, pain_before=pain)
        store.change(
            lambda r, f=finished: record_session(  # type: ignore[misc]
                r, f, person="P-017", plan_version=0, reevaluate_after=2, new_course_id="c1"
            )
        )
    config = rating_device(tmp_path, "see-1", profile, state)
    motor = tmp_path / "motor.log"
    result = subprocess.run(
        [PRESSPOINT, "run", "--simulate", "--config", str(config), "--press-at", "3", "--motor-log", str(motor),
         "--speed", "20", *SPEED_LAG],
        capture_output=True, text=True, env=cli_env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "see your therapist: 2 rated sessions without significant relief" in result.stderr
    expected = [level for level, _ in PATTERNS[Cue.SEE_THERAPIST]]
    if rate_pain:  # the rating's prompt comes after the whole pattern, never over it
        expected += [level for level, _ in PATTERNS[Cue.RATE_PAIN]]
    assert levels(motor)[: len(expected)] == expected  # the first thing the motor does
