"""The device's connection loop: one client after another, with backoff, until the stop.

Each client carries the ``offline`` will and the device's packet and queue
limits; a connection that ends is told to ``TakeoverDetector`` (two devices
with one client id) and ``LinkState`` (the log lines), and the next attempt
waits a backoff delay.  ``abandon`` drops the connection being made or used
without a DISCONNECT, so the broker publishes the will.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiomqtt

from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.connected import ConnectedSession, ConnectionLost
from firmware.mqtt.connection import (
    DEVICE_MAX_PACKET_BYTES,
    DEVICE_MAX_QUEUED_MESSAGES,
    Backoff,
    BrokerConnection,
    reconnect_forever,
)
from firmware.mqtt.link import LinkState
from firmware.mqtt.options import PublisherOptions
from firmware.mqtt.takeover import TakeoverDetector


class DeviceConnector:
    """Connects ``session`` again and again; ``link`` says whether it is connected and why not."""

    def __init__(
        self,
        options: PublisherOptions,
        connection: BrokerConnection,
        will: aiomqtt.Will,
        session: ConnectedSession,
        stop_requested: Callable[[], bool],
    ) -> None:
        self._connection = connection
        self.link = LinkState(options.settings, options.source.pending)
        self._client_id = options.client_id
        self._will = will
        self._session = session
        self._backoff = Backoff.from_settings(options.settings, options.rng)
        self._stop_requested = stop_requested
        self._stopping: asyncio.Event | None = None
        self._current: AdaptedClient | None = None  # the connection being made or used, if any
        self.takeover = TakeoverDetector()  # .count: times another client with our client id took over

    async def run(self, stopping: asyncio.Event) -> None:
        """Connect, run the session, and reconnect with backoff, until ``stopping``."""
        self._stopping = stopping
        await reconnect_forever(self._connect_once, self._on_failure, stopping, self._backoff)

    def abandon(self) -> None:
        """Drop the connection being made or used, if any (no DISCONNECT: the broker sends the will)."""
        client, self._current = self._current, None
        if client is not None:
            client.abandon()

    async def _connect_once(self, backoff: Backoff) -> None:
        assert self._stopping is not None
        client = self._current = self._connection.client(
            self._client_id,
            will=self._will,
            logger=logging.getLogger("presspoint.mqtt.paho"),
            max_packet_bytes=DEVICE_MAX_PACKET_BYTES,
            max_queued_messages=DEVICE_MAX_QUEUED_MESSAGES,
        )
        self.takeover.connecting()
        try:
            async with client:
                self.takeover.connected()
                self.link.on_connected()
                backoff.reset()
                await self._session.run(client, self._stopping)
            self.link.on_closed()
        except Exception as exc:
            if not self._stop_requested():
                self.takeover.raise_if_takeover(exc, client.disconnect_code)
            raise
        finally:
            self._session.ended()
            if self._current is client:
                self._current = None

    def _on_failure(self, exc: Exception) -> bool:
        if isinstance(exc, ConnectionLost):
            cause: BaseException = exc.__cause__ or exc
        elif isinstance(exc, aiomqtt.MqttError):
            cause = exc
        else:
            return False  # a bug: Publisher.run raises it
        if not self._stop_requested():
            self.takeover.back_off(cause, self._backoff)
        self.link.on_failure(cause, stopping=self._stop_requested())
        return True
