"""Publishes the outbox to an MQTT broker, for ever, without ever holding up a session.

What it does, and why:

* **Reconnects for ever** with capped exponential backoff and full jitter
  (aiomqtt 2.x has no reconnect of its own).  It logs state *changes* only:
  connected, could not connect (once per distinct reason), lost, recovered.
* **Sends the outbox in ``seq`` order** with a bounded number of QoS 1
  publishes in flight (aiomqtt 2.5.1 warns and slows down above 10), and
  deletes a message only after ``publish`` returned, i.e. after PUBACK.
  TCP keeps the window in order; after a lost connection the unacknowledged
  tail is sent again (the consumer drops repeats by ``msg_id``).
* **Notices refusals.**  aiomqtt 2.5.1 ignores the MQTT v5 PUBACK reason code,
  so a publish the broker's ACL denies (reason 135) would look like success
  and the message would be deleted.  ``_CheckingClient`` records the reason
  code paho hands to ``on_publish``; a refused message is kept, a clear error
  is logged once, and the outbox is retried with backoff from that message.
  (MQTT 3.1.1 has no such code: there a denied publish is indistinguishable
  from success, which is one reason v5 is the default.)
* **Availability and state**: last will ``offline`` (retained) on ``status``;
  on connect ``online`` (retained), then the retained ``status/info`` JSON
  and the Home Assistant discovery configs, again whenever Home Assistant
  announces ``online`` on ``homeassistant/status``.  These are latest-value
  state, not history, so they bypass the outbox.
* **Never blocks the session**: the session loop only writes to the
  ``StoreWriter`` queue; this task (or ``PublisherThread``) reads the
  committed outbox.  Nothing here feeds back into a session decision.

* **Stops promptly, in every state.**  ``request_stop`` ends ``run`` within
  ``STOP_GRACE_S`` whatever it is doing: connecting (even inside a TLS
  handshake, which runs in an executor thread), subscribing, publishing,
  waiting out a backoff or flushing.  Connected and healthy, it says
  ``offline`` and disconnects cleanly (milliseconds); otherwise the connection
  is dropped without a DISCONNECT, so the broker publishes the last will
  ``offline`` instead.  Nothing here uses ``asyncio.wait_for`` on a path that
  can be cancelled: on Python 3.11 it swallows a cancellation that arrives in
  the same loop iteration as the awaited result (CPython gh-86296), and a task
  that swallowed the stop's cancel ran on for ever.  Tasks are cancelled with
  ``_cancel_and_wait``, which cancels again until they are done, bounded, in
  case a library call (aiomqtt uses ``wait_for``) swallows one.

``flush(timeout_s)`` waits (bounded) until the outbox is empty and reports
what was sent and what is left, for ``presspoint simulate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from aiomqtt.types import PahoSocket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from config.errors import one_line
from config.mqtt import MqttConfigError, MqttSettings
from firmware.protocol.payloads import DeviceStatus, utc_now_iso
from firmware.protocol.topics import Topics, ha_discovery_configs
from firmware.storage.outbox import Kind, OutboxMessage

log = logging.getLogger("presspoint.mqtt")

_JSON_KINDS = frozenset({Kind.EVENT, Kind.SAMPLES, Kind.SUMMARY, Kind.STATUS, Kind.DISCOVERY})
_AUTH_CODES = frozenset({4, 5, 134, 135})  # 3.1.1 bad credentials / not authorised; v5 same

#: The longest ``run`` takes to return after ``request_stop`` to say ``offline``
#: and disconnect cleanly; after it the connection is dropped (the will says ``offline``).
STOP_GRACE_S = 3.0
#: Of that, the longest the ``offline`` publish may wait for its PUBACK.
_OFFLINE_TIMEOUT_S = 2.0
#: How long cancelled tasks get to finish before they are left behind (they never should).
_CANCEL_WAIT_S = 1.0
#: A cancelled task still running after this is cancelled again (it swallowed the cancel).
_RECANCEL_EVERY_S = 0.05


class OutboxSource(Protocol):
    """What the publisher needs from the store (``StoreWriter`` implements it)."""

    async def peek(self, n: int, after_seq: int = 0) -> list[OutboxMessage]: ...

    async def ack(self, seqs: Sequence[int]) -> None: ...

    def pending(self) -> int: ...

    def dropped_batches(self) -> int: ...

    def add_listener(self, callback: Callable[[], None]) -> None: ...

    def flush(self) -> Future[None]: ...


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


class PublishRefused(Exception):
    """The broker answered a publish with a failure reason code (e.g. 135, ACL)."""

    def __init__(self, topic: str, reason: ReasonCode) -> None:
        super().__init__(f"{reason} (reason {reason.value})")
        self.topic = topic
        self.reason = reason


class Backoff:
    """Capped exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**n))``.

    Full jitter spreads a fleet's reconnects after a broker restart; the
    floor of ``base / 2`` keeps a single device from spinning.
    """

    def __init__(self, base_s: float, cap_s: float, rng: random.Random | None = None) -> None:
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng or random.Random()
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2**self._attempt))
        self._attempt = min(self._attempt + 1, 32)
        return max(self.base_s / 2, self._rng.uniform(0, ceiling))

    def reset(self) -> None:
        self._attempt = 0


class _CheckingClient(aiomqtt.Client):
    """aiomqtt client whose publish returns the broker's PUBACK reason code.

    aiomqtt 2.5.1 drops the reason code in ``_on_publish``; this subclass
    keeps failures per message id and ``publish_checked`` reports them.  It
    uses aiomqtt internals (``_client``, ``_pending_call``, ...), so it is
    tied to aiomqtt ``>=2.5.1,<3`` (pinned) and covered by the ACL test.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusals: dict[int, ReasonCode] = {}
        self._abandoned = False
        self._socket_lock = threading.Lock()  # the connect thread vs. abandon() on the loop

    def abandon(self) -> None:
        """Drop the connection now, without DISCONNECT, so the broker publishes the will.

        Loop thread only.  Also right for a connection still being made in
        the executor thread (TCP connect, TLS handshake), which cannot be
        interrupted: when it completes, the socket is closed at once.  The
        ``async with`` exit then sees a closed connection and returns at once.
        """
        with self._socket_lock:
            # Under the lock: a socket the connect thread has already handed to
            # the loop has its add_reader queued; closing after it (call_soon,
            # FIFO) unregisters it cleanly.  A later one is closed by the thread.
            self._abandoned = True
        self._loop.call_soon(self._drop_socket)
        if not self._disconnected.done():
            self._disconnected.set_result(None)

    def _drop_socket(self) -> None:
        with contextlib.suppress(Exception):
            self._client._sock_close()  # unregisters reader/writer, cancels the misc task

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: PahoSocket) -> None:
        with self._socket_lock:  # the executor thread (connect), or the loop
            if self._abandoned:
                with contextlib.suppress(Exception):
                    sock.close()
                return
            super()._on_socket_open(client, userdata, sock)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: PahoSocket) -> None:
        if not self._abandoned:
            super()._on_socket_register_write(client, userdata, sock)

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason_code.is_failure:
            self._refusals[mid] = reason_code
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_checked(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        properties: Properties | None,
        timeout: float,
    ) -> ReasonCode | None:
        """Publish and wait for the acknowledgement; returns a failure reason code or None."""
        info = self._client.publish(topic, payload, qos, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        self._refusals.pop(info.mid, None)  # a stale entry from an earlier use of this mid
        if not info.is_published():
            confirmation = asyncio.Event()
            with self._pending_call(info.mid, confirmation, self._pending_publishes):
                # asyncio.timeout, not aiomqtt's _wait_for (asyncio.wait_for): on
                # Python 3.11 that returns normally when a PUBACK and a cancel
                # arrive together, and the cancelled task then carries on.
                try:
                    async with asyncio.timeout(timeout):
                        await confirmation.wait()
                except TimeoutError:
                    raise aiomqtt.MqttError("Operation timed out") from None
        return self._refusals.pop(info.mid, None)


MessageHandler = Callable[[aiomqtt.Message], Awaitable[None] | None]


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
        self._firmware_version = firmware_version
        self._password = settings.resolve_password()  # fails early, with a clear line
        self._tls = _tls_context(settings) if settings.tls else None
        self._rng = rng or random.Random()
        self.broker = settings.display_url()
        self._handlers: list[tuple[str, MessageHandler]] = []
        self._retained: dict[str, bytes] = {}
        self._status: dict[str, Any] = {"calibrated": calibrated}
        self._status_version = 1
        self._stop_requested = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # asyncio objects are made in run(), on the loop that runs it.
        self._stopping: asyncio.Event | None = None
        self._new_data: asyncio.Event | None = None
        self._progress: asyncio.Event | None = None
        self._state_wakeup: asyncio.Event | None = None
        self._connected = False
        self._ever_connected = False
        self._down_since: float | None = None
        self._problem: str | None = None
        self._refused: str | None = None
        self._refusal_logged: set[str] = set()
        self._refusal_attempt = 0
        self._rediscover = True
        self._client: _CheckingClient | None = None  # connected and subscribed: subscribe() may use it
        self._current: _CheckingClient | None = None  # the connection being made or used, if any
        self._session_live = False  # connected and running: a stop then says offline itself
        self._background: set[asyncio.Task[None]] = set()
        self.sent = 0
        source.add_listener(self._on_new_data)

    # -- public API -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def problem(self) -> str | None:
        """Why messages are not going out right now, or None."""
        return self._refused or (None if self._connected else self._problem)

    def subscribe(self, topic_filter: str, handler: MessageHandler) -> None:
        """Call ``handler(message)`` for every message on ``topic_filter`` (QoS 1).

        Subscribed on every connect, and at once if connected now.  The
        handler runs on the publisher's loop (its own thread under
        ``MqttService``): hand work to the session loop with
        ``call_soon_threadsafe``.  A handler that raises is logged in one
        line; it never stops the publisher.  Thread-safe.
        """
        self._handlers.append((topic_filter, handler))
        loop, client = self._loop, self._client
        if loop is not None and client is not None:

            def start() -> None:
                task = loop.create_task(self._subscribe_now(client, topic_filter))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(start)

    async def _subscribe_now(self, client: _CheckingClient, topic_filter: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # a lost connection re-subscribes on connect
            await client.subscribe(topic_filter, qos=1)

    def set_retained(self, topic: str, payload: bytes | None) -> None:
        """Latest-value state on ``topic`` (retained, QoS 1), re-sent on every connect.

        ``None`` clears it (an empty retained payload).  Thread-safe.
        """
        self._retained[topic] = payload if payload is not None else b""
        self._wake_state()

    def update_status(self, **fields: Any) -> None:
        """Change fields of the retained ``status/info`` JSON; cheap and thread-safe.

        Fields: calibrated, session_id, phase, force_n, last_session_id,
        last_outcome.  The JSON goes out at most every ``state_min_interval_s``.
        """
        changed = {k for k, v in fields.items() if self._status.get(k) != v}
        if not changed:
            return
        self._status.update(fields)
        self._status_version += 1
        if changed - {"force_n"}:
            self._wake_state()

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
            progress = self._progress
            if progress is None or self._stop_requested:  # run() not started, or stopping: nothing will move
                break
            progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await progress.wait()
        return FlushReport(sent=self.sent, left=self._source.pending(), connected=self._connected, problem=self.problem)

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
        self._loop = asyncio.get_running_loop()
        stopping = self._stopping = asyncio.Event()
        self._new_data = asyncio.Event()
        self._progress = asyncio.Event()
        self._state_wakeup = asyncio.Event()
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
            left = await _cancel_and_wait([work, stop_wait, *self._background], _CANCEL_WAIT_S)
            self._abandon_connection()  # a connection made while the cancel was on its way
            self._session_live = self._connected = False
            self._client = None
            self._progress.set()  # a flush() waiting for progress: there will be none
            if left:
                log.error("MQTT publisher: %d tasks still running after the stop; left behind", len(left))
        log.debug("MQTT publisher stopped")
        failure = None if work.cancelled() or not work.done() else work.exception()
        if failure is not None:
            raise failure  # a bug in the publisher: not hidden by the stop

    def _abandon_connection(self) -> None:
        client, self._current = self._current, None
        if client is not None:
            client.abandon()

    async def _connection_loop(self) -> None:
        """Connect, run the session, and reconnect with backoff, until the stop."""
        stopping = self._stopping
        assert stopping is not None
        backoff = Backoff(self.settings.reconnect_min_s, self.settings.reconnect_max_s, self._rng)
        while not stopping.is_set():
            client = self._current = self._make_client()
            try:
                async with client:
                    self._on_connected()
                    backoff.reset()
                    await self._connected_session(client)
            except aiomqtt.MqttError as exc:
                self._on_failure(exc)
            except _ConnectionLost as exc:
                self._on_failure(exc.__cause__ or exc)
            finally:
                self._session_live = False
                self._connected = False
                self._client = None
                if self._current is client:
                    self._current = None
            if await self._stop_within(backoff.next()):
                break

    # -- connection ---------------------------------------------------------

    def _make_client(self) -> _CheckingClient:
        s = self.settings
        return _CheckingClient(
            s.host,
            s.port,
            identifier=s.client_id or f"presspoint-{self.topics.device_id}",
            username=s.username,
            password=self._password,
            protocol=aiomqtt.ProtocolVersion.V5 if s.protocol == "5" else aiomqtt.ProtocolVersion.V311,
            will=aiomqtt.Will(self.topics.status, b"offline", qos=1, retain=True),
            keepalive=s.keepalive_s,
            tls_context=self._tls,
            timeout=s.publish_timeout_s,
            clean_session=True if s.protocol != "5" else None,
            logger=logging.getLogger("presspoint.mqtt.paho"),
        )

    def _on_connected(self) -> None:
        self._connected = True
        version = "v5" if self.settings.protocol == "5" else "v3.1.1"
        if not self._ever_connected:
            log.info("MQTT connected to %s (%s); %d messages to send", self.broker, version, self._source.pending())
        else:
            down = time.monotonic() - (self._down_since or time.monotonic())
            log.info(
                "MQTT reconnected to %s after %.1f s; %d messages to send", self.broker, down, self._source.pending()
            )
        self._ever_connected = True
        self._down_since = None
        self._problem = None

    def _on_failure(self, exc: BaseException) -> None:
        level, message = describe_error(exc, self.settings)
        if self._stop_requested:
            log.debug("MQTT connection to %s ended while stopping: %s", self.broker, message)
            return
        if self._connected:
            log.warning(
                "MQTT connection to %s lost (%s); %d messages kept in the outbox, reconnecting",
                self.broker,
                message,
                self._source.pending(),
            )
            self._down_since = time.monotonic()
        elif message != self._problem:
            log.log(
                level,
                "MQTT cannot connect to %s: %s; retrying (backoff up to %g s)",
                self.broker,
                message,
                self.settings.reconnect_max_s,
            )
            if self._down_since is None:
                self._down_since = time.monotonic()
        else:
            log.debug("MQTT still cannot connect to %s: %s", self.broker, message)
        self._problem = message

    async def _connected_session(self, client: _CheckingClient) -> None:
        """Run while connected; returns on stop, raises on a lost connection."""
        assert self._stopping is not None
        slots = asyncio.Semaphore(self.settings.max_in_flight)
        await self._publish_state(client, slots, self.topics.status, b"online")
        self._client = client  # from here on, subscribe() subscribes at once (twice is harmless)
        filters = [f for f, _ in list(self._handlers)]
        if self.settings.ha_discovery:
            filters.append(self.topics.ha_status)
        for topic_filter in dict.fromkeys(filters):
            await client.subscribe(topic_filter, qos=1)
        tasks = [
            asyncio.create_task(self._drain(client, slots), name="mqtt-drain"),
            asyncio.create_task(self._state_loop(client, slots), name="mqtt-state"),
            asyncio.create_task(self._receive(client), name="mqtt-receive"),
        ]
        stop_wait = asyncio.create_task(self._stopping.wait(), name="mqtt-stop")
        self._session_live = True  # from here a stop is noticed below: run() lets us say offline
        try:
            done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._client = None
            # Cancelled again until done (bounded): one swallowed cancel must not hang the stop.
            await _cancel_and_wait([*tasks, stop_wait], _CANCEL_WAIT_S)
        if stop_wait in done:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(_OFFLINE_TIMEOUT_S):
                    await self._publish_state(client, slots, self.topics.status, b"offline")
            return
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise _ConnectionLost() from task.exception()
        raise _ConnectionLost()

    # -- the outbox -------------------------------------------------------------

    def _on_new_data(self) -> None:
        """Writer thread: new messages were committed."""
        loop, event = self._loop, self._new_data
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # loop closed at exit
                loop.call_soon_threadsafe(event.set)

    async def _drain(self, client: _CheckingClient, slots: asyncio.Semaphore) -> None:
        """Send the outbox in order, ``max_in_flight`` at a time, for as long as connected."""
        assert self._new_data is not None
        window = self.settings.max_in_flight
        inflight: dict[asyncio.Task[None], OutboxMessage] = {}
        buffer: deque[OutboxMessage] = deque()
        last_read = 0  # highest seq read into the buffer on this connection
        try:
            while True:
                if not buffer:
                    self._new_data.clear()  # before peek: no wake-up can be missed
                    batch = await self._source.peek(window * 4, last_read)
                    if batch:
                        buffer.extend(batch)
                        last_read = batch[-1].seq
                # After a refusal only one message is in flight until one gets
                # through, so a broker that starts accepting again (ACL fixed)
                # cannot take later messages before the refused one.
                limit = 1 if self._refused is not None else window
                if buffer and len(inflight) < limit:
                    message = buffer.popleft()
                    inflight[asyncio.create_task(self._send(client, slots, message))] = message
                    continue
                if inflight:
                    if await self._reap(inflight):
                        buffer.clear()  # a refusal: start again from the oldest message
                        last_read = 0
                    continue
                await self._new_data.wait()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _reap(self, inflight: dict[asyncio.Task[None], OutboxMessage]) -> bool:
        """Wait for at least one publish and ack what succeeded; True after a refusal.

        After a refusal the rest of the window is waited for, so the caller
        restarts from the oldest unacknowledged message with nothing in flight.
        A lost connection is raised (after acking what did get through).
        """
        done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
        results: list[tuple[OutboxMessage, BaseException | None]] = []
        for task in done:
            results.append((inflight.pop(task), task.exception()))
        if any(isinstance(exc, PublishRefused) for _, exc in results) and inflight:
            rest = await asyncio.gather(*inflight, return_exceptions=True)
            results.extend((message, exc) for message, exc in zip(inflight.values(), rest, strict=True))
            inflight.clear()
        acked = [m.seq for m, exc in results if exc is None]
        refusals = [(m.seq, exc) for m, exc in results if isinstance(exc, PublishRefused)]
        refused = min(refusals, key=lambda r: r[0])[1] if refusals else None
        lost = next((exc for _, exc in results if exc is not None and not isinstance(exc, PublishRefused)), None)
        if acked:
            self.sent += len(acked)  # before the delete, so ``sent`` never lags ``pending``
            await self._source.ack(acked)
            if self._refused is not None and refused is None:
                log.info(
                    "MQTT broker %s accepts publishes again; %d messages to send",
                    self.broker,
                    self._source.pending(),
                )
                self._refused = None
                self._refusal_logged.clear()
                self._refusal_attempt = 0
            assert self._progress is not None
            self._progress.set()
        if lost is not None:
            raise lost
        if refused is not None:
            await self._on_refused(refused)
            return True
        return False

    async def _on_refused(self, refused: PublishRefused) -> None:
        """Log once, keep the message, wait, then retry from the oldest message."""
        assert self._stopping is not None
        first = self._refused is None
        self._refused = f"broker refused publish to {refused.topic!r}: {refused.reason} (reason {refused.reason.value})"
        if first:
            user = f" for user {self.settings.username!r}" if self.settings.username else ""
            log.error(
                "MQTT %s; check the broker ACL%s. The message is kept (%d in the outbox) and retried "
                "every %g s at most",
                self._refused,
                user,
                self._source.pending(),
                self.settings.reconnect_max_s,
            )
        else:
            log.debug("MQTT %s (still)", self._refused)
        await self._stop_within(self._refusal_backoff())

    async def _stop_within(self, timeout_s: float) -> bool:
        """Wait ``timeout_s`` or until the stop, whichever comes first; True if stopping.

        ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` swallows a
        cancel that comes in the same loop iteration as the stop event.
        """
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._stopping.wait()
        return self._stopping.is_set()

    def _refusal_backoff(self) -> float:
        attempt = self._refusal_attempt
        self._refusal_attempt = attempt + 1
        ceiling = min(self.settings.reconnect_max_s, self.settings.reconnect_min_s * 2 ** min(attempt, 32))
        return max(self.settings.reconnect_min_s / 2, self._rng.uniform(0, ceiling))

    async def _send(self, client: _CheckingClient, slots: asyncio.Semaphore, message: OutboxMessage) -> None:
        props: Properties | None = None
        if self.settings.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = [("msg_id", message.msg_id), ("seq", str(message.seq))]
            if message.kind in _JSON_KINDS:
                props.ContentType = "application/json"
        async with slots:
            reason = await client.publish_checked(
                message.topic, message.payload, message.qos, message.retain, props, self.settings.publish_timeout_s
            )
        if reason is not None:
            raise PublishRefused(message.topic, reason)

    # -- latest-value state: status/info and discovery -------------------------------

    def _wake_state(self) -> None:
        loop, event = self._loop, self._state_wakeup
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def _status_payload(self) -> bytes:
        status = DeviceStatus(
            device_id=self.topics.device_id,
            firmware_version=self._firmware_version,
            calibrated=bool(self._status.get("calibrated", False)),
            session_id=self._status.get("session_id"),
            phase=self._status.get("phase"),
            force_n=self._status.get("force_n"),
            last_session_id=self._status.get("last_session_id"),
            last_outcome=self._status.get("last_outcome"),
            refused=self._status.get("refused"),
            measured_rate_hz=self._status.get("measured_rate_hz"),
            outbox_pending=self._source.pending(),
            outbox_dropped=self._source.dropped_batches(),
            updated_at=utc_now_iso(),
        )
        return status.model_dump_json(by_alias=True).encode()

    async def _state_loop(self, client: _CheckingClient, slots: asyncio.Semaphore) -> None:
        """Publish status/info and retained state on connect and when they change."""
        assert self._state_wakeup is not None
        sent_status = 0
        sent_retained: dict[str, bytes] = {}
        discovery = (
            ha_discovery_configs(self.topics, firmware_version=self._firmware_version)
            if self.settings.ha_discovery
            else {}
        )
        self._rediscover = True
        while True:
            self._state_wakeup.clear()
            if self._rediscover:
                self._rediscover = False
                sent_status = 0
                for topic, payload in discovery.items():
                    await self._publish_state(client, slots, topic, payload)
            version = self._status_version
            if version != sent_status:
                await self._publish_state(client, slots, self.topics.status_info, self._status_payload())
                sent_status = version
            for topic, payload in list(self._retained.items()):
                if sent_retained.get(topic) != payload:
                    await self._publish_state(client, slots, topic, payload)
                    sent_retained[topic] = payload
            with contextlib.suppress(TimeoutError):  # not wait_for: see _stop_within
                async with asyncio.timeout(self.settings.state_min_interval_s or None):
                    await self._state_wakeup.wait()
            await asyncio.sleep(self.settings.state_min_interval_s)

    async def _publish_state(
        self, client: _CheckingClient, slots: asyncio.Semaphore, topic: str, payload: bytes
    ) -> None:
        async with slots:
            reason = await client.publish_checked(topic, payload, 1, True, None, self.settings.publish_timeout_s)
        if reason is not None and topic not in self._refusal_logged:
            self._refusal_logged.add(topic)
            log.error(
                "MQTT broker refused publish to %r: %s (reason %d); check the broker ACL",
                topic,
                reason,
                reason.value,
            )

    # -- incoming -----------------------------------------------------------------

    async def _receive(self, client: _CheckingClient) -> None:
        async for message in client.messages:
            try:
                if message.topic.matches(self.topics.ha_status) and message.payload in (b"online", "online"):
                    self._rediscover = True
                    self._wake_state()
                for topic_filter, handler in self._handlers:
                    if message.topic.matches(topic_filter):
                        result = handler(message)
                        if result is not None:
                            await result
            except Exception as exc:  # a bad message or handler never stops publishing
                log.error("MQTT message on %s not handled: %s", message.topic, one_line(exc))


async def _cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout_s: float) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until they are done, at most ``timeout_s``; returns those left running.

    A task still running after a cancel is cancelled again: a cancel can be
    swallowed (``asyncio.wait_for`` on Python 3.11, used inside aiomqtt, returns
    the result when both arrive in the same loop iteration), and a plain
    ``cancel(); gather()`` then waits for ever.  Exceptions are retrieved.
    """
    tasks = list(tasks)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(_RECANCEL_EVERY_S, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    return pending


def describe_error(exc: BaseException, settings: MqttSettings) -> tuple[int, str]:
    """A log level and a one-line, secret-free explanation of a connection failure."""
    text = one_line(exc)
    if isinstance(exc, MqttConnectError):
        rc = exc.rc
        code = rc.value if isinstance(rc, ReasonCode) else rc
        if code in _AUTH_CODES:
            user = repr(settings.username) if settings.username else "(none)"
            return logging.ERROR, f"broker refused the login ({exc}); check username {user} and password"
        return logging.ERROR, f"broker refused the connection ({exc})"
    lowered = text.lower()
    if "certificate_verify_failed" in lowered or "certificate verify failed" in lowered:
        return logging.ERROR, f"TLS: the broker's certificate is not trusted ({text}); check mqtt.ca_file and host"
    if "ssl" in lowered or "tls" in lowered:
        return logging.ERROR, f"TLS handshake failed ({text})"
    return logging.WARNING, f"broker unreachable ({text})"


def _tls_context(settings: MqttSettings) -> ssl.SSLContext:
    """TLS context from the CA file and optional client certificate; clear errors."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise MqttConfigError(f"mqtt.ca_file {settings.ca_file}: cannot load it ({one_line(exc)})") from None
    if settings.cert_file is not None and settings.key_file is not None:
        try:
            context.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        except (OSError, ssl.SSLError) as exc:
            raise MqttConfigError(
                f"mqtt.cert_file {settings.cert_file} / key_file {settings.key_file}: cannot load ({one_line(exc)})"
            ) from None
    return context
