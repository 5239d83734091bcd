"""``presspoint therapist collect``: subscribe to every device and keep every session in SQLite.

Nothing missed while the collector is down, as far as MQTT allows:

* a **persistent session** under a fixed client id (v5 clean start off with a
  session expiry, default 7 days; 3.1.1 clean session off): the broker keeps
  the subscriptions and queues QoS 1 events and sample batches published
  while the collector is away, and delivers them when it returns;
* **retained summaries** (every session's summary is retained by the device)
  arrive at each subscribe, so even sessions from before the collector's
  first start, or past the session expiry, get at least their summary;
* **acknowledged only when stored**: the client runs paho's manual-ack mode
  and sends PUBACK after the SQLite commit, so a collector killed between
  receiving and storing gets the message again;
* **idempotent store** (see ``firmware.therapist.store``): redelivered and
  retained copies are counted as duplicates, never stored twice.

A message that cannot be stored because of the database (disk full, locked)
is not acknowledged; the collector disconnects and reconnects with backoff so
the broker redelivers it.  A malformed payload is recorded in ``rejected``
and acknowledged, so one bad message cannot block the queue for ever.

Manual ack is not in aiomqtt's public API; ``firmware.mqtt.aiomqtt_adapter``
provides it (``make_client(manual_ack=True)`` and ``client.ack``), under a
contract test.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from config.mqtt import MqttSettings
from firmware.mqtt.connection import DEFAULT_SESSION_EXPIRY_S, Backoff, describe_error, reconnect_forever
from firmware.therapist.connection import make_client, payload_bytes
from firmware.therapist.store import CollectStore, Ingested

log = logging.getLogger("presspoint.therapist.collect")

DEFAULT_CLIENT_ID = "presspoint-collector"


@dataclass
class CollectStats:
    by_result: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    store_errors: int = 0

    def describe(self) -> str:
        r = self.by_result
        return (
            f"{r['new']} new, {r['duplicate']} duplicates dropped, {r['rejected']} rejected "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.by_kind.items())) or 'nothing stored'})"
        )


def filters(prefix: str) -> list[str]:
    return [f"{prefix}/+/session/+/+", f"{prefix}/+/ppt"]


class Collector:
    """The collect loop; ``run()`` until ``stop()`` (or the duration) - reconnects for ever in between."""

    def __init__(
        self,
        settings: MqttSettings,
        db_path: Path,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        on_ingest: Callable[[str, Ingested], None] | None = None,
        store: CollectStore | None = None,
    ) -> None:
        self.settings = settings
        self.db_path = db_path
        self.client_id = client_id
        self.session_expiry_s = session_expiry_s
        self.store = store or CollectStore(db_path)
        self.stats = CollectStats()
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()
        self._on_ingest = on_ingest
        self._stopping = asyncio.Event()
        self._problem: str | None = None  # the last connection failure logged

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, duration_s: float | None = None) -> CollectStats:
        loop = asyncio.get_running_loop()
        if duration_s is not None:
            loop.call_later(duration_s, self._stopping.set)
        self._problem = None
        backoff = Backoff.from_settings(self.settings, random.Random())
        await reconnect_forever(self._connect_once, self._on_failure, self._stopping, backoff)
        return self.stats

    async def _connect_once(self, backoff: Backoff) -> None:
        """One connection, until it ends or the stop comes (which cancels it)."""
        task = asyncio.create_task(self._connected(backoff), name="collector-connection")
        stop_wait = asyncio.create_task(self._stopping.wait(), name="collector-stop")
        try:
            await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
            if not task.done():
                task.cancel()
            (outcome,) = await asyncio.gather(task, return_exceptions=True)
            self.subscribed.clear()
        if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
            raise outcome

    def _on_failure(self, exc: Exception) -> bool:
        if isinstance(exc, aiomqtt.MqttError):
            _, message = describe_error(exc, self.settings)
            if message != self._problem:
                log.warning("collector: %s: %s; retrying", self.settings.display_url(), message)
                self._problem = message
            return True
        if isinstance(exc, _StoreFailed):
            log.error("collector: %s; not acknowledged, reconnecting so the broker redelivers it", exc)
            return True
        return False

    async def _connected(self, backoff: Backoff) -> None:
        client = make_client(
            self.settings,
            identifier=self.client_id,
            persistent=True,
            session_expiry_s=self.session_expiry_s,
            manual_ack=True,  # PUBACK only after the row is committed
        )
        async with client:
            self.stats.connects += 1
            for topic_filter in filters(self.settings.topic_prefix):
                await client.subscribe(topic_filter, qos=1)
            log.info("collector: connected to %s as %s", self.settings.display_url(), self.client_id)
            backoff.reset()
            self.subscribed.set()
            async for message in client.messages:
                topic = str(message.topic)
                try:
                    result = self.store.ingest(topic, payload_bytes(message), prefix=self.settings.topic_prefix)
                except Exception as exc:  # sqlite3.Error, disk full, ...: do not ack
                    self.stats.store_errors += 1
                    raise _StoreFailed(f"cannot store message on {topic} ({type(exc).__name__}: {exc})") from exc
                client.ack(message)
                self.stats.by_result[str(result)] += 1
                if result is Ingested.NEW:
                    self.stats.by_kind[topic.rsplit("/", 1)[-1]] += 1
                elif result is Ingested.REJECTED:
                    log.warning("collector: rejected a payload on %s", topic)
                if self._on_ingest is not None:
                    self._on_ingest(topic, result)
                self.changed.set()

    def close(self) -> None:
        self.store.close()


class _StoreFailed(Exception):
    pass
