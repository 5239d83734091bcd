"""The next-day check through ``presspoint run`` and a real Mosquitto: asked on the device, stored, published.

The state directory holds a session with a hold that ended 21 h ago; the
first press of the simulated button (a line on standard input) gets the
``follow_up`` question, the next press answers ``better``; the answer is
stored and published retained on ``session/<sid>/follow_up``; only the press
after that starts a session.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.records import FollowUpAnswer
from firmware.outcomes.store import OutcomeStore
from tests.device.pressing import PROFILE, line_with, pressed_daemon, rating_device
from tests.mqtt_broker import Collector, Mosquitto


@pytest.mark.asyncio
async def test_the_device_asks_the_follow_up_at_the_first_press_and_publishes_it(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    state = tmp_path / "state"
    store = OutcomeStore(state)
    finished = FinishedSession("s1", datetime.now(UTC) - timedelta(hours=21), had_hold=True, pain_before=4)
    store.change(
        lambda r: record_session(r, finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1")
    )
    config = rating_device(tmp_path, "fu-2", PROFILE, state)
    async with Collector(mosquitto.port, ["presspoint/fu-2/session/+/follow_up"]) as sub:
        seen: list[str] = []
        async with pressed_daemon(config, cli_env, "--broker", f"mqtt://127.0.0.1:{mosquitto.port}") as proc:
            assert proc.stdin is not None and proc.stderr is not None
            proc.stdin.write(b"\n")  # the first interaction: the question, not a session
            await line_with(proc.stderr, "asking for the follow-up of session s1", seen)
            proc.stdin.write(b"\n")  # one press: better
            await line_with(proc.stderr, "follow-up of session s1 answered on the device: better", seen)
            await sub.wait_for(lambda ms: bool(ms), 30)
            proc.stdin.write(b"\n")  # now a press starts the session
            await proc.stdin.drain()
            await line_with(proc.stderr, "ended: stopped", seen)
            proc.stdin.close()
            async with asyncio.timeout(120):
                out, err = await proc.communicate()
    assert proc.returncode == 0, "".join(seen) + err.decode()
    [message] = sub.messages
    payload = json.loads(message.payload)
    assert message.topic == "presspoint/fu-2/session/s1/follow_up"
    assert (payload["session_id"], payload["answer"], payload["answered_by"]) == ("s1", "better", "device")
    assert 21.0 <= payload["hours_after"] < 22.0
    record = store.load()
    assert record.sessions[0].follow_up is FollowUpAnswer.BETTER and record.sessions[0].follow_up_published
    assert len([line for line in out.decode().splitlines() if line.startswith("{")]) == 1  # one session, after
    async with Collector(mosquitto.port, ["presspoint/fu-2/session/+/follow_up"]) as later:
        await later.wait_for(lambda ms: bool(ms), 15)
    assert later.messages[0].retain and later.messages[0].payload == message.payload  # retained for the clinic
