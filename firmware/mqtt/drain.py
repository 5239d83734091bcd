"""Sends the outbox in ``seq`` order with a bounded window of QoS 1 publishes, and handles refusals.

A message is deleted only after its PUBACK; after a lost connection the
unacknowledged tail goes again (consumers drop repeats by ``msg_id``).  A
publish the broker refuses (v5 reason code, e.g. 135 ACL) keeps the message,
logs one clear error and retries from it with backoff, one in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.connection import Backoff, wait_or_stop
from firmware.mqtt.options import PublisherOptions
from firmware.mqtt.wakeup import ThreadSafeEvent
from firmware.storage.outbox import Kind, OutboxMessage

log = logging.getLogger("presspoint.mqtt")

_JSON_KINDS = frozenset({Kind.EVENT, Kind.SAMPLES, Kind.SUMMARY, Kind.STATUS, Kind.DISCOVERY})


class PublishRefused(Exception):
    """The broker answered a publish with a failure reason code (e.g. 135, ACL)."""

    def __init__(self, topic: str, reason: ReasonCode) -> None:
        super().__init__(f"{reason} (reason {reason.value})")
        self.topic = topic
        self.reason = reason


_Inflight = dict[asyncio.Task[None], OutboxMessage]


class OutboxDrain:
    """The outbox side of one publisher: ``run`` per connection, ``sent`` and ``refused`` across them."""

    def __init__(self, options: PublisherOptions, *, on_accepted_again: Callable[[], None]) -> None:
        settings = self._settings = options.settings
        source = self._source = options.source
        self._backoff = Backoff.from_settings(settings, options.rng)  # refusal retries
        self._on_accepted_again = on_accepted_again
        self.broker = settings.display_url()
        self.sent = 0
        self.refused: str | None = None  # why the broker refuses our publishes, until one gets through
        self._stopping: asyncio.Event | None = None
        self._new_data = ThreadSafeEvent()
        self.progress: asyncio.Event | None = None  # set whenever messages were acknowledged
        source.add_listener(self._on_new_data)

    def bind(self, loop: asyncio.AbstractEventLoop, stopping: asyncio.Event) -> None:
        """Make the asyncio objects, on the loop that runs the publisher."""
        self._new_data.bind(loop)
        self.progress = asyncio.Event()
        self._stopping = stopping

    def _on_new_data(self) -> None:
        """Writer thread: new messages were committed."""
        self._new_data.set()

    async def run(self, client: AdaptedClient, slots: asyncio.Semaphore) -> None:
        """Send the outbox in order, ``max_in_flight`` at a time, for as long as connected."""
        new_data = self._new_data.event
        assert new_data is not None
        window = self._settings.max_in_flight
        inflight: _Inflight = {}
        buffer: deque[OutboxMessage] = deque()
        last_read = 0  # highest seq read into the buffer on this connection
        try:
            while True:
                if not buffer:
                    new_data.clear()  # before peek: no wake-up can be missed
                    batch = await self._source.peek(window * 4, last_read)
                    if batch:
                        buffer.extend(batch)
                        last_read = batch[-1].seq
                # After a refusal only one message is in flight until one gets
                # through, so a broker that starts accepting again (ACL fixed)
                # cannot take later messages before the refused one.
                limit = 1 if self.refused is not None else window
                if buffer and len(inflight) < limit:
                    message = buffer.popleft()
                    inflight[asyncio.create_task(self._send(client, slots, message))] = message
                    continue
                if inflight:
                    if await self._reap(inflight):
                        buffer.clear()  # a refusal: start again from the oldest message
                        last_read = 0
                    continue
                await new_data.wait()
        finally:
            for task in inflight:
                task.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)

    async def _reap(self, inflight: _Inflight) -> bool:
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
            await self._acknowledged(acked, still_refused=refused is not None)
        if lost is not None:
            raise lost
        if refused is not None:
            await self._on_refused(refused)
            return True
        return False

    async def _acknowledged(self, seqs: list[int], *, still_refused: bool) -> None:
        self.sent += len(seqs)  # before the delete, so ``sent`` never lags ``pending``
        await self._source.ack(seqs)
        if self.refused is not None and not still_refused:
            log.info("MQTT broker %s accepts publishes again; %d messages to send", self.broker, self._source.pending())
            self.refused = None
            self._backoff.reset()
            self._on_accepted_again()
        assert self.progress is not None
        self.progress.set()

    async def _on_refused(self, refused: PublishRefused) -> None:
        """Log once, keep the message, wait, then retry from the oldest message."""
        assert self._stopping is not None
        first = self.refused is None
        self.refused = f"broker refused publish to {refused.topic!r}: {refused.reason} (reason {refused.reason.value})"
        if first:
            user = f" for user {self._settings.username!r}" if self._settings.username else ""
            log.error(
                "MQTT %s; check the broker ACL%s. The message is kept (%d in the outbox) and retried "
                "every %g s at most",
                self.refused,
                user,
                self._source.pending(),
                self._settings.reconnect_max_s,
            )
        else:
            log.debug("MQTT %s (still)", self.refused)
        await wait_or_stop(self._stopping, self._backoff.next())

    async def _send(self, client: AdaptedClient, slots: asyncio.Semaphore, message: OutboxMessage) -> None:
        props: Properties | None = None
        if self._settings.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = [("msg_id", message.msg_id), ("seq", str(message.seq))]
            if message.kind in _JSON_KINDS:
                props.ContentType = "application/json"
        async with slots:
            reason = await client.publish_checked(
                message.topic, message.payload, message.qos, message.retain, props, self._settings.publish_timeout_s
            )
        if reason is not None:
            raise PublishRefused(message.topic, reason)
