"""``presspoint therapist person-clear`` against a real Mosquitto and a real ``presspoint run``.

The daemon waits for the button with ``soreness_not_improving`` set in its
state directory; the therapist's command signs with the device's plan key:
signed → cleared (and taken off the broker); signed with another key →
refused by the device; the very same bytes sent again → refused as a replay;
``therapist course-reset`` (the signed clear of ``reevaluate``) → a new course.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.follow_up import answer
from firmware.outcomes.records import Flag, FollowUpAnswer
from firmware.outcomes.store import OutcomeStore
from firmware.protocol.plan_envelope import DeviceKey, write_key_file
from tests.cli_fork import presspoint
from tests.conftest import ROOT
from tests.mqtt_broker import Collector, Mosquitto
from tests.outcomes.keyed_device import keyed_device, statuses, waiting_daemon

BASE = "presspoint/tc-1"


def sore_state(state: Path) -> OutcomeStore:
    store = OutcomeStore(state)
    ended = datetime.now(UTC) - timedelta(hours=30)
    finished = FinishedSession("s1", ended, had_hold=True, pain_before=5)
    store.change(
        lambda r: record_session(r, finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1")
    )
    store.change(lambda r: answer(r, "s1", FollowUpAnswer.NOT_BETTER, now=ended + timedelta(hours=21), by="cli"))
    return store


async def therapist(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    done = await asyncio.to_thread(presspoint, "therapist", "person-clear", *args, env=env, cwd=ROOT, timeout=90)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.asyncio
async def test_signed_clear_clears_forged_and_replayed_are_refused(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    key_file, other_key = tmp_path / "plan.key", tmp_path / "other.key"
    write_key_file(key_file, DeviceKey.generate(), device_id="tc-1")
    write_key_file(other_key, DeviceKey.generate(), device_id="tc-1")
    state = tmp_path / "state"
    store = sore_state(state)
    config = keyed_device(tmp_path, "tc-1", key_file, state)
    broker = ["--broker", f"mqtt://127.0.0.1:{mosquitto.port}"]
    async with (
        Collector(mosquitto.port, [f"{BASE}/person/#", f"{BASE}/event"]) as sub,
        waiting_daemon(config, mosquitto.port, cli_env),
    ):
        await sub.wait_for(lambda _: any(s["flags"] == ["soreness_not_improving"] for s in statuses(sub)), 60)

        code, _, err = await therapist(cli_env, "soreness_not_improving", "--device", "tc-1",
                                       "--key", str(other_key), *broker)
        assert code == 2 and "refused the clear" in err and "bad_signature" in err, err
        assert Flag.SORENESS_NOT_IMPROVING in store.load().flags

        code, out, err = await therapist(cli_env, "soreness_not_improving", "--device", "tc-1",
                                         "--key", str(key_file), *broker)
        assert (code, out.strip()) == (0, "tc-1: soreness_not_improving cleared (signed clear version 1)"), err
        assert store.load().flags == {} and store.load().clear_floor == 1
        assert statuses(sub)[-1]["flags"] == [] and statuses(sub)[-1]["clear_version"] == 1
        clears = sub.on("/person/clear")
        assert clears[-1].payload == b""  # the used clear is off the broker
        used = [m.payload for m in clears if m.payload][-1]  # the good one came after the forged one

        sore_state(state)  # soreness is back; the clear already used must not clear it again
        assert Flag.SORENESS_NOT_IMPROVING in store.load().flags
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(f"{BASE}/person/clear", used, qos=1)
        await sub.wait_for(lambda _: any(b"old_version" in m.payload for m in sub.on("/event")), 30)
        assert Flag.SORENESS_NOT_IMPROVING in store.load().flags

        reset = ["course-reset", "--device", "tc-1", "--key", str(key_file), *broker]
        done = await asyncio.to_thread(presspoint, "therapist", *reset, env=cli_env, cwd=ROOT, timeout=90)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "tc-1: reevaluate cleared (signed clear version 2)"
        course = store.load().course
        assert course is not None and course.id != "c1"
        assert course.started_because == "reset by the therapist (signed)"
        assert statuses(sub)[-1]["course"]["sessions_rated"] == 0
