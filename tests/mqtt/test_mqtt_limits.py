"""Hostile traffic on a real Mosquitto: oversized messages never reach the device, a session takeover is named.

The device side is the real ``Publisher`` with a ``PlanUpdateService``
attached, as in ``presspoint run``.  Waits are bounded waits on real I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.mqtt.connection import DEVICE_MAX_PACKET_BYTES, Backoff
from firmware.mqtt.publisher import Publisher
from firmware.mqtt.takeover import TAKEOVER_BACKOFF_S
from firmware.plans.service import PlanUpdateService
from firmware.plans.updater import PlanUpdater, UpdateResult
from firmware.protocol.plan_envelope import DeviceKey
from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter
from tests.mqtt_broker import Mosquitto

pytestmark = [pytest.mark.broker]

DEVICE = "dev1"
TOPICS = Topics(DEVICE)
FAST: dict[str, Any] = {"enabled": True, "host": "127.0.0.1", "reconnect_min_s": 0.05, "reconnect_max_s": 0.3,
                        "keepalive_s": 5, "state_min_interval_s": 0.02, "publish_timeout_s": 5.0}


@contextlib.asynccontextmanager
async def device(state: Path, settings: MqttSettings) -> AsyncIterator[tuple[Publisher, PlanUpdateService]]:
    writer = StoreWriter(state / "state.db", topics=TOPICS)
    writer.start()
    publisher = Publisher(settings, TOPICS, writer, firmware_version="9.9")
    updater = PlanUpdater(device_id=DEVICE, device_max_n=88.0, key=DeviceKey(bytes(32)), state_dir=state,
                          local_plan=TherapyPlan())
    service = PlanUpdateService(updater, TOPICS)
    service.attach(publisher)
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher, service
    finally:
        publisher.request_stop()
        async with asyncio.timeout(10):
            await task
        writer.close()


async def eventually(condition: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    """Poll ``condition`` until it holds, at most ``timeout_s`` (a bound, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def handled(digest: str) -> Any:
    return lambda results: any(r.payload_sha256 == digest for r in results)


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_a_message_over_the_packet_limit_never_reaches_a_handler(tmp_path: Path, mosquitto: Mosquitto,
                                                                        protocol: str) -> None:
    settings = MqttSettings(**{**FAST, "port": mosquitto.port, "protocol": protocol})
    async with device(tmp_path, settings) as (publisher, service):
        huge = b"x" * (DEVICE_MAX_PACKET_BYTES * 16)
        small = b"{not json"
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="hostile",
                                  protocol=aiomqtt.ProtocolVersion.V5) as client:
            assert await eventually(lambda: publisher.connected)
            # Connected comes before the device's subscriptions; its retained plan/state goes out after them.
            await client.subscribe(TOPICS.plan_state, qos=1)
            async with asyncio.timeout(15):
                await anext(client.messages)
            await client.publish(TOPICS.plan_set, huge, qos=1)
            await client.publish(TOPICS.plan_set, small, qos=1)
        assert await asyncio.to_thread(service.wait_for, handled(hashlib.sha256(small).hexdigest()), 10)
        results: list[UpdateResult] = service.results
        assert not any(r.payload_sha256 == hashlib.sha256(huge).hexdigest() for r in results), results
        assert publisher.connected  # the connection survived


@pytest.mark.asyncio
async def test_a_session_takeover_is_named_and_not_fought_over(tmp_path: Path, mosquitto: Mosquitto,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="presspoint.mqtt")
    settings = MqttSettings(**{**FAST, "port": mosquitto.port, "client_id": "same-id"})
    async with device(tmp_path / "a", settings) as (first, _):
        assert await eventually(lambda: first.connected)
        async with device(tmp_path / "b", settings) as (second, _):
            # Each connect closes the other's connection, until one of them sees it is a takeover.
            assert await eventually(lambda: first.takeover.count + second.takeover.count == 1)
            yielded, stays = (first, second) if first.takeover.count else (second, first)
            assert await eventually(lambda: stays.connected)
            lines = [r.getMessage() for r in caplog.records if "took the session over" in r.getMessage()]
            assert len(lines) == 1 and "two devices with the same device_id or mqtt.client_id" in lines[0]
            assert "'same-id'" in lines[0] and "unreachable" not in lines[0]
            # The one that yielded waits at least TAKEOVER_BACKOFF_S[0] before it connects again.
            assert stays.connected and not yielded.connected and stays.takeover.count == 0
    assert "Traceback" not in caplog.text and "thread died" not in caplog.text


def test_a_hold_off_lengthens_only_the_next_delay() -> None:
    backoff = Backoff(0.05, 0.3)
    backoff.hold_off(*TAKEOVER_BACKOFF_S)
    assert TAKEOVER_BACKOFF_S[0] <= backoff.next() <= TAKEOVER_BACKOFF_S[1]
    assert backoff.next() <= 0.3
