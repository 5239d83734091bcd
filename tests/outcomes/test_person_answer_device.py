"""Answers from the clinic app against a real Mosquitto and a real ``presspoint run``.

The daemon waits for the button; signed answers arrive on
``person/answer/<sid>/<kind>``: a pain rating moves the course, a follow-up
``not_better`` is stored as the CLI stores it (``answered_by`` = clinic),
published, and refuses the next start.  Forged, replayed, bad and unknown
ones are refused with a ``person_answer_refused`` event and change nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.records import Flag, FollowUpAnswer
from firmware.outcomes.store import OutcomeStore
from firmware.protocol.person import sign_answer
from firmware.protocol.plan_envelope import ALGORITHM, DeviceKey, signing_input, write_key_file
from tests.cli_fork import presspoint
from tests.mqtt_broker import Collector, Mosquitto
from tests.outcomes.keyed_device import keyed_device, statuses, waiting_daemon
from tests.outcomes.test_person_cli import HOLD_THEN_ABORT

BASE = "presspoint/pa-1"


def two_sessions(state: Path) -> OutcomeStore:
    """s1 rated 5 before, 30 h ago with a hold (its follow-up is due); s2 not rated yet."""
    store = OutcomeStore(state)
    now = datetime.now(UTC)
    for sid, ended, pain in (("s1", now - timedelta(hours=30), 5), ("s2", now - timedelta(hours=2), None)):
        finished = FinishedSession(sid, ended, had_hold=True, pain_before=pain)
        store.change(
            lambda r, f=finished: record_session(
                r, f, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1"
            )
        )
    return store


def refusals(sub: Collector) -> list[dict[str, Any]]:
    events = [json.loads(m.payload) for m in sub.on("/event") if m.payload]
    return [e for e in events if e.get("type") == "person_answer_refused"]


def signed_as_is(key: DeviceKey, **fields: Any) -> bytes:
    """A correctly signed message with whatever fields (the device must still check the values)."""
    body = {"schema": "presspoint.person-answer/1", "alg": ALGORITHM, "device_id": "pa-1", "version": 9,
            "issued_at": "2026-12-01T12:00:00Z", "request_id": "r1", **fields}
    body["signature"] = key.mac(signing_input(body))
    return json.dumps(body).encode()


@pytest.mark.asyncio
async def test_signed_answers_apply_bad_forged_replayed_are_refused(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    key, other = DeviceKey.generate(), DeviceKey.generate()
    key_file = tmp_path / "plan.key"
    write_key_file(key_file, key, device_id="pa-1")
    state = tmp_path / "state"
    store = two_sessions(state)
    config = keyed_device(tmp_path, "pa-1", key_file, state)
    rating = sign_answer("s2", "pain_before", 3, device_id="pa-1", version=100, key=key).to_json()
    async with (
        Collector(mosquitto.port, [f"{BASE}/person/#", f"{BASE}/event", f"{BASE}/session/#"]) as sub,
        waiting_daemon(config, mosquitto.port, cli_env),
    ):
        await sub.wait_for(lambda _: any(s["course"]["sessions_rated"] == 1 for s in statuses(sub)), 60)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish(f"{BASE}/person/answer/s2/pain_before", rating, qos=1, retain=True)
            await sub.wait_for(lambda _: statuses(sub)[-1]["course"]["sessions_rated"] == 2, 30)
            course = statuses(sub)[-1]["course"]
            assert (course["baseline_pain"], course["latest_pain"]) == (5, 3)
            assert store.load().sessions[1].pain_before == 3

            bad = [
                sign_answer("s2", "pain_after", 1, device_id="pa-1", version=200, key=other).to_json(),
                rating,  # the very same bytes again
                signed_as_is(key, session_id="s2", kind="pain_after", value=11),
                signed_as_is(key, session_id="s2", kind="follow_up", value="worse"),
                sign_answer("nope", "pain_after", 1, device_id="pa-1", version=300, key=key).to_json(),
            ]
            for payload in bad:
                await client.publish(f"{BASE}/person/answer/s2/pain_after", payload, qos=1)
            await sub.wait_for(lambda _: len(refusals(sub)) == len(bad), 30)
            reasons = [e["reason"] for e in refusals(sub)]
            assert "bad_signature" in reasons[0] and "old_version" in reasons[1], reasons
            assert "bad_envelope" in reasons[2] and "pain_after must be a whole number 0..10" in reasons[2]
            assert "follow_up must be better or not_better" in reasons[3]
            assert "no session 'nope'" in reasons[4]
            assert all("\n" not in r for r in reasons)
            after = store.load()
            assert [s.pain_after for s in after.sessions] == [None, None] and after.flags == {}

            follow_up = sign_answer("s1", "follow_up", "not_better", device_id="pa-1", version=400, key=key)
            await client.publish(f"{BASE}/person/answer/s1/follow_up", follow_up.to_json(), qos=1, retain=True)
            await sub.wait_for(lambda _: any(m.payload for m in sub.on("/session/s1/follow_up")), 30)
        published = json.loads(sub.on("/session/s1/follow_up")[-1].payload)
        assert published["answer"] == "not_better" and published["answered_by"] == "clinic"
        s1 = store.load().sessions[0]
        assert (s1.follow_up, s1.answered_by) == (FollowUpAnswer.NOT_BETTER, "clinic")
        assert Flag.SORENESS_NOT_IMPROVING in store.load().flags
        await sub.wait_for(lambda _: statuses(sub)[-1]["flags"] == ["soreness_not_improving"], 30)

    trace = tmp_path / "trace.csv"
    trace.write_text(HOLD_THEN_ABORT)
    refused = presspoint(
        "run", "--simulate", "--config", str(config), "--trace", str(trace), "--json", env=cli_env, timeout=60
    )
    assert refused.returncode == 3 and "soreness_not_improving" in refused.stderr, refused.stderr
