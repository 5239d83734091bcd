"""The therapist tools' MQTT connection: settings from ``--broker``/``--config``, a client, a message queue.

``TherapistConnection`` wraps one aiomqtt client with a background reader
so commands can wait for messages with timeouts, and ``sync()``: a barrier
that publishes to a private topic the client itself subscribes to and waits
for the echo.  The broker handles one client's packets in order, so by the
time the echo arrives every retained message for the earlier subscriptions
has been delivered - "no retained state" becomes a fact rather than a guess
after an arbitrary wait.  (If an ACL forbids the sync topic the barrier just
times out and the command goes on with what it has.)
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

import aiomqtt
from pydantic import BaseModel

from config.device import DEFAULT_DEVICE_MAX_N
from config.errors import PresspointError
from config.loader import load_device_config
from config.mqtt import MqttSettings
from firmware.mqtt.connection import DEFAULT_SESSION_EXPIRY_S, AdaptedClient, BrokerConnection, describe_error
from firmware.protocol.payloads import parse_or_none

_Model = TypeVar("_Model", bound=BaseModel)


class BrokerError(PresspointError):
    """The broker could not be reached or refused us; one line, never a password."""


def resolve_settings(broker: str | None, config: Path | None) -> tuple[MqttSettings, float]:
    """MQTT settings (and the device_max for local plan checks) from ``--broker`` and/or ``--config``.

    ``--config`` is a device-config TOML; only its ``[mqtt]`` table and
    ``device_max`` are used here.  ``--broker`` overrides host, port, TLS and
    credentials of the config.
    """
    if broker is None and config is None:
        raise PresspointError("say where the broker is: --broker mqtt[s]://[user:pass@]host:port or --config FILE")
    device_max = DEFAULT_DEVICE_MAX_N
    settings = MqttSettings(enabled=True)
    if config is not None:
        device = load_device_config(config)
        settings, device_max = device.mqtt.model_copy(update={"enabled": True}), device.device_max
    if broker is not None:
        settings = settings.with_broker_url(broker)
    return settings, device_max


def client_id(kind: str) -> str:
    """A client id for a one-off command; unique, so two terminals never kick each other off."""
    return f"presspoint-therapist-{kind}-{uuid.uuid4().hex[:8]}"


def make_client(
    settings: MqttSettings,
    *,
    identifier: str,
    persistent: bool = False,
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
    manual_ack: bool = False,
) -> AdaptedClient:
    """An aiomqtt client for the therapist side, made the way the device makes its own.

    ``persistent``: the broker keeps our subscriptions and queues QoS 1
    messages while we are away.  ``manual_ack``: PUBACK only on ``client.ack``.
    """
    return BrokerConnection(settings).client(
        identifier, persistent=persistent, session_expiry_s=session_expiry_s, manual_ack=manual_ack
    )


def connect_error(exc: BaseException, settings: MqttSettings) -> BrokerError:
    _, message = describe_error(exc, settings)
    return BrokerError(f"MQTT {settings.display_url()}: {message}")


def payload_bytes(message: aiomqtt.Message) -> bytes:
    raw = message.payload
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    return str(raw).encode("utf-8") if raw is not None else b""


def latest_valid(messages: Iterable[aiomqtt.Message], topic: str, model: type[_Model]) -> _Model | None:
    """The last of ``messages`` on ``topic`` that is a ``model`` (a device's retained state, after ``sync``)."""
    latest: _Model | None = None
    for message in messages:
        if message.topic.matches(topic):
            latest = parse_or_none(model, payload_bytes(message)) or latest
    return latest


class TherapistConnection:
    """One connected client and a queue of everything it receives."""

    def __init__(self, settings: MqttSettings, *, identifier: str | None = None) -> None:
        self.settings = settings
        self.identifier = identifier or client_id("cli")
        self.client = make_client(settings, identifier=self.identifier)
        self._queue: asyncio.Queue[aiomqtt.Message] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.lost: BaseException | None = None
        level = re.sub(r"[^A-Za-z0-9_-]", "_", self.identifier)[:64]
        self.sync_topic = f"{settings.topic_prefix}/_sync/{level}"

    async def __aenter__(self) -> TherapistConnection:
        try:
            await self.client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise connect_error(exc, self.settings) from None
        self._reader = asyncio.create_task(self._read(), name="therapist-mqtt-read")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(aiomqtt.MqttError, Exception):
            await self.client.__aexit__(exc_type, exc, tb)

    async def _read(self) -> None:
        try:
            async for message in self.client.messages:
                self._queue.put_nowait(message)
        except aiomqtt.MqttError as exc:
            self.lost = exc

    async def subscribe(self, filters: Sequence[str], qos: int = 1) -> None:
        try:
            for topic_filter in filters:
                await self.client.subscribe(topic_filter, qos=qos)
        except aiomqtt.MqttError as exc:
            raise connect_error(exc, self.settings) from None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        try:
            await self.client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise connect_error(exc, self.settings) from None

    async def publish_retained(self, topic: str, payload: bytes) -> None:
        """Retained, QoS 1: a device that is offline gets it when it connects."""
        await self.publish(topic, payload, qos=1, retain=True)

    async def clear_retained(self, topic: str) -> None:
        """Take ``topic``'s retained message off the broker (an empty retained one)."""
        await self.publish_retained(topic, b"")

    async def next(self, timeout_s: float | None) -> aiomqtt.Message | None:
        """The next message, or ``None`` after ``timeout_s`` (``None``: wait for ever)."""
        if self.lost is not None and self._queue.empty():
            raise connect_error(self.lost, self.settings)
        try:
            if timeout_s is None:
                return await self._queue.get()
            async with asyncio.timeout(max(0.0, timeout_s)):
                return await self._queue.get()
        except TimeoutError:
            if self.lost is not None and self._queue.empty():
                raise connect_error(self.lost, self.settings) from None
            return None

    async def within(self, timeout_s: float) -> AsyncIterator[aiomqtt.Message]:
        """Each message that arrives before ``timeout_s`` from now has passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (remaining := deadline - loop.time()) > 0:
            message = await self.next(remaining)
            if message is None:
                return
            yield message

    async def sync(self, timeout_s: float = 2.0) -> list[aiomqtt.Message]:
        """Everything delivered up to now, retained messages of earlier subscriptions included."""
        token = uuid.uuid4().hex.encode()
        await self.subscribe([self.sync_topic])
        await self.publish(self.sync_topic, token, qos=1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        got: list[aiomqtt.Message] = []
        while True:
            message = await self.next(deadline - loop.time())
            if message is None:
                return got
            if message.topic.matches(self.sync_topic):
                if payload_bytes(message) == token:
                    return got
                continue
            got.append(message)
