"""Remote plans end to end on a real Mosquitto: the device's publisher connection + the therapist CLI.

The device side is the real ``Publisher`` (with its ``StoreWriter``) and a
``PlanUpdateService`` attached to it; the therapist side is the real push
code and the ``presspoint therapist`` CLI.  Waits are bounded waits on real
I/O; nothing sleeps for timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from config.units import kgf
from firmware.cli.main import main
from firmware.mqtt.publisher import Publisher
from firmware.plans.service import PlanUpdateService
from firmware.plans.updater import PlanUpdater, UpdateResult, UpdateStatus
from firmware.plans.validator import MAX_PAYLOAD_BYTES
from firmware.protocol.plan_envelope import DeviceKey, sign_plan, write_key_file
from firmware.protocol.plan_messages import PlanError, PlanState, RefusalCode
from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter
from firmware.therapist.push import push_plan, show_plan
from tests.mqtt_broker import Mosquitto

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

DEVICE = "dev1"
TOPICS = Topics(DEVICE)
KEY = DeviceKey(bytes(range(32)))
LOCAL = TherapyPlan()
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")
FAST = {"enabled": True, "host": "127.0.0.1", "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "keepalive_s": 5,
        "state_min_interval_s": 0.02, "publish_timeout_s": 5.0}


def settings(broker: Mosquitto) -> MqttSettings:
    return MqttSettings(**{**FAST, "port": broker.port})


@dataclass
class Device:
    service: PlanUpdateService
    updater: PlanUpdater
    publisher: Publisher

    async def wait(self, predicate: Callable[[list[UpdateResult]], bool], timeout_s: float = 10.0) -> None:
        assert await asyncio.to_thread(self.service.wait_for, predicate, timeout_s), self.service.results


@contextlib.asynccontextmanager
async def device(state: Path, broker: Mosquitto, *, device_max_n: float = kgf(9.0)) -> AsyncIterator[Device]:
    writer = StoreWriter(state / "state.db", topics=TOPICS)
    writer.start()
    publisher = Publisher(settings(broker), TOPICS, writer, firmware_version="9.9")
    updater = PlanUpdater(device_id=DEVICE, device_max_n=device_max_n, key=KEY, state_dir=state, local_plan=LOCAL)
    service = PlanUpdateService(updater, TOPICS)
    service.attach(publisher)
    task = asyncio.create_task(publisher.run())
    try:
        yield Device(service, updater, publisher)
    finally:
        publisher.request_stop()
        async with asyncio.timeout(10):
            await task
        writer.close()


async def retained_state(broker: Mosquitto) -> tuple[PlanState | None, PlanError | None]:
    return await show_plan(settings(broker), device_id=DEVICE)


async def publish_raw(broker: Mosquitto, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="raw-publisher") as client:
        await client.publish(TOPICS.plan_set, payload, qos=1)


async def wait_state(broker: Mosquitto, predicate: Callable[[PlanState | None], bool], timeout_s: float = 10.0
                     ) -> PlanState | None:
    """Poll the retained plan/state (bounded) until ``predicate`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        state, _ = await retained_state(broker)
        if predicate(state) or loop.time() > deadline:
            return state


async def wait_error(broker: Mosquitto, predicate: Callable[[PlanError | None], bool], timeout_s: float = 10.0
                     ) -> PlanError | None:
    """Poll the retained plan/error (bounded) until ``predicate`` holds (the publisher sends it asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        _, error = await retained_state(broker)
        if predicate(error) or loop.time() > deadline:
            return error


async def test_push_applies_and_answers_on_retained_state(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with device(tmp_path / "dev", mosquitto) as dev:
        outcome = await push_plan(settings(mosquitto), device_id=DEVICE, plan=GENTLE, key=KEY, timeout_s=10)
        assert outcome.status == "applied" and outcome.exit_code == 0 and outcome.version == 1
        assert "dev1 applied plan version 1:\n  holds   3 × 60 s at 19.6 N (2.0 kgf) ±15%" in outcome.message
        assert dev.updater.version == 1 and dev.updater.plan == GENTLE
        state, error = await retained_state(mosquitto)  # a fresh subscriber sees the retained answer
        assert state is not None and state.version == 1 and TherapyPlan.model_validate(state.plan) == GENTLE
        assert error is None
        # Without --version the next push goes one above the device's.
        again = await push_plan(settings(mosquitto), device_id=DEVICE, plan=LOCAL, key=KEY, timeout_s=10)
        assert again.status == "applied" and again.version == 2
        entries = [json.loads(x) for x in dev.updater.audit.path.read_text().splitlines()]
        assert [(e["action"], e["version"]) for e in entries] == [("applied", 1), ("applied", 2)]


def _handled(digest: str) -> Callable[[list[UpdateResult]], bool]:
    return lambda results: any(r.payload_sha256 == digest for r in results)


def _error_for(digest: str) -> Callable[[PlanError | None], bool]:
    return lambda error: error is not None and error.payload_sha256 == digest


async def test_every_refusal_reaches_plan_error_and_the_plan_stays(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with device(tmp_path / "dev", mosquitto) as dev:
        first = await push_plan(settings(mosquitto), device_id=DEVICE, plan=GENTLE, key=KEY, version=2, timeout_s=10)
        assert first.status == "applied"
        good = json.loads(sign_plan(LOCAL, device_id=DEVICE, version=3, key=KEY).to_json())
        cases: list[tuple[str, bytes, RefusalCode, str]] = [
            ("unsigned", json.dumps({k: v for k, v in good.items() if k != "signature"}).encode(),
             RefusalCode.UNSIGNED, "not signed"),
            ("wrong signature", sign_plan(LOCAL, device_id=DEVICE, version=3, key=DeviceKey(bytes(32))).to_json(),
             RefusalCode.BAD_SIGNATURE, "signed with key"),
            ("altered", json.dumps({**good, "version": 4}).encode(), RefusalCode.BAD_SIGNATURE, "does not match"),
            ("malformed", b"{not json", RefusalCode.NOT_JSON, "not valid JSON"),
            ("oversized", b"x" * (MAX_PAYLOAD_BYTES + 100), RefusalCode.TOO_LARGE, "limit is 16384"),
            ("out of bounds", sign_plan({**LOCAL.model_dump(), "therapist_max": kgf(9.5)}, device_id=DEVICE,
                                             version=3, key=KEY).to_json(),
             RefusalCode.INVALID_PLAN, "must be <= device_max"),
            ("old version", sign_plan(LOCAL, device_id=DEVICE, version=1, key=KEY).to_json(),
             RefusalCode.OLD_VERSION, "not newer than version 2"),
            ("wrong device", sign_plan(LOCAL, device_id="dev2", version=3, key=KEY).to_json(),
             RefusalCode.WRONG_DEVICE, "for device 'dev2'"),
        ]
        for name, payload, code, reason in cases:
            digest = hashlib.sha256(payload).hexdigest()
            await publish_raw(mosquitto, payload)
            await dev.wait(_handled(digest))
            error = await wait_error(mosquitto, _error_for(digest))
            assert error is not None and error.payload_sha256 == digest, name
            assert error.code is code and reason in error.reason, (name, error.reason)
            assert error.version_in_force == 2
            assert dev.updater.version == 2 and dev.updater.plan == GENTLE, name
        state, _ = await retained_state(mosquitto)
        assert state is not None and state.version == 2 and TherapyPlan.model_validate(state.plan) == GENTLE
        refused = dev.updater.audit.refusals.records()
        assert [e["code"] for e in refused if e["action"] == "refused"] == [c[2].value for c in cases]


async def test_push_during_a_session_applies_only_after_it(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with device(tmp_path / "dev", mosquitto) as dev:
        assert dev.service.begin_session() == LOCAL
        notes: list[str] = []
        push = asyncio.create_task(push_plan(settings(mosquitto), device_id=DEVICE, plan=GENTLE, key=KEY,
                                             timeout_s=15, note=notes.append))
        await dev.wait(lambda results: any(r.status is UpdateStatus.QUEUED for r in results))
        # While the session runs nothing changes: not the plan, not its version.
        assert dev.updater.version == 0 and dev.updater.plan == LOCAL and dev.service.begin_session() == LOCAL
        state = await wait_state(mosquitto, lambda s: s is not None and s.pending_version == 1)
        assert state is not None and state.version == 0 and state.source == "local"
        assert not push.done()
        result = dev.service.end_session()
        assert result is not None and result.status is UpdateStatus.APPLIED
        async with asyncio.timeout(15):
            outcome = await push
        assert outcome.status == "applied" and outcome.version == 1
        assert any("a session is running" in n for n in notes)
        assert dev.updater.plan == GENTLE


async def test_queued_push_reports_exit_3_when_the_session_outlasts_the_wait(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    async with device(tmp_path / "dev", mosquitto) as dev:
        dev.service.begin_session()
        # The wait must outlast the device's answer and not the session: a wait that ran out
        # before the answer came (no "a session is running" note) is tried again, longer.
        for wait_s in (1.0, 4.0, 16.0, 64.0):
            notes: list[str] = []
            outcome = await push_plan(settings(mosquitto), device_id=DEVICE, plan=GENTLE, key=KEY, timeout_s=wait_s,
                                      note=notes.append)
            if any("a session is running" in text for text in notes):
                break
        assert outcome.status == "queued" and outcome.exit_code == 3
        dev.service.end_session()
        state = await wait_state(mosquitto, lambda s: s is not None and s.version == outcome.version)
        assert state is not None and state.pending_version is None


async def test_offline_device_gets_the_retained_plan_when_it_connects(tmp_path: Path, mosquitto: Mosquitto) -> None:
    outcome = await push_plan(settings(mosquitto), device_id=DEVICE, plan=GENTLE, key=KEY, timeout_s=0.5)
    assert outcome.status == "timeout" and outcome.exit_code == 2 and "retained" in outcome.message
    async with device(tmp_path / "dev", mosquitto) as dev:
        await dev.wait(lambda results: any(r.status is UpdateStatus.APPLIED for r in results))
        assert dev.updater.plan == GENTLE
    # A restarted device gets the same retained message again: unchanged, no second audit entry.
    async with device(tmp_path / "dev", mosquitto) as dev:
        await dev.wait(lambda results: any(r.status is UpdateStatus.UNCHANGED for r in results))
        assert len(dev.updater.audit.path.read_text().splitlines()) == 1


def _cli(*args: str) -> int:
    return main(["therapist", *args])


async def test_cli_push_exit_codes_and_messages(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "dev1.key"
    write_key_file(key_file, KEY, device_id=DEVICE)
    plan_file = tmp_path / "gentle.toml"
    plan_file.write_text('target = "2 kgf"\ntolerance = "2.8 kgf"\ntherapist_max = "3.5 kgf"\n')
    push = ["plan", "push", "--device", DEVICE, "--file", str(plan_file), "--key", str(key_file),
            "--broker", mosquitto.url, "--timeout", "10"]
    async with device(tmp_path / "dev", mosquitto, device_max_n=kgf(3.0)) as dev:
        await wait_state(mosquitto, lambda s: s is not None)  # online: the CLI refuses a device never seen
        # Valid locally (default 9 kgf) but beyond this device's 3 kgf load cell: the device refuses.
        assert await asyncio.to_thread(_cli, *push) == 2
        err = capsys.readouterr().err
        assert "dev1 refused plan version 1 [invalid_plan]" in err and "device_max" in err
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="check") as client:
            await client.subscribe(TOPICS.plan_set, qos=1)
            with pytest.raises(TimeoutError):  # the refused plan was cleared, not left retained
                async with asyncio.timeout(0.5):
                    async for message in client.messages:
                        if message.payload:
                            break
        assert dev.updater.version == 0
    async with device(tmp_path / "dev2", mosquitto) as dev:
        assert await asyncio.to_thread(_cli, *push) == 0
        out = capsys.readouterr().out
        assert "signed (key " in out and "dev1 applied plan version 1" in out
        assert KEY.hex() not in out
        assert await asyncio.to_thread(_cli, *push, "--version", "1") == 2  # replay of an old version
        assert "[old_version]" in capsys.readouterr().err
        assert await asyncio.to_thread(_cli, "plan", "show", "--device", DEVICE, "--broker", mosquitto.url) == 0
        shown = capsys.readouterr().out
        assert "plan version 1 (remote)" in shown and "last refusal: version 1 [old_version]" in shown
        assert dev.updater.version == 1
    bad_plan = tmp_path / "bad.toml"
    bad_plan.write_text('tolerance = "6 kgf"\n')
    assert await asyncio.to_thread(_cli, "plan", "push", "--device", DEVICE, "--file", str(bad_plan),
                                   "--key", str(key_file), "--broker", mosquitto.url) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml: field 'tolerance'" in err and "Traceback" not in err

