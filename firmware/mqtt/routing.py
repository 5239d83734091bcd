"""Incoming messages to the handlers subscribed to their topic; a failing handler is logged, never fatal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiomqtt

from config.errors import one_line

log = logging.getLogger("presspoint.mqtt")

MessageHandler = Callable[[aiomqtt.Message], Awaitable[None] | None]


class Router:
    """Topic filters and their handlers, plus Home Assistant's ``online`` announcement."""

    def __init__(
        self,
        ha_status: str,
        on_ha_online: Callable[[], None],
        *,
        subscribe_ha: bool,
        max_payload_bytes: int | None = None,
    ) -> None:
        self._ha_status = ha_status
        self._max_payload_bytes = max_payload_bytes  # larger messages reach no handler
        self._subscribe_ha = subscribe_ha  # False: Home Assistant discovery is off
        self._on_ha_online = on_ha_online
        self._handlers: list[tuple[str, MessageHandler]] = []

    def add(self, topic_filter: str, handler: MessageHandler) -> None:
        self._handlers.append((topic_filter, handler))

    def filters(self) -> list[str]:
        """Every filter to subscribe to on connect, each once, in the order added."""
        filters = [f for f, _ in list(self._handlers)]
        if self._subscribe_ha:
            filters.append(self._ha_status)
        return list(dict.fromkeys(filters))

    async def run(self, client: aiomqtt.Client) -> None:
        """Deliver messages until the connection ends (then aiomqtt raises ``MqttError``)."""
        async for message in client.messages:
            try:
                await self._deliver(message)
            except Exception as exc:  # a bad message or handler never stops publishing
                log.error("MQTT message on %s not handled: %s", message.topic, one_line(exc))

    async def _deliver(self, message: aiomqtt.Message) -> None:
        limit = self._max_payload_bytes
        size = len(message.payload) if isinstance(message.payload, bytes | bytearray | str) else 0
        if limit is not None and size > limit:  # a broker that ignored our Maximum Packet Size, or MQTT 3.1.1
            log.warning("MQTT message on %s dropped: %d bytes, the limit is %d", message.topic, size, limit)
            return
        if message.topic.matches(self._ha_status) and message.payload in (b"online", "online"):
            self._on_ha_online()
        for topic_filter, handler in self._handlers:
            if message.topic.matches(topic_filter):
                result = handler(message)
                if result is not None:
                    await result
