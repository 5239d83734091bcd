"""``simulate --broker`` publishes what ``run`` would: the summary with ratings and ``course``, and ``person/status``.

A real Mosquitto and a real ``presspoint simulate`` process; a separate
subscriber records what the broker delivered.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from firmware.protocol.person import PersonStatus
from firmware.session.summary import SessionSummary
from tests.cli_fork import presspoint
from tests.conftest import ROOT
from tests.mqtt_broker import Collector, Mosquitto

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
QUICK = ROOT / "config" / "examples" / "quick-test.toml"
BASE = "presspoint/sim-out-1"


async def simulate(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(presspoint, "simulate", *args, env=env, cwd=ROOT, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.asyncio
@pytest.mark.parametrize("rate_pain", [False, True])
async def test_simulate_publishes_the_summary_with_its_course_and_the_person_status(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str], rate_pain: bool
) -> None:
    """With ``rate_pain`` the service's sink waits for the rating after; ``simulate`` has it from the start."""
    profile = tmp_path / "profile.toml"
    extra = "\nrate_pain = true" if rate_pain else ""
    profile.write_text(PROFILE.read_text().replace('name = "P-017"', f'name = "P-017"{extra}'))
    config = tmp_path / "device.toml"
    config.write_text(
        f'device_id = "sim-out-1"\nprofile_file = "{profile}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    args = ["--config", str(config), "--plan", str(QUICK), "--json", "--broker", mosquitto.url]
    async with Collector(mosquitto.port, [f"{BASE}/session/+/summary", f"{BASE}/person/status"]) as sub:
        code, out, err = await simulate(cli_env, *args, "--pain-before", "6", "--pain-after", "2")
        assert code == 0, err
        printed = json.loads(out)
        await sub.wait_for(lambda _: bool(sub.on("/summary")) and bool(sub.on("/person/status")), 30)
    [published] = [json.loads(m.payload) for m in sub.on(f"/session/{printed['session_id']}/summary")]
    assert SessionSummary.model_validate(published).course is not None
    assert published == printed  # the very summary run's service would store and publish
    assert (published["pain_before"], published["pain_after"]) == (6, 2)
    course = published["course"]
    assert (course["sessions_rated"], course["baseline_pain"], course["latest_pain"]) == (1, 6, 6)
    [message] = sub.on("/person/status")
    status = PersonStatus.model_validate_json(message.payload)
    assert status.device_id == "sim-out-1" and status.person == "P-017"
    assert status.course is not None and status.course.model_dump() == course
    async with Collector(mosquitto.port, [f"{BASE}/person/status"]) as late:  # a new subscriber gets it retained
        await late.wait_for(lambda messages: bool(messages), 10)
    assert late.messages[0].retain and PersonStatus.model_validate_json(late.messages[0].payload) == status
