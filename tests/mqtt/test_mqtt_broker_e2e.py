"""Store-and-forward against a real Mosquitto, checked by what a separate subscriber received.

Each test starts its own broker on a free loopback port (``tests.mqtt_broker``).
Waits are real time on real I/O, always bounded; nothing sleeps for timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.device import DeviceConfig
from config.mqtt import MqttSettings
from firmware.mqtt.publisher import Publisher
from firmware.mqtt.service import MqttService
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter
from tests.mqtt_broker import Collector, Mosquitto, Received

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]
DEVICE = "dev1"
FAST = {
    "enabled": True, "host": "127.0.0.1", "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "keepalive_s": 5,
    "state_min_interval_s": 0.05, "publish_timeout_s": 5.0,
}
SUMMARY = {"schema": "presspoint.session/1", "outcome": "completed"}


@dataclass
class Device:
    writer: StoreWriter
    publisher: Publisher
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.publisher.request_stop()
        async with asyncio.timeout(10):
            await self.task


@contextlib.asynccontextmanager
async def running_device(state: Path, port: int, **settings: Any) -> AsyncIterator[Device]:
    topics = Topics(DEVICE)
    writer = StoreWriter(state / "state.db", topics=topics, outbox_max_messages=10_000)
    writer.start()
    publisher = Publisher(MqttSettings(**{**FAST, "port": port, **settings}), topics, writer, firmware_version="9.9")
    device = Device(writer, publisher, asyncio.create_task(publisher.run()))
    try:
        yield device
    finally:
        if not device.task.done():
            await device.stop()
        writer.close()


def feed(writer: StoreWriter, sid: str, seconds: float, start_s: float = 0.0) -> int:
    """Write ``seconds`` of an 80 Hz session (an event each second); returns the sample count."""
    n0, n1 = round(start_s * 80), round((start_s + seconds) * 80)
    for i in range(n0, n1):
        t = i / 80
        if i % 80 == 0:
            writer.event(sid, {"type": "phase", "t": t, "phase": "hold", "repetition": 1})
        writer.sample(sid, t, 20.0 + (i % 7) * 0.1, 4000 + i)
    return n1 - n0


def finish(writer: StoreWriter, sid: str, **extra: Any) -> bytes:
    summary = json.dumps({**SUMMARY, "session_id": sid, **extra}).encode()
    writer.session_finished(sid, summary, "completed").result(5)
    return summary


def session_stream(messages: list[Received], sid: str) -> list[tuple[int, str, bytes]]:
    """First copy of each session message, in arrival order: (seq, kind, payload).

    Duplicates are dropped by ``msg_id`` (v5 user property or JSON envelope).
    Over MQTT 3.1.1 the summary has neither (it is the core's JSON as is): its
    duplicate key is the session id, and its seq is taken as "after the rest".
    """
    seen: set[str] = set()
    out: list[tuple[int, str, bytes]] = []
    for m in messages:
        if f"/session/{sid}/" not in m.topic:
            continue
        kind = m.topic.rsplit("/", 1)[1]
        if "msg_id" in m.props:
            msg_id, seq = m.props["msg_id"], int(m.props["seq"])
        elif kind == "summary":
            msg_id, seq = f"summary/{sid}", (out[-1][0] + 1 if out else 1)
        else:
            envelope = json.loads(m.payload)
            msg_id, seq = envelope["msg_id"], int(envelope["seq"])
        if msg_id not in seen:
            seen.add(msg_id)
            out.append((seq, kind, m.payload))
    return out


def assert_complete_in_order(stream: list[tuple[int, str, bytes]], samples: int, events: int) -> None:
    seqs = [s for s, _, _ in stream]
    assert seqs == sorted(seqs), f"reordered: {seqs}"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap in {seqs}"
    batches = [SamplesBatch.model_validate_json(p) for _, k, p in stream if k == "samples"]
    assert sum(b.n for b in batches) == samples
    times = [t for b in batches for t in b.times()]
    assert times == sorted(times) and len(set(times)) == samples
    assert sum(1 for _, k, _ in stream if k == "event") == events
    assert stream[-1][1] == "summary"


def has_summary(sid: str) -> Callable[[list[Received]], bool]:
    return lambda ms: any(m.topic.endswith(f"/session/{sid}/summary") for m in ms)


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_round_trip_of_every_topic(
    mosquitto: Mosquitto, tmp_path: Path, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="presspoint")
    async with (
        Collector(mosquitto.port, ["presspoint/#", "homeassistant/#"]) as sub,
        running_device(tmp_path, mosquitto.port, protocol=protocol) as dev,
    ):
        got: list[bytes] = []
        dev.publisher.subscribe("presspoint/dev1/plan/set", lambda m: got.append(bytes(m.payload)))

        def explode(_: object) -> None:
            raise ValueError("handler bug")

        dev.publisher.subscribe("presspoint/dev1/plan/set", explode)
        await sub.wait_for(lambda ms: any(m.topic.endswith("/status") and m.payload == b"online" for m in ms))
        dev.publisher.update_status(session_id="s1", phase="hold", force_n=21.5)
        await sub.wait_for(lambda ms: any(  # latest-value state: wait before it changes again
            m.topic.endswith("/status/info") and json.loads(m.payload)["session_id"] == "s1" for m in ms))
        dev.writer.session_started("s1")
        samples = feed(dev.writer, "s1", 3.0)
        summary = finish(dev.writer, "s1")
        dev.publisher.update_status(session_id=None, phase=None, last_session_id="s1", last_outcome="completed")
        await sub.wait_for(has_summary("s1"))
        stream = session_stream(sub.messages, "s1")
        assert_complete_in_order(stream, samples, events=3)
        assert sub.on("/session/s1/summary")[-1].payload == summary

        events = [EventMessage.model_validate_json(m.payload) for m in sub.on("/session/s1/event")]
        assert [e.index for e in events] == [0, 1, 2] and {e.device_id for e in events} == {DEVICE}
        if protocol == "5":
            assert sub.on("/summary")[-1].props["seq"] == str(stream[-1][0])  # v5 user properties

        await sub.wait_for(lambda ms: any(
            m.topic.endswith("/status/info") and json.loads(m.payload)["last_outcome"] == "completed" for m in ms))
        infos = [DeviceStatus.model_validate_json(m.payload) for m in sub.on("/status/info")]
        assert any(i.session_id == "s1" and i.phase == "hold" and i.force_n == 21.5 for i in infos)
        assert infos[-1].firmware_version == "9.9" and infos[-1].last_session_id == "s1"

        configs = [m for m in sub.messages if m.topic.startswith("homeassistant/sensor/dev1/")]
        assert {m.topic.split("/")[3] for m in configs} == {"force", "phase", "last_outcome"}
        # Home Assistant restarts: discovery is sent again; garbage there changes nothing.
        async with Collector(mosquitto.port, []) as other:
            del other
        await _publish(mosquitto.port, "homeassistant/status", b"\xff\xfenot utf8")
        await _publish(mosquitto.port, "homeassistant/status", b"online")
        await sub.wait_for(lambda ms: sum(m.topic.endswith("/force/config") for m in ms) >= 2)
        # Incoming messages reach handlers; a failing handler is logged, not fatal.
        await _publish(mosquitto.port, "presspoint/dev1/plan/set", b"{not json")
        await _wait(lambda: got == [b"{not json"])
        assert "not handled: handler bug" in caplog.text
        late: list[str] = []  # a handler added while connected is subscribed at once
        dev.publisher.subscribe("presspoint/dev1/plan/late", lambda m: late.append(str(m.topic)))
        await _wait(lambda: "\tpresspoint/dev1/plan/late (QoS 1)" in broker_subscriptions(mosquitto))
        await _publish(mosquitto.port, "presspoint/dev1/plan/late", b"x")
        await _wait(lambda: late == ["presspoint/dev1/plan/late"])

        await dev.stop()
        await sub.wait_for(lambda ms: ms[-1].topic.endswith("/status") and ms[-1].payload == b"offline")
    assert dev.writer.pending() == 0


async def test_broker_restart_mid_session_loses_nothing(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="presspoint")
    async with (
        Collector(mosquitto.port, ["presspoint/dev1/session/#"]) as sub,
        running_device(tmp_path, mosquitto.port) as dev,
    ):
        dev.writer.session_started("s2")
        samples = feed(dev.writer, "s2", 4.0)
        await sub.wait_for(lambda ms: len(ms) >= 3)
        # A burst, and the broker goes away while it is being sent.
        for i in range(300):
            dev.writer.event("s2", {"type": "cue", "t": 4.0 + i / 1000, "cue": "breath"})
        await asyncio.wrap_future(dev.writer.flush())
        mosquitto.stop(signal.SIGTERM)
        samples += feed(dev.writer, "s2", 3.0, start_s=4.0)  # written while the broker is down
        await asyncio.wrap_future(dev.writer.flush())
        assert dev.writer.pending() > 0
        mosquitto.start()
        samples += feed(dev.writer, "s2", 2.0, start_s=7.0)
        finish(dev.writer, "s2")
        await sub.wait_for(has_summary("s2"), 15)
        assert_complete_in_order(session_stream(sub.messages, "s2"), samples, events=4 + 300 + 3 + 2)
        assert await _eventually(lambda: dev.writer.pending() == 0)
    assert "connection to mqtt://127.0.0.1" in caplog.text and "lost" in caplog.text
    assert "reconnected to" in caplog.text


async def test_broker_down_for_the_whole_session(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="presspoint")
    async with Collector(mosquitto.port, ["presspoint/dev1/session/#"]) as sub:
        mosquitto.stop(signal.SIGTERM)  # the broker keeps the subscriber's session on disk
        async with running_device(tmp_path, mosquitto.port) as dev:
            dev.writer.session_started("s3")
            samples = feed(dev.writer, "s3", 10.0)
            finish(dev.writer, "s3")
            report = await dev.publisher.flush(0.5)
            assert report.sent == 0 and report.left == 21 and not report.connected
            assert report.problem is not None and "unreachable" in report.problem
            assert "left unsent" in report.describe("mqtt://x")
            await _eventually(lambda: caplog.text.count("still cannot connect") >= 2)
            mosquitto.start()
            report = await dev.publisher.flush(10)
            assert (report.sent, report.left) == (21, 0)
            await sub.wait_for(has_summary("s3"))
            assert_complete_in_order(session_stream(sub.messages, "s3"), samples, events=10)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "cannot connect" in r.message]
    assert len(warnings) == 1, "one warning per outage, not one per attempt"


async def test_sigkill_mid_session_is_published_as_interrupted(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    async with Collector(mosquitto.port, ["presspoint/dev1/#"]) as sub:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mqtt_kill_writer", str(state), str(mosquitto.port), DEVICE, "k1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(20):
                line = await asyncio.to_thread(proc.stdout.readline)
            assert line.strip() == b"ready", proc.stderr.read().decode() if proc.stderr else ""
            await sub.wait_for(lambda ms: any("/session/k1/samples" in m.topic for m in ms))
            proc.send_signal(signal.SIGKILL)  # mid-session, while it writes
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        await sub.wait_for(lambda ms: ms[-1].topic.endswith("/status") and ms[-1].payload == b"offline")
        assert not any("/summary" in m.topic for m in sub.messages)

        device = DeviceConfig.model_validate({"device_id": DEVICE, "storage": {"state_dir": str(state)}})
        service = MqttService(device, MqttSettings(**{**FAST, "port": mosquitto.port}))
        assert service.start() == ["k1"]
        try:
            await sub.wait_for(has_summary("k1"), 15)
            report = await asyncio.to_thread(service.flush, 10)
            assert report.left == 0
        finally:
            await asyncio.to_thread(service.close)
    stream = session_stream(sub.messages, "k1")
    summary = json.loads(stream[-1][2])
    assert summary["outcome"] == "interrupted" and summary["session_id"] == "k1"
    batches = [SamplesBatch.model_validate_json(p) for _, k, p in stream if k == "samples"]
    assert summary["samples"] == sum(b.n for b in batches) >= 5 * 80  # whole seconds committed before "ready"
    assert summary["holds"] and summary["holds"][-1]["outcome"] == "interrupted"
    assert_complete_in_order(stream, summary["samples"], events=sum(1 for _, k, _ in stream if k == "event"))
    assert json.loads(stream[-2][2])["event"]["type"] == "interrupted"


READER = "\nuser reader\ntopic read #\n"
ACL_DENY = (
    "user dev\ntopic readwrite presspoint/dev1/status\ntopic readwrite presspoint/dev1/status/info\n"
    "topic readwrite homeassistant/#\n" + READER
)
ACL_ALLOW = "user dev\ntopic readwrite presspoint/dev1/#\ntopic readwrite homeassistant/#\n" + READER


async def test_acl_denial_is_a_clear_error_and_nothing_is_lost(
    mosquitto_factory: Callable[..., Mosquitto], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="presspoint")
    broker = mosquitto_factory(users={"dev": "devpw", "reader": "readpw"}, acl=ACL_DENY)
    async with (
        Collector(broker.port, ["presspoint/dev1/session/#"], username="reader", password="readpw") as sub,
        running_device(tmp_path, broker.port, username="dev", password="devpw") as dev,
    ):
        dev.writer.session_started("s5")
        samples = feed(dev.writer, "s5", 2.0)
        finish(dev.writer, "s5")
        await _eventually(lambda: "refused publish" in caplog.text)
        report = await dev.publisher.flush(0.3)
        assert report.left == 5 and report.sent == 0 and "Not authorized" in (report.problem or "")
        assert sub.messages == []
        broker.set_acl(ACL_ALLOW)  # the admin fixes the ACL; Mosquitto reloads it on SIGHUP
        await sub.wait_for(has_summary("s5"), 15)
        assert_complete_in_order(session_stream(sub.messages, "s5"), samples, events=2)
        assert (await dev.publisher.flush(5)).left == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "refused publish to 'presspoint/dev1/session/s5/" in errors[0]
    assert "Not authorized (reason 135)" in errors[0] and "check the broker ACL for user 'dev'" in errors[0]
    assert "accepts publishes again" in caplog.text
    assert "devpw" not in caplog.text


async def test_tls_with_a_test_ca_and_client_certificate(
    mosquitto_factory: Callable[..., Mosquitto], test_pki: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="presspoint")
    broker = mosquitto_factory(pki=test_pki, require_certificate=True)
    tls = ssl.create_default_context(cafile=str(test_pki.ca_cert))
    tls.load_cert_chain(str(test_pki.client_cert), str(test_pki.client_key))
    certs = {"tls": True, "ca_file": test_pki.ca_cert, "cert_file": test_pki.client_cert,
             "key_file": test_pki.client_key}
    async with (
        Collector(broker.port, ["presspoint/dev1/session/#"], tls=tls) as sub,
        running_device(tmp_path / "good", broker.port, **certs) as dev,
    ):
        dev.writer.session_started("s6")
        samples = feed(dev.writer, "s6", 2.0)
        finish(dev.writer, "s6")
        await sub.wait_for(has_summary("s6"))
        assert_complete_in_order(session_stream(sub.messages, "s6"), samples, events=2)
    assert "MQTT connected to mqtts://127.0.0.1" in caplog.text

    untrusted = {**certs, "ca_file": test_pki.other_ca_cert}
    async with running_device(tmp_path / "bad", broker.port, **untrusted) as dev:
        dev.writer.session_started("s7")
        feed(dev.writer, "s7", 1.0)
        await _eventually(lambda: "not trusted" in caplog.text)
        report = await dev.publisher.flush(0.2)
        assert report.left == 1 and report.sent == 0 and not report.connected  # the event; the batch is open
    line = next(r.getMessage() for r in caplog.records if "not trusted" in r.getMessage())
    assert "CERTIFICATE_VERIFY_FAILED" in line and "check mqtt.ca_file" in line and "\n" not in line


async def test_wrong_password_is_a_clear_error(
    mosquitto_factory: Callable[..., Mosquitto], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="presspoint")
    broker = mosquitto_factory(users={"dev": "right-pw"})
    async with running_device(tmp_path, broker.port, username="dev", password="wrong-pw-123") as dev:
        dev.writer.session_started("s8")
        feed(dev.writer, "s8", 1.0)
        await _eventually(lambda: caplog.text.count("still cannot connect") >= 2)
        report = await dev.publisher.flush(0.1)
        assert report.left == 1 and report.sent == 0 and not report.connected  # the event; the batch is open
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "refused the login" in errors[0] and "Not authorized" in errors[0] and "username 'dev'" in errors[0]
    assert "wrong-pw-123" not in caplog.text


# ------------------------------------------------------------------ helpers


def broker_subscriptions(broker: Mosquitto) -> str:
    """Mosquitto logs each SUBSCRIBE's filters as "<time>: \t<filter> (QoS n)" (log_type all)."""
    return broker.log_text()


async def _publish(port: int, topic: str, payload: bytes) -> None:
    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port, identifier=f"poke-{os.getpid()}") as client:
        await client.publish(topic, payload, qos=1)


async def _eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll a condition on real I/O progress (bounded); fails the test on timeout."""
    await _wait(condition, timeout_s)
    return True


async def _wait(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
