"""The live view's feed: every device's latest samples, status and events, in memory, pushed to open views.

A separate, clean, QoS 0 connection with normal subscriptions: the
collector's shared subscriptions give each instance only part of the
traffic, while every instance must be able to show any device live.  Nothing
here is stored and nothing waits for the database: a message wakes the
device's open live streams as it arrives (``LiveHub.wait``), and each stream
sends what is new ``after`` the last counter it sent (bounded), so a slow
page never holds the feed up.

The samples come from the device's live chunks (``<p>/<device>/live``,
QoS 0, a tenth of a second each), subscribed only for the devices this
instance has a live view open on (``LiveHub.watch``): every instance gets
every chunk of a device it shows, and none of the others.  The stored
one-second batches fill in for a device that sends no live chunks; a
sample no newer than the last one shown is not shown again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiomqtt
from pydantic import ValidationError

from config.mqtt import MqttSettings
from firmware.clinic.until_stopped import until_stopped
from firmware.mqtt.connection import Backoff, reconnect_forever
from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch
from firmware.therapist.connection import make_client, payload_bytes

log = logging.getLogger("presspoint.clinic.live")

KEEP_SAMPLES = 6000  # 75 s at 80 samples/s: the chart's minute, whatever the rate
KEEP_EVENTS = 50


@dataclass
class DeviceLive:
    session_id: str | None = None
    samples: deque[tuple[int, float, float | None]] = field(default_factory=lambda: deque(maxlen=KEEP_SAMPLES))
    events: deque[tuple[int, dict[str, Any]]] = field(default_factory=lambda: deque(maxlen=KEEP_EVENTS))
    status: dict[str, Any] | None = None
    latest: int = 0  # the counter of the newest change (sample, event or status)
    news: asyncio.Event = field(default_factory=asyncio.Event)  # set, then replaced, at every change


class LiveHub:
    """Latest state per device; every sample and event gets a counter the browser resumes after."""

    def __init__(self) -> None:
        self.devices: dict[str, DeviceLive] = {}
        self.closed = False
        #: Names this hub's counters: a stream resumed on another process (a restart, another instance) starts over.
        self.token = uuid.uuid4().hex[:12]
        self.on_watch: Callable[[str, bool], None] | None = None  # (device, watched): the feed (un)subscribes
        self._watchers: Counter[str] = Counter()
        self._counter = 0

    @contextlib.contextmanager
    def watch(self, device_id: str) -> Iterator[None]:
        """While a live view of ``device_id`` is open: the first subscribes its live chunks, the last ends them."""
        self._watchers[device_id] += 1
        if self._watchers[device_id] == 1 and self.on_watch is not None:
            self.on_watch(device_id, True)
        try:
            yield
        finally:
            self._watchers[device_id] -= 1
            if not self._watchers[device_id]:
                del self._watchers[device_id]
                if self.on_watch is not None:
                    self.on_watch(device_id, False)

    def watched(self) -> list[str]:
        return list(self._watchers)

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def feed(self, topic: str, payload: bytes, prefix: str) -> None:
        parts = topic.removeprefix(prefix + "/").split("/")
        if not payload or len(parts) < 2:
            return
        device = self.devices.setdefault(parts[0], DeviceLive())
        try:
            if parts[1:] == ["status", "info"]:
                device.status = DeviceStatus.model_validate_json(payload).model_dump(mode="json", by_alias=True)
            elif parts[1:] == ["live"] or (len(parts) == 4 and parts[3] == "samples"):
                batch = SamplesBatch.model_validate_json(payload)
                self._session(device, batch.session_id)
                shown = device.samples[-1][1] if device.samples else float("-inf")
                for when, force in zip(batch.times(), batch.force_n, strict=True):
                    if when > shown:
                        device.samples.append((self._next(), when, force))
            elif len(parts) == 4 and parts[3] == "event":
                message = EventMessage.model_validate_json(payload)
                self._session(device, message.session_id)
                device.events.append((self._next(), message.event.model_dump(mode="json")))
            else:
                return
        except ValidationError:
            return
        device.latest = self._next()
        news, device.news = device.news, asyncio.Event()
        news.set()

    async def wait(self, device_id: str, after: int, timeout_s: float) -> None:
        """Return once the device has changed since ``after``, the hub is closed, or ``timeout_s`` passed."""
        device = self.devices.setdefault(device_id, DeviceLive())
        if device.latest > after or self.closed:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await device.news.wait()

    def close(self) -> None:
        """The server is stopping: every waiting stream returns now and no stream waits again."""
        self.closed = True
        for device in self.devices.values():
            device.news.set()

    def _session(self, device: DeviceLive, session_id: str) -> None:
        if device.session_id != session_id:
            device.session_id = session_id
            device.samples.clear()
            device.events.clear()

    def since(self, device_id: str, after: int) -> dict[str, Any]:
        """What the live page needs: samples and events after ``after``, the status, the newest counter."""
        device = self.devices.get(device_id) or DeviceLive()
        samples = _newer(device.samples, after)
        events = _newer(device.events, after)
        last = max(after, device.latest)
        return {
            "device_id": device_id,
            "session_id": device.session_id,
            "status": device.status,
            "samples": [[t, f] for _, t, f in samples],
            "events": [e for _, e in events],
            "last": last,
        }


_Counted = TypeVar("_Counted", bound=tuple[Any, ...])


def _newer(items: deque[_Counted], after: int) -> list[_Counted]:
    """The items whose counter (first field) is above ``after``: the deque's tail, counters rising."""
    tail: list[_Counted] = []
    for item in reversed(items):
        if item[0] <= after:
            break
        tail.append(item)
    tail.reverse()
    return tail


class LiveFeed:
    """Keeps ``hub`` fed from the broker until ``stop()``."""

    def __init__(self, settings: MqttSettings, hub: LiveHub) -> None:
        self.settings = settings
        self.hub = hub
        self.subscribed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._changes: set[asyncio.Task[None]] = set()
        hub.on_watch = self._watch

    def stop(self) -> None:
        self._stopping.set()

    def live_topic(self, device_id: str) -> str:
        return f"{self.settings.topic_prefix}/{device_id}/live"

    def _watch(self, device_id: str, watched: bool) -> None:
        """A device's first live view opened (subscribe its chunks) or its last one closed (unsubscribe)."""
        client = self._client
        if client is None:
            return  # subscribed when connected
        change = client.subscribe(self.live_topic(device_id), qos=0) if watched else client.unsubscribe(
            self.live_topic(device_id))
        task: asyncio.Task[None] = asyncio.ensure_future(self._quietly(change))
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    @staticmethod
    async def _quietly(change: Awaitable[object]) -> None:
        with contextlib.suppress(aiomqtt.MqttError):  # a lost connection subscribes the watched again
            await change

    async def run(self) -> None:
        backoff = Backoff.from_settings(self.settings, random.Random())
        await reconnect_forever(self._connect_once, self._on_failure, self._stopping, backoff)

    def _on_failure(self, exc: Exception) -> bool:
        return isinstance(exc, aiomqtt.MqttError)

    async def _connect_once(self, backoff: Backoff) -> None:
        try:
            await until_stopped(self._connected(backoff), self._stopping, "clinic-live")
        finally:
            self.subscribed.clear()

    async def _connected(self, backoff: Backoff) -> None:
        prefix = self.settings.topic_prefix
        client = make_client(self.settings, identifier=f"presspoint-clinic-live-{uuid.uuid4().hex[:8]}")
        async with client:
            for suffix in ("+/status/info", "+/session/+/samples", "+/session/+/event"):
                await client.subscribe(f"{prefix}/{suffix}", qos=0)
            self._client = client  # from here a newly watched device is subscribed at once
            try:
                for device_id in self.hub.watched():
                    await client.subscribe(self.live_topic(device_id), qos=0)
                backoff.reset()
                self.subscribed.set()
                async for message in client.messages:
                    self.hub.feed(str(message.topic), payload_bytes(message), prefix)
            finally:
                self._client = None
