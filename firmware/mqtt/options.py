"""What the device's MQTT pieces are built from, made once by ``Publisher``.

``OutboxSource`` is what they need from the store; ``PublisherOptions`` holds
the settings, topics, source and the device's own facts, so that no piece
repeats the publisher's parameter list.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

from config.mqtt import MqttSettings
from firmware.protocol.topics import Topics
from firmware.storage.outbox import OutboxMessage


class OutboxSource(Protocol):
    """What the publisher needs from the store (``StoreWriter`` implements it)."""

    async def peek(self, n: int, after_seq: int = 0) -> list[OutboxMessage]: ...

    async def ack(self, seqs: Sequence[int]) -> None: ...

    def pending(self) -> int: ...

    def dropped_batches(self) -> int: ...

    def add_listener(self, callback: Callable[[], None]) -> None: ...

    def flush(self) -> Future[None]: ...


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    """One device's MQTT side: where to connect, what to call things, what to send, what to say about itself."""

    settings: MqttSettings
    topics: Topics
    source: OutboxSource
    firmware_version: str
    calibrated: bool  # the initial ``status/info`` value; later changes go through ``update_status``
    rng: random.Random  # backoff jitter (seeded in tests)

    @property
    def client_id(self) -> str:
        return self.settings.client_id or f"presspoint-{self.topics.device_id}"
