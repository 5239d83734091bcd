"""Acceptance: the real daemon under a flood of forged plans, a replay, oversized and deep messages, a restart.

A real Mosquitto and the real ``presspoint run --simulate --sessions 0
--wait-button`` process with a plan key installed.  Two plans are pushed
(versions 1 and 2), then 10,000 forged envelopes (QoS 0, a tight loop), a
message over the packet limit and one nested 5,000 deep, then the old,
validly signed version 1 again.  The replay is refused, the applied history
is whole, the service process's memory stays within 20 MB of its start and
peaks below 80 MB.  After a restart with a stored plan that no longer loads,
the replay is still refused.  Waits are bounded waits on real I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from config.plan import TherapyPlan
from firmware.mqtt.connection import DEVICE_MAX_PACKET_BYTES
from firmware.protocol.plan_envelope import DeviceKey, sign_plan, write_key_file
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.topics import Topics
from tests.conftest import HANG_S, PRESSPOINT, ROOT
from tests.mqtt_broker import Mosquitto
from tests.systemd_support import FakeServiceManager

pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

DEVICE = "sec-1"
TOPICS = Topics(DEVICE)
KEY = DeviceKey(bytes(range(32)))
FORGERIES = 10_000
MB = 1024 * 1024
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


class Daemon:
    def __init__(self, config: Path, env: dict[str, str], manager: FakeServiceManager) -> None:
        argv = [PRESSPOINT, "run", "--simulate", "--config", str(config), "--sessions", "0", "--wait-button"]
        env = {**env, "NOTIFY_SOCKET": str(manager.path)}
        env.pop("WATCHDOG_USEC", None)
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     cwd=ROOT)
        self.manager = manager

    async def ready(self) -> None:
        await asyncio.to_thread(self.manager.wait_for, lambda m: "READY=1" in m.split("\n"), 60)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=HANG_S)
        assert self.proc.returncode == 143, err  # stopped by SIGTERM, in order
        return err


async def replay_until_answered(client: aiomqtt.Client, port: int, envelope: bytes) -> PlanError:
    """Publish the replay until the device answers it.

    Under a flood the device drops what its bounded queue cannot hold (by
    design), so one copy of the replay may be dropped unseen: send it again
    until an answer comes, for a bounded time.
    """
    for _ in range(24):
        await client.publish(TOPICS.plan_set, envelope, qos=1)
        with contextlib.suppress(TimeoutError):
            answer = await wait_retained(port, TOPICS.plan_error, error_for(envelope), timeout_s=5.0)
            return PlanError.model_validate_json(answer)
    raise AssertionError("the device never answered the replayed envelope")


async def wait_retained(port: int, topic: str, predicate: Callable[[bytes], bool], timeout_s: float = 120.0) -> bytes:
    """The first message on ``topic`` (retained or live) that ``predicate`` accepts, within ``timeout_s``."""
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"watch-{hashlib.md5(topic.encode()).hexdigest()}",
                              protocol=aiomqtt.ProtocolVersion.V5) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(timeout_s):
            async for message in client.messages:
                payload = message.payload
                if isinstance(payload, bytes) and payload and predicate(payload):
                    return payload
    raise AssertionError("unreachable")


def state_version(version: int) -> Callable[[bytes], bool]:
    return lambda raw: PlanState.model_validate_json(raw).version == version


def error_for(payload: bytes) -> Callable[[bytes], bool]:
    digest = hashlib.sha256(payload).hexdigest()
    return lambda raw: PlanError.model_validate_json(raw).payload_sha256 == digest


def forgeries(template: bytes) -> list[bytes]:
    data: dict[str, Any] = json.loads(template)
    return [json.dumps({**data, "version": 100 + i, "request_id": f"forged-{i}"}).encode() for i in range(FORGERIES)]


async def test_forged_flood_replay_and_restart(mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str],
                                               manager: FakeServiceManager) -> None:
    key_file = tmp_path / "plan.key"
    write_key_file(key_file, KEY, device_id=DEVICE)
    state = tmp_path / "state"
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "{DEVICE}"\nplan_key_file = "{key_file}"\n[storage]\nstate_dir = "{state}"\n'
                      f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mosquitto.port}\n')
    v1 = sign_plan(GENTLE, device_id=DEVICE, version=1, key=KEY).to_json()
    v2 = sign_plan(TherapyPlan(), device_id=DEVICE, version=2, key=KEY).to_json()
    flood = forgeries(v2)
    daemon = Daemon(config, cli_env, manager)
    try:
        await daemon.ready()
        await wait_retained(mosquitto.port, TOPICS.plan_state, state_version(0))  # connected and subscribed
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="therapist",
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.publish(TOPICS.plan_set, v1, qos=1)
            await wait_retained(mosquitto.port, TOPICS.plan_state, state_version(1))
            await client.publish(TOPICS.plan_set, v2, qos=1)
            await wait_retained(mosquitto.port, TOPICS.plan_state, state_version(2))
            start = memory_kib(daemon.proc.pid)
            for payload in flood:
                await client.publish(TOPICS.plan_set, payload, qos=0)
            await client.publish(TOPICS.plan_set, b"x" * (DEVICE_MAX_PACKET_BYTES * 64), qos=0)  # 4 MiB
            await client.publish(TOPICS.plan_set, b"[" * 5000 + b"]" * 5000, qos=0)
            await client.publish(TOPICS.ha_status, b"\xff" * 10_000, qos=0)
            refused = await replay_until_answered(client, mosquitto.port, v1)  # the replay, last
            end = memory_kib(daemon.proc.pid)
            assert refused.code == "old_version" and refused.version_in_force == 2
            await client.publish(TOPICS.plan_error, b"", qos=1, retain=True)  # so the next answer is new
        err = daemon.stop()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.communicate()
    grown_mb = (end["VmRSS"] - start["VmRSS"]) / 1024
    print(f"\nservice RSS {start['VmRSS'] / 1024:.1f} MB -> {end['VmRSS'] / 1024:.1f} MB "
          f"(+{grown_mb:.1f} MB) after {FORGERIES} forgeries; peak {end['VmHWM'] / 1024:.1f} MB")
    assert grown_mb < 20 and end["VmHWM"] < 80 * 1024
    assert "Traceback" not in err and "RecursionError" not in err
    assert err.count("plan update refused") < 50  # logged per code and minute, not per message
    folder = state / "remote-plan"
    history = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["version"]) for e in history] == [("applied", 1), ("applied", 2)]
    refusals = [json.loads(line) for line in (folder / "audit-refusals.jsonl").read_text().splitlines()]
    assert len(refusals) < 50
    # Restart with a stored plan that no longer loads: the replay floor still refuses version 1.
    (folder / "current.json").write_text("{ no longer a plan")
    manager.messages.clear()
    daemon = Daemon(config, cli_env, manager)
    try:
        await daemon.ready()
        await wait_retained(mosquitto.port, TOPICS.plan_state, state_version(0))
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="replayer",
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.publish(TOPICS.plan_set, v1, qos=1)
        again = PlanError.model_validate_json(await wait_retained(mosquitto.port, TOPICS.plan_error, error_for(v1)))
        assert again.code == "old_version" and "push version 3 or higher" in again.reason
    finally:
        daemon.stop()
    history = [json.loads(line) for line in (folder / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["version"]) for e in history] == [("applied", 1), ("applied", 2)]
