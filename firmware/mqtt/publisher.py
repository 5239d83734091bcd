"""Publishes the outbox to an MQTT broker, for ever, without ever holding up a session.

``Publisher`` builds the parts from one ``PublisherOptions`` and owns the one
thing they share: a stop that ends ``run`` within ``STOP_GRACE_S`` in every
state.  ``DeviceConnector`` makes one connection after another,
``ConnectedSession`` runs a connection's work: ``drain`` (the outbox,
refusals), ``status`` (retained state, will, discovery), ``routing``
(incoming messages) and ``live`` (live chunks).  Design notes: ``docs/mqtt.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Any

from config.mqtt import MqttSettings
from firmware.mqtt.connected import CANCEL_WAIT_S, ConnectedSession
from firmware.mqtt.connection import BrokerConnection
from firmware.mqtt.connector import DeviceConnector
from firmware.mqtt.options import OutboxSource, PublisherOptions
from firmware.mqtt.routing import MessageHandler
from firmware.mqtt.takeover import TakeoverDetector
from firmware.mqtt.tasks import cancel_and_wait
from firmware.mqtt.wakeup import ThreadSafeEvent
from firmware.protocol.topics import Topics

log = logging.getLogger("presspoint.mqtt")

#: The longest ``run`` takes to return after ``request_stop`` to say ``offline``
#: and disconnect cleanly; after it the connection is dropped (the will says ``offline``).
STOP_GRACE_S = 3.0


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
        connection = BrokerConnection(settings)  # fails early on the password or TLS files
        options = PublisherOptions(settings, topics, source, firmware_version, calibrated, rng or random.Random())
        self.settings = settings
        self.topics = topics
        self._stop_requested = False
        self._stopping = ThreadSafeEvent()  # bound in run(), on the loop that runs it
        self.broker = connection.broker
        self._source = source
        self._session = ConnectedSession(options)
        self._drain = self._session.drain
        self.live = self._session.live  # ``live.sample(...)``: thread-safe, never stored
        self._connector = DeviceConnector(options, connection, self._session.state.will(), self._session,
                                          lambda: self._stop_requested)
        self._link = self._connector.link

    # -- public API -----------------------------------------------------------

    @property
    def takeover(self) -> TakeoverDetector:
        """``.count``: times another client with our client id took over."""
        return self._connector.takeover

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
        self._session.router.add(topic_filter, handler)
        self._session.subscribe_now(topic_filter)

    def set_retained(self, topic: str, payload: bytes | None) -> None:
        """Latest-value state on ``topic`` (retained, QoS 1, sent at each connect; ``None`` clears it); thread-safe."""
        self._session.state.set_retained(topic, payload)

    def update_status(self, **fields: Any) -> None:
        """Change fields of the retained ``status/info`` JSON; cheap and thread-safe.

        Fields: calibrated, session_id, phase, force_n, last_session_id,
        last_outcome.  The JSON goes out at most every ``state_min_interval_s``.
        """
        self._session.state.update_status(**fields)

    def request_stop(self) -> None:
        """Thread-safe: make ``run`` say ``offline``, disconnect and return (within ``STOP_GRACE_S``).

        Works in every state, also before ``run`` started (it then returns at once).
        """
        self._stop_requested = True  # before the event: run() binds it, then reads this
        self._stopping.set()

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
        loop = asyncio.get_running_loop()
        stopping = self._stopping.bind(loop)
        self._drain.bind(loop, stopping)
        self._session.state.bind(loop)
        if self._stop_requested:  # asked before the event existed (maybe from another thread)
            return
        work = asyncio.create_task(self._connector.run(stopping), name="mqtt-connection")
        stop_wait = asyncio.create_task(stopping.wait(), name="mqtt-stop-request")
        try:
            await asyncio.wait([work, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            if not work.done() and self._session.running:
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
                self._connector.abandon()
            left = await cancel_and_wait([work, stop_wait, *self._session.background], CANCEL_WAIT_S)
            self._connector.abandon()  # a connection made while the cancel was on its way
            self._session.ended()
            self._link.connected = False
            assert self._drain.progress is not None
            self._drain.progress.set()  # a flush() waiting for progress: there will be none
            if left:
                log.error("MQTT publisher: %d tasks still running after the stop; left behind", len(left))
        log.debug("MQTT publisher stopped")
        failure = None if work.cancelled() or not work.done() else work.exception()
        if failure is not None:
            raise failure  # a bug in the publisher: not hidden by the stop
