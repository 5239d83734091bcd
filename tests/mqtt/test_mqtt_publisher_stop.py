"""``Publisher.request_stop`` ends ``run`` promptly in every state.

Regression tests for a CI failure under load: the stop's cancel reached the
publisher's state loop in the same loop iteration as the thing it was waiting
for, ``asyncio.wait_for`` (Python 3.11) swallowed it, the loop ran on and
``run`` waited for it for ever.  Each test puts the publisher into one state
with a scripted broker (a plain asyncio server: silent, or answering just
enough MQTT 3.1.1), asks it to stop and gives it ``STOP_WITHIN_S``; without the
fix these took 5 s (TLS connect timeout), 30 s (the publish timeout then) or
for ever.  Waits are bounded and on real I/O; nothing sleeps for timing.  Every
timeout a stuck stop could end on is set far above ``STOP_WITHIN_S`` (``SLOW``),
which is itself far above what a stop takes on a loaded machine; the TLS connect
timeout (paho's, fixed at 5 s) is told apart by order instead: a prompt stop
leaves while the abandoned handshake still holds the connection.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from config.mqtt import MqttSettings
from firmware.mqtt.publisher import Publisher
from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter
from tests.mqtt_broker import Collector, Mosquitto, Pki, free_port

pytestmark = pytest.mark.asyncio

DEVICE = "dev1"
TOPICS = Topics(DEVICE)
#: A stop may take STOP_GRACE_S + a cancel wait (4 s) by design: this is five times that, and
#: far below every timeout in ``SLOW`` (a backoff of at least 30 s, publish and connect 600 s).
STOP_WITHIN_S = 20.0
#: Long enough that no timeout in the publisher ends a wait in these tests.
SLOW = {
    "enabled": True, "host": "127.0.0.1", "protocol": "3.1.1", "keepalive_s": 600, "publish_timeout_s": 600.0,
    "reconnect_min_s": 60.0, "reconnect_max_s": 600.0, "state_min_interval_s": 600.0,
}

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 1, 2, 3, 4, 8, 9, 12, 13, 14


@dataclass(frozen=True)
class Packet:
    kind: int
    topic: str = ""
    payload: bytes = b""


class ScriptedBroker:
    """A TCP server on loopback that accepts connections and answers only what it is told to.

    ``mqtt=False``: reads bytes and never answers (a dead broker, or a TLS
    handshake that never completes).  ``mqtt=True``: parses MQTT 3.1.1 and
    answers CONNECT if ``connack``, SUBSCRIBE if ``suback``, and a QoS 1
    PUBLISH only if ``puback(topic)``; it closes the connection on a PUBLISH
    that ``hang_up(packet)`` picks, after its PUBACK if ``ack_before_hang_up``.  Records what arrived and whether the
    client hung up, and lets a test wait (bounded) for either.
    """

    def __init__(self, *, mqtt: bool = True, connack: bool = True, suback: bool = True,
                 puback: Callable[[str], bool] = lambda _topic: True,
                 hang_up: Callable[[Packet], bool] = lambda _packet: False, ack_before_hang_up: bool = False) -> None:
        self.mqtt = mqtt
        self.connack = connack
        self.suback = suback
        self.puback = puback
        self.hang_up = hang_up
        self.ack_before_hang_up = ack_before_hang_up
        self.raw_bytes = 0
        self.packets: list[Packet] = []
        self.hung_up = 0
        self.port = 0
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> ScriptedBroker:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()  # also ends a TLS handshake still blocked in the client's connect thread
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_for(self, predicate: Callable[[ScriptedBroker], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    def published(self, topic: str) -> list[bytes]:
        return [p.payload for p in self.packets if p.kind == PUBLISH and p.topic == topic]

    def _note(self) -> None:
        self._changed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                if not self.mqtt:
                    data = await reader.read(4096)
                    if not data:
                        break
                    self.raw_bytes += len(data)
                    self._note()
                    continue
                header = await reader.readexactly(1)
                length, shift = 0, 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length)
                self._answer(header[0] >> 4, header[0] & 0x0F, body, writer)
                await writer.drain()
                if self.packets and self.hang_up(self.packets[-1]):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.hung_up += 1
            self._note()
            writer.close()

    def _answer(self, kind: int, flags: int, body: bytes, writer: asyncio.StreamWriter) -> None:
        if kind == PUBLISH:
            n = int.from_bytes(body[:2], "big")
            topic = body[2:2 + n].decode()
            qos = (flags >> 1) & 3
            rest = body[2 + n:]
            packet_id, payload = (rest[:2], rest[2:]) if qos else (b"", rest)
            packet = Packet(PUBLISH, topic, payload)
            self.packets.append(packet)
            if qos and self.puback(topic) and (self.ack_before_hang_up or not self.hang_up(packet)):
                writer.write(bytes([PUBACK << 4, 2]) + packet_id)
        else:
            self.packets.append(Packet(kind))
            if kind == CONNECT and self.connack:
                writer.write(bytes([CONNACK << 4, 2, 0, 0]))
            elif kind == SUBSCRIBE and self.suback:
                filters, i = 0, 2
                while i < len(body):
                    i += 2 + int.from_bytes(body[i:i + 2], "big") + 1
                    filters += 1
                writer.write(bytes([SUBACK << 4, 2 + filters]) + body[:2] + bytes([1]) * filters)
            elif kind == PINGREQ:
                writer.write(bytes([PINGRESP << 4, 0]))
        self._note()


@dataclass
class Running:
    publisher: Publisher
    writer: StoreWriter
    task: asyncio.Task[None]

    async def stop(self, *, from_thread: bool = False) -> float:
        """Ask for the stop and return how long ``run`` took to end; fails past ``STOP_WITHIN_S``."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if from_thread:  # as MqttService.close() does, from the session's thread
            thread = threading.Thread(target=self.publisher.request_stop)
            thread.start()
            thread.join(5)
        else:
            self.publisher.request_stop()
        try:
            async with asyncio.timeout(STOP_WITHIN_S):
                await asyncio.shield(self.task)
        except TimeoutError:
            pytest.fail(f"run() did not end within {STOP_WITHIN_S} s of request_stop()")
        return loop.time() - started


@pytest_asyncio.fixture
async def start(tmp_path: Path) -> AsyncIterator[Callable[..., Running]]:
    """``start(port, **settings)`` runs a publisher on a fresh store; all are stopped (bounded) after the test."""
    running: list[Running] = []

    def make(port: int, **settings: Any) -> Running:
        writer = StoreWriter(tmp_path / f"state{len(running)}.db", topics=TOPICS, outbox_max_messages=1000)
        writer.start()
        publisher = Publisher(MqttSettings(**{**SLOW, "port": port, **settings}), TOPICS, writer,
                              firmware_version="9.9")
        run = Running(publisher, writer, asyncio.create_task(publisher.run(), name="test-publisher"))
        running.append(run)
        return run

    yield make
    for run in running:
        run.publisher.request_stop()
        if not run.task.done():
            run.task.cancel()
        await asyncio.gather(run.task, return_exceptions=True)
        run.writer.close()


@pytest.fixture
def loop_errors(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Errors the event loop logged (``Exception in callback``, ``Future exception was never retrieved``).

    Collected garbage first, at the start and when asked: a future left with an
    unread exception is reported only when it is collected, and so by the test
    that made it, not by whichever test happens to run when the collector does.
    """
    gc.collect()
    caplog.set_level(logging.DEBUG)

    def errors() -> list[str]:
        gc.collect()
        return [r.getMessage() for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]

    return errors


async def test_stop_before_run_started(start: Callable[..., Running]) -> None:
    dev = start(free_port())
    dev.publisher.request_stop()  # the task has not run a single step yet
    await dev.stop()


@pytest.mark.parametrize("from_thread", [False, True], ids=["same-thread", "other-thread"])
async def test_stop_while_the_broker_never_answers_connect(
    start: Callable[..., Running], loop_errors: Callable[[], list[str]], from_thread: bool
) -> None:
    async with ScriptedBroker(connack=False) as broker:
        dev = start(broker.port)
        await broker.wait_for(lambda b: any(p.kind == CONNECT for p in b.packets))
        await dev.stop(from_thread=from_thread)
        await broker.wait_for(lambda b: b.hung_up == 1, STOP_WITHIN_S)  # the socket is closed, not leaked
        assert not any(p.kind == DISCONNECT for p in broker.packets)  # dropped: the broker sends the will
        assert not dev.publisher.connected
    assert loop_errors() == []


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
async def test_stop_during_the_tls_handshake(
    start: Callable[..., Running], test_pki: Pki, loop_errors: Callable[[], list[str]], protocol: str
) -> None:
    async with ScriptedBroker(mqtt=False) as broker:  # takes the ClientHello, never answers it
        dev = start(broker.port, protocol=protocol, tls=True, ca_file=test_pki.ca_cert,
                    cert_file=test_pki.client_cert, key_file=test_pki.client_key)
        await broker.wait_for(lambda b: b.raw_bytes > 0)  # the handshake blocks in the connect thread now
        await dev.stop()
        assert broker.hung_up == 0  # it left the handshake behind, not waiting for its 5 s connect timeout
    # Leaving the broker closed the connection: the abandoned handshake fails and its thread ends.
    assert loop_errors() == []


async def test_stop_while_the_online_publish_waits_for_its_puback(
    start: Callable[..., Running], loop_errors: Callable[[], list[str]]
) -> None:
    async with ScriptedBroker(puback=lambda _topic: False) as broker:
        dev = start(broker.port)
        await broker.wait_for(lambda b: b.published(TOPICS.status) == [b"online"])
        await dev.stop()
        await broker.wait_for(lambda b: b.hung_up == 1, STOP_WITHIN_S)
        assert not any(p.kind == DISCONNECT for p in broker.packets)
    assert loop_errors() == []


async def test_stop_while_publishes_wait_for_pubacks_that_never_come(
    start: Callable[..., Running], loop_errors: Callable[[], list[str]]
) -> None:
    """Connected and running, the broker takes the session's messages and never acknowledges them."""
    async with ScriptedBroker(puback=lambda topic: topic == TOPICS.status) as broker:
        dev = start(broker.port)
        dev.writer.session_started("s1")
        for i in range(20):
            dev.writer.event("s1", {"type": "phase", "t": i / 10, "phase": "hold", "repetition": 1})
        # A window of publishes out (the unacknowledged discovery config holds one slot).
        await broker.wait_for(lambda b: sum("/session/s1/" in p.topic for p in b.packets) >= 5)
        await dev.stop()
        # Stopped cleanly: offline said, then DISCONNECT; the messages stay in the outbox.
        assert broker.published(TOPICS.status) == [b"online", b"offline"]
        await broker.wait_for(lambda b: any(p.kind == DISCONNECT for p in b.packets), STOP_WITHIN_S)
        assert dev.writer.pending() == 20 and dev.publisher.sent == 0
    assert loop_errors() == []


@pytest.mark.parametrize("acked", [False, True], ids=["instead-of-the-puback", "after-the-puback"])
async def test_stop_while_the_broker_hangs_up_on_the_offline_publish(
    start: Callable[..., Running], loop_errors: Callable[[], list[str]], acked: bool
) -> None:
    """The connection is lost while the stop says offline and disconnects: nothing is left half-done.

    Instead of the PUBACK: aiomqtt keeps the lost connection's error in a
    future that only the message iterator reads; the stop has cancelled that
    already, and leaving the ``async with`` returns early on a closed
    connection, so unless the adapter reads it the loop logs "Future exception
    was never retrieved".  After the PUBACK: the DISCONNECT's writer is
    registered a loop pass later, after the hang-up closed the socket, unless
    the adapter checks the socket is still open ("Bad file descriptor").
    """
    async with ScriptedBroker(hang_up=lambda p: p.kind == PUBLISH and p.payload == b"offline",
                              ack_before_hang_up=acked) as broker:
        dev = start(broker.port)
        await broker.wait_for(lambda b: b.published(TOPICS.status_info) != [])  # connected and running
        await dev.stop()
        assert broker.published(TOPICS.status) == [b"online", b"offline"] and broker.hung_up == 1
    assert loop_errors() == []


async def test_stop_during_the_reconnect_backoff(start: Callable[..., Running]) -> None:
    dev = start(free_port())  # nobody listens: refused, then a backoff of at least 30 s
    async with asyncio.timeout(60):
        while dev.publisher.problem is None:  # set when the first attempt failed
            await asyncio.sleep(0.01)
    await dev.stop()


async def test_flush_returns_when_the_publisher_stops(start: Callable[..., Running]) -> None:
    async with ScriptedBroker(connack=False) as broker:
        dev = start(broker.port)
        dev.writer.session_started("s1")
        dev.writer.event("s1", {"type": "phase", "t": 0.0, "phase": "hold", "repetition": 1})
        flush = asyncio.create_task(dev.publisher.flush(30))
        await broker.wait_for(lambda b: any(p.kind == CONNECT for p in b.packets))
        await dev.stop()
        async with asyncio.timeout(STOP_WITHIN_S):
            report = await flush
        assert report.left == 1 and report.sent == 0 and not report.connected


@pytest.mark.broker
async def test_stop_in_the_same_tick_as_a_state_update(
    mosquitto: Mosquitto, start: Callable[..., Running], loop_errors: Callable[[], list[str]]
) -> None:
    """The race from CI, made deterministic: the stop and a wake-up of the state loop in one tick.

    The state loop waits for a status change; ``request_stop`` then
    ``update_status`` set both events in one loop iteration, so the state
    loop's wait completes just as the stop cancels it.  ``asyncio.wait_for``
    (Python 3.11) returned the result and dropped the cancel, the loop went on
    and ``run`` waited for it for ever.  In CI a PUBACK did what
    ``update_status`` does here.
    """
    async with Collector(mosquitto.port, [f"{TOPICS.base}/#"]) as sub:
        dev = start(mosquitto.port, protocol="5")
        await sub.wait_for(lambda ms: any(m.topic == TOPICS.status_info for m in ms))
        # One outbox message through, after status/info: its PUBACK came in order after
        # status/info's, so the state loop is past that publish and waits for a change.
        dev.writer.session_started("s1")
        dev.writer.event("s1", {"type": "phase", "t": 0.0, "phase": "hold", "repetition": 1})
        assert (await dev.publisher.flush(10)).left == 0
        dev.publisher.request_stop()
        dev.publisher.update_status(phase="hold")
        await dev.stop()
        await sub.wait_for(lambda ms: ms[-1].topic == TOPICS.status and ms[-1].payload == b"offline")
        infos = [json.loads(m.payload) for m in sub.messages if m.topic == TOPICS.status_info]
        assert infos and infos[-1]["phase"] is None  # the update was not sent after the stop
    assert loop_errors() == []
