"""The clinic's collector: every device's messages into the clinic database, shared between instances.

Session events and sample batches are the bulk of the traffic; they come
through MQTT 5 **shared subscriptions** (``$share/<group>/...``), so the
broker hands each one to one instance of the group.  Retained state -
availability, status, plan state and error, PPT, session summaries - comes
through **normal** subscriptions, because a broker does not send retained
messages for a shared subscription; every instance receives those and the
idempotent store (``firmware.clinic.ingest``) keeps one copy.  With no
group (``therapist collect``: one collector, no instances to share with) the
bulk comes through normal subscriptions too.

A persistent session per instance (the broker queues while it is away),
PUBACK only after the burst is committed (manual ack), and a message the
database cannot take is not acknowledged - the collector reconnects with
backoff and the broker redelivers it.  A burst is what the MQTT queue holds
once the first message is in, topped up for at most ``LINGER_S`` (up to
``MAX_BURST``): one transaction and one multi-row insert per table for all
of it keeps up with many devices.  Receiving is the other half of the cost:
the client decodes property-less MQTT 5 PUBLISH packets itself
(``AdaptedClient.lean_receive``; paho's per-message ``Properties`` were
most of the collector's CPU) and a burst is taken off the queue at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiomqtt

from config.mqtt import MqttSettings
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.clinic.until_stopped import until_stopped
from firmware.mqtt.connection import (
    DEFAULT_SESSION_EXPIRY_S,
    AdaptedClient,
    Backoff,
    describe_error,
    reconnect_forever,
)
from firmware.therapist.connection import make_client, payload_bytes

log = logging.getLogger("presspoint.clinic.collector")

DEFAULT_GROUP = "presspoint-clinic"
MAX_BURST = 500  # messages stored in one transaction
LINGER_S = 0.005  # how long a burst waits for more messages once the queue is empty


def shared_filters(prefix: str, group: str | None = DEFAULT_GROUP) -> list[str]:
    """The bulk of the traffic (one instance of ``group`` per message); every message without a group."""
    bulk = [f"{prefix}/+/session/+/event", f"{prefix}/+/session/+/samples", f"{prefix}/+/event"]
    return bulk if group is None else [f"$share/{group}/{topic}" for topic in bulk]


def state_filters(prefix: str) -> list[str]:
    """Retained state: every instance, because shared subscriptions get no retained messages."""
    return [
        f"{prefix}/+/status",
        f"{prefix}/+/status/info",
        f"{prefix}/+/plan/state",
        f"{prefix}/+/plan/error",
        f"{prefix}/+/ppt",
        f"{prefix}/+/person/status",
        f"{prefix}/+/session/+/summary",
        f"{prefix}/+/session/+/follow_up",
    ]


@dataclass
class CollectorStats:
    by_result: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)  # new messages, by the topic's last level
    connects: int = 0
    store_errors: int = 0
    bursts: int = 0

    def describe(self) -> str:
        r = self.by_result
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_kind.items())) or "nothing stored"
        return f"{r['new']} new, {r['duplicate']} duplicates dropped, {r['rejected']} rejected ({kinds})"


class _StoreFailed(Exception):
    pass


class ClinicCollector:
    """``run()`` until ``stop()``; reconnects for ever in between."""

    def __init__(
        self,
        settings: MqttSettings,
        store: ClinicStore,
        *,
        client_id: str,
        group: str | None = DEFAULT_GROUP,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        on_ingest: Callable[[str, bytes, Ingested], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.client_id = client_id
        self.group = group
        self.session_expiry_s = session_expiry_s
        self.stats = CollectorStats()
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()  # set after every stored burst
        self._on_ingest = on_ingest
        self._stopping = asyncio.Event()
        self._problem: str | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, duration_s: float | None = None) -> CollectorStats:
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, self._stopping.set)
        backoff = Backoff.from_settings(self.settings, random.Random())
        await reconnect_forever(self._connect_once, self._on_failure, self._stopping, backoff)
        return self.stats

    async def _connect_once(self, backoff: Backoff) -> None:
        try:
            await until_stopped(self._connected(backoff), self._stopping, "clinic-collector")
        finally:
            self.subscribed.clear()

    def _on_failure(self, exc: Exception) -> bool:
        if isinstance(exc, aiomqtt.MqttError):
            _, message = describe_error(exc, self.settings)
            if message != self._problem:
                log.warning("clinic collector: %s: %s; retrying", self.settings.display_url(), message)
                self._problem = message
            return True
        if isinstance(exc, _StoreFailed):
            log.error("clinic collector: %s; not acknowledged, reconnecting so the broker redelivers it", exc)
            return True
        return False

    async def _connected(self, backoff: Backoff) -> None:
        client = make_client(
            self.settings,
            identifier=self.client_id,
            persistent=True,
            session_expiry_s=self.session_expiry_s,
            manual_ack=True,
        )
        client.lean_receive()  # paho's MQTT 5 properties parse was most of what receiving cost
        prefix = self.settings.topic_prefix
        async with client:
            self.stats.connects += 1
            for topic_filter in [*shared_filters(prefix, self.group), *state_filters(prefix)]:
                await client.subscribe(topic_filter, qos=1)
            log.info("clinic collector: connected to %s as %s", self.settings.display_url(), self.client_id)
            backoff.reset()
            self._problem = None
            self.subscribed.set()
            messages = client.messages
            async for first in messages:
                burst = await _burst(first, client)
                received = [(str(m.topic), payload_bytes(m)) for m in burst]
                try:
                    results = await asyncio.to_thread(self.store.ingest_many, received)
                except Exception as exc:  # database down, disk full...: do not ack
                    self.stats.store_errors += 1
                    raise _StoreFailed(f"cannot store {len(burst)} message(s) ({type(exc).__name__})") from exc
                for message in burst:
                    client.ack(message)
                self.stats.bursts += 1
                for (topic, payload), result in zip(received, results, strict=True):
                    self.stats.by_result[str(result)] += 1
                    if result is Ingested.NEW:
                        self.stats.by_kind[topic.rsplit("/", 1)[-1]] += 1
                    elif result is Ingested.REJECTED:
                        log.warning("clinic collector: rejected a payload on %s", topic)
                    if self._on_ingest is not None:
                        self._on_ingest(topic, payload, result)
                self.changed.set()


async def _burst(first: aiomqtt.Message, client: AdaptedClient) -> list[aiomqtt.Message]:
    """``first`` and what arrives within ``LINGER_S`` of it, up to ``MAX_BURST``.

    The broker sends at most its in-flight window of unacknowledged QoS 1
    messages, and this collector acknowledges only after the commit: a burst
    never waits longer.  Only queued messages are taken, all at once: no
    wait inside aiomqtt's iterator is ever cancelled (one could drop a
    message it had already taken from the queue).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LINGER_S
    burst = [first]
    while True:
        burst += client.take_queued(MAX_BURST - len(burst))
        if len(burst) >= MAX_BURST or loop.time() >= deadline:
            return burst
        await asyncio.sleep(LINGER_S / 5)
