"""Publishes the outbox to an MQTT broker, for ever, without ever holding up a session.

``Publisher`` composes the parts: ``connection`` (clients, reconnect with
backoff), ``drain`` (the outbox, refusals), ``status`` (retained state, will,
discovery) and ``routing`` (incoming messages).  It owns the one thing they
share: a stop that ends ``run`` within ``STOP_GRACE_S`` in every state.
Design notes: ``docs/mqtt.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

import aiomqtt

from config.mqtt import MqttSettings
from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.connection import (
    DEVICE_MAX_PACKET_BYTES,
    DEVICE_MAX_QUEUED_MESSAGES,
    Backoff,
    BrokerConnection,
    reconnect_forever,
)
from firmware.mqtt.drain import OutboxDrain, OutboxSource
from firmware.mqtt.link import LinkState
from firmware.mqtt.live import LiveChunks
from firmware.mqtt.routing import MessageHandler, Router
from firmware.mqtt.status import DeviceState
from firmware.mqtt.takeover import TakeoverDetector
from firmware.mqtt.tasks import cancel_and_wait
from firmware.protocol.topics import Topics

log = logging.getLogger("presspoint.mqtt")

#: The longest ``run`` takes to return after ``request_stop`` to say ``offline``
#: and disconnect cleanly; after it the connection is dropped (the will says ``offline``).
STOP_GRACE_S = 3.0
#: Of that, the longest the ``offline`` publish may wait for its PUBACK.
_OFFLINE_TIMEOUT_S = 2.0
#: How long cancelled tasks get to finish before they are left behind (they never should).
_CANCEL_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class FlushReport:
    """What ``flush`` achieved: messages acknowledged by the broker, and still waiting."""

    sent: int
    left: int
    connected: bool
    problem: str | None = None

    def describe(self, broker: str) -> str:
        if self.left == 0:
            return f"MQTT: {self.sent} messages published to {broker}, none left"
        why = f" ({self.problem})" if self.problem else ""
        return (
            f"MQTT: {self.sent} messages published to {broker}; {self.left} left unsent{why}; "
            "they stay in the outbox and go out at the next connection"
        )


class _ConnectionLost(Exception):
    pass


class Publisher:
    """The MQTT side of the device: one task, ``await publisher.run()``."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: Topics,
        source: OutboxSource,
        *,
        firmware_version: str,
        calibrated: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.topics = topics
        self._source = source
        self._connection = BrokerConnection(settings)  # fails early on the password or TLS files
        self.broker = self._connection.broker
        self._rng = rng or random.Random()
        self._state = DeviceState(settings, topics, source, firmware_version=firmware_version, calibrated=calibrated)
        self._drain = OutboxDrain(settings, source, rng=self._rng, on_accepted_again=self._state.forget_refusals)
        self._router = Router(topics.ha_status, self._state.rediscover, subscribe_ha=settings.ha_discovery,
                              max_payload_bytes=DEVICE_MAX_PACKET_BYTES)
        self._link = LinkState(settings, source.pending)
        self.live = LiveChunks(topics)  # ``live.sample(...)``: thread-safe, never stored
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None  # made in run(), on the loop that runs it
        self._client: AdaptedClient | None = None  # connected and subscribed: subscribe() may use it
        self._current: AdaptedClient | None = None  # the connection being made or used, if any
        self._session_live = False  # connected and running: a stop then says offline itself
        self._background: set[asyncio.Task[None]] = set()
        self._backoff = Backoff.from_settings(settings, self._rng)
        self.takeover = TakeoverDetector()  # .count: times another client with our client id took over

    # -- public API -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._link.connected

    @property
    def sent(self) -> int:
        """Messages the broker acknowledged since this publisher was made."""
        return self._drain.sent

    @property
    def problem(self) -> str | None:
        """Why messages are not going out right now, or None."""
        return self._drain.refused or (None if self._link.connected else self._link.problem)

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Call ``handler(message)`` for every message on ``topic_filter`` (QoS 1).

        Subscribed on every connect, and at once if connected now.  The
        handler runs on the publisher's loop (its own thread under
        ``MqttService``): hand work to the session loop with
        ``call_soon_threadsafe``.  A handler that raises is logged in one
        line; it never stops the publisher.  Thread-safe.
        """
        self._router.add(topic_filter, handler)
        loop, client = self._loop, self._client
        if loop is not None and client is not None:

            def start() -> None:
                task = loop.create_task(self._subscribe_now(client, topic_filter))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(start)

    async def _subscribe_now(self, client: AdaptedClient, topic_filter: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # a lost connection re-subscribes on connect
            await client.subscribe(topic_filter, qos=1)

    def set_retained(self, topic: str, payload: bytes | None) -> None:
        """Latest-value state on ``topic`` (retained, QoS 1, sent at each connect; ``None`` clears it); thread-safe."""
        self._state.set_retained(topic, payload)

    def update_status(self, **fields: Any) -> None:
        """Change fields of the retained ``status/info`` JSON; cheap and thread-safe.

        Fields: calibrated, session_id, phase, force_n, last_session_id,
        last_outcome.  The JSON goes out at most every ``state_min_interval_s``.
        """
        self._state.update_status(**fields)

    def request_stop(self) -> None:
        """Thread-safe: make ``run`` say ``offline``, disconnect and return (within ``STOP_GRACE_S``).

        Works in every state, also before ``run`` started (it then returns at once).
        """
        self._stop_requested = True  # before reading _loop/_stopping: run() sets those, then reads this
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: run() is over
                loop.call_soon_threadsafe(stopping.set)

    async def flush(self, timeout_s: float) -> FlushReport:
        """Wait until everything stored so far is published, at most ``timeout_s``.

        Returns early once the publisher is stopping (nothing more goes out then).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await asyncio.wrap_future(self._source.flush())
        while self._source.pending() > 0:
            if deadline - loop.time() <= 0:
                break
            progress = self._drain.progress
            if progress is None or self._stop_requested:  # run() not started, or stopping: nothing will move
                break
            progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await progress.wait()
        return FlushReport(sent=self.sent, left=self._source.pending(), connected=self.connected, problem=self.problem)

    async def run(self) -> None:
        """Connect, publish and reconnect until ``request_stop``; then return within ``STOP_GRACE_S``.

        The work runs in a child task and this one only waits for the stop:
        whatever the child is awaiting (a connect in an executor thread, a
        CONNACK or SUBACK that never comes, a PUBACK, a backoff), a stop ends it.
        Connected and running, the child says ``offline`` and disconnects by
        itself, given ``STOP_GRACE_S``; in any other state, or after that, the
        connection is dropped (the broker publishes the will) and the child
        cancelled.
        """
        loop = self._loop = asyncio.get_running_loop()
        stopping = self._stopping = asyncio.Event()
        self._drain.bind(loop, stopping)
        self._state.bind(loop)
        if self._stop_requested:  # asked before the event existed (maybe from another thread)
            return
        work = asyncio.create_task(self._connection_loop(), name="mqtt-connection")
        stop_wait = asyncio.create_task(stopping.wait(), name="mqtt-stop-request")
        try:
            await asyncio.wait([work, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and self._session_live:
                await asyncio.wait([work], timeout=STOP_GRACE_S)  # offline + DISCONNECT
                if not work.done():
                    log.warning(
                        "MQTT: no clean disconnect from %s within %g s; dropping the connection",
                        self.broker,
                        STOP_GRACE_S,
                    )
        finally:
            # Not connected and running (connecting, subscribing, in a backoff, ...),
            # past the grace, or run() itself cancelled: drop the connection, cancel.
            if not work.done():
                self._abandon_connection()
            left = await cancel_and_wait([work, stop_wait, *self._background], _CANCEL_WAIT_S)
            self._abandon_connection()  # a connection made while the cancel was on its way
            self._session_live = self._link.connected = False
            self._client = None
            assert self._drain.progress is not None
            self._drain.progress.set()  # a flush() waiting for progress: there will be none
            if left:
                log.error("MQTT publisher: %d tasks still running after the stop; left behind", len(left))
        log.debug("MQTT publisher stopped")
        failure = None if work.cancelled() or not work.done() else work.exception()
        if failure is not None:
            raise failure  # a bug in the publisher: not hidden by the stop

    # -- one connection after another -------------------------------------------------

    def _abandon_connection(self) -> None:
        client, self._current = self._current, None
        if client is not None:
            client.abandon()

    async def _connection_loop(self) -> None:
        """Connect, run the session, and reconnect with backoff, until the stop."""
        assert self._stopping is not None
        await reconnect_forever(self._connect_once, self._on_failure, self._stopping, self._backoff)

    async def _connect_once(self, backoff: Backoff) -> None:
        client = self._current = self._connection.client(
            self.settings.client_id or f"presspoint-{self.topics.device_id}",
            will=self._state.will(),
            logger=logging.getLogger("presspoint.mqtt.paho"),
            max_packet_bytes=DEVICE_MAX_PACKET_BYTES,
            max_queued_messages=DEVICE_MAX_QUEUED_MESSAGES,
        )
        self.takeover.connecting()
        try:
            async with client:
                self.takeover.connected()
                self._link.on_connected()
                backoff.reset()
                await self._connected_session(client)
            self._link.on_closed()
        except Exception as exc:
            if not self._stop_requested:
                self.takeover.raise_if_takeover(exc, client.disconnect_code)
            raise
        finally:
            self._session_live = False
            self._client = None
            if self._current is client:
                self._current = None

    def _on_failure(self, exc: Exception) -> bool:
        if isinstance(exc, _ConnectionLost):
            cause: BaseException = exc.__cause__ or exc
        elif isinstance(exc, aiomqtt.MqttError):
            cause = exc
        else:
            return False  # a bug: run() raises it
        if not self._stop_requested:
            self.takeover.back_off(cause, self._backoff)
        self._link.on_failure(cause, stopping=self._stop_requested)
        return True

    async def _connected_session(self, client: AdaptedClient) -> None:
        """Run while connected; returns on stop, raises on a lost connection."""
        assert self._stopping is not None
        slots = asyncio.Semaphore(self.settings.max_in_flight)
        await self._state.publish(client, slots, self.topics.status, b"online")
        self._client = client  # from here on, subscribe() subscribes at once (twice is harmless)
        for topic_filter in self._router.filters():
            await client.subscribe(topic_filter, qos=1)
        tasks = [
            asyncio.create_task(self._drain.run(client, slots), name="mqtt-drain"),
            asyncio.create_task(self._state.run(client, slots), name="mqtt-state"),
            asyncio.create_task(self._router.run(client), name="mqtt-receive"),
            asyncio.create_task(self.live.run(client), name="mqtt-live"),
        ]
        stop_wait = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
        self._session_live = True  # from here a stop is noticed below: run() lets us say offline
        try:
            done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._client = None
            # Cancelled again until done (bounded): one swallowed cancel must not hang the stop.
            await cancel_and_wait([*tasks, stop_wait], _CANCEL_WAIT_S)
        if stop_wait in done:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(_OFFLINE_TIMEOUT_S):
                    await self._state.publish(client, slots, self.topics.status, b"offline")
            return
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise _ConnectionLost() from task.exception()
        raise _ConnectionLost()
