"""One connection's work, from ``online`` to ``offline``: the parts run side by side while connected.

``online`` first, then the subscriptions, then the outbox drain, retained
state, incoming routing and live chunks as tasks; the first of them to end
(a lost connection) or the stop ends them all.  On a stop it says
``offline`` itself, bounded by ``OFFLINE_TIMEOUT_S``.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt

from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.connection import DEVICE_MAX_PACKET_BYTES
from firmware.mqtt.drain import OutboxDrain
from firmware.mqtt.live import LiveChunks
from firmware.mqtt.options import PublisherOptions
from firmware.mqtt.routing import Router
from firmware.mqtt.status import DeviceState
from firmware.mqtt.tasks import cancel_and_wait

#: The longest the ``offline`` publish may wait for its PUBACK.
OFFLINE_TIMEOUT_S = 2.0
#: How long cancelled tasks get to finish before they are left behind (they never should).
CANCEL_WAIT_S = 1.0


class ConnectionLost(Exception):
    """The connection ended under a connected session; the cause, if known, is ``__cause__``."""


class ConnectedSession:
    """The parts that work while connected, and one connection's run of them.

    ``running`` while a stop may let it say ``offline`` itself.
    """

    def __init__(self, options: PublisherOptions) -> None:
        settings = options.settings
        self.state = DeviceState(options)
        self.drain = OutboxDrain(options, on_accepted_again=self.state.forget_refusals)
        self.router = Router(options.topics.ha_status, self.state.rediscover, subscribe_ha=settings.ha_discovery,
                             max_payload_bytes=DEVICE_MAX_PACKET_BYTES)
        self.live = LiveChunks(options.topics)  # ``live.sample(...)``: thread-safe, never stored
        self._max_in_flight = settings.max_in_flight
        self.running = False  # connected and running: a stop then says offline itself
        self._client: AdaptedClient | None = None  # connected and subscribed: subscribe_now may use it
        self._loop: asyncio.AbstractEventLoop | None = None
        self.background: set[asyncio.Task[None]] = set()  # subscriptions made while connected

    def subscribe_now(self, topic_filter: str) -> None:
        """Thread-safe: subscribe to ``topic_filter`` at once if connected (a reconnect subscribes anyway)."""
        loop, client = self._loop, self._client
        if loop is not None and client is not None:

            def start() -> None:
                task = loop.create_task(self._subscribe(client, topic_filter))
                self.background.add(task)
                task.add_done_callback(self.background.discard)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(start)

    async def _subscribe(self, client: AdaptedClient, topic_filter: str) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # a lost connection re-subscribes on connect
            await client.subscribe(topic_filter, qos=1)

    def ended(self) -> None:
        """The connection is over (closed, lost or dropped)."""
        self.running = False
        self._client = None

    async def run(self, client: AdaptedClient, stopping: asyncio.Event) -> None:
        """Run while connected; returns on stop, raises ``ConnectionLost`` on a lost connection."""
        self._loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self._max_in_flight)
        await self.state.publish_availability(client, slots, b"online")
        self._client = client  # from here on, subscribe_now subscribes at once (twice is harmless)
        for topic_filter in self.router.filters():
            await client.subscribe(topic_filter, qos=1)
        tasks = [
            asyncio.create_task(self.drain.run(client, slots), name="mqtt-drain"),
            asyncio.create_task(self.state.run(client, slots), name="mqtt-state"),
            asyncio.create_task(self.router.run(client), name="mqtt-receive"),
            asyncio.create_task(self.live.run(client), name="mqtt-live"),
        ]
        stop_wait = asyncio.create_task(stopping.wait(), name="mqtt-stop")
        self.running = True  # from here a stop is noticed below: Publisher.run lets us say offline
        try:
            done, _ = await asyncio.wait([*tasks, stop_wait], return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._client = None
            # Cancelled again until done (bounded): one swallowed cancel must not hang the stop.
            await cancel_and_wait([*tasks, stop_wait], CANCEL_WAIT_S)
        if stop_wait in done:
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(OFFLINE_TIMEOUT_S):
                    await self.state.publish_availability(client, slots, b"offline")
            return
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise ConnectionLost() from task.exception()
        raise ConnectionLost()
