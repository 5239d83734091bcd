"""Latest-value state of the device: availability, ``status/info`` and Home Assistant discovery.

All retained, QoS 1, and outside the outbox: they are state, not history.
Last will ``offline`` on ``status``; on connect ``online``, then ``status/info``
and the discovery configs, again whenever Home Assistant says ``online``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiomqtt

from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.options import PublisherOptions
from firmware.mqtt.wakeup import ThreadSafeEvent
from firmware.protocol.payloads import DeviceStatus, utc_now_iso
from firmware.protocol.topics import ha_discovery_configs

log = logging.getLogger("presspoint.mqtt")


class DeviceState:
    """What the device says about itself; changes are cheap and thread-safe, publishing is rate-limited."""

    def __init__(self, options: PublisherOptions) -> None:
        self._settings = options.settings
        self._topics = options.topics
        self._source = options.source
        self._firmware_version = options.firmware_version
        self._retained: dict[str, bytes] = {}
        self._status: dict[str, Any] = {"calibrated": options.calibrated}
        self._status_version = 1
        self._rediscover = True
        self._refusal_logged: set[str] = set()
        self._wakeup = ThreadSafeEvent()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Make the asyncio objects, on the loop that runs the publisher."""
        self._wakeup.bind(loop)

    def will(self) -> aiomqtt.Will:
        """``offline`` (retained), published by the broker when the connection drops."""
        return aiomqtt.Will(self._topics.status, b"offline", qos=1, retain=True)

    def set_retained(self, topic: str, payload: bytes | None) -> None:
        """Latest-value state on ``topic``; ``None`` clears it (an empty retained payload)."""
        self._retained[topic] = payload if payload is not None else b""
        self._wake()

    def update_status(self, **fields: Any) -> None:
        """Change fields of ``status/info``; a change of ``force_n`` alone waits for the next one."""
        changed = {k for k, v in fields.items() if self._status.get(k) != v}
        if not changed:
            return
        self._status.update(fields)
        self._status_version += 1
        if changed - {"force_n"}:
            self._wake()

    def rediscover(self) -> None:
        """Home Assistant (re)started: send the discovery configs again."""
        self._rediscover = True
        self._wake()

    def forget_refusals(self) -> None:
        """The broker accepts publishes again: log a refused state topic again next time."""
        self._refusal_logged.clear()

    def _wake(self) -> None:
        self._wakeup.set()

    def _status_payload(self) -> bytes:
        status = DeviceStatus(
            device_id=self._topics.device_id,
            firmware_version=self._firmware_version,
            calibrated=bool(self._status.get("calibrated", False)),
            session_id=self._status.get("session_id"),
            phase=self._status.get("phase"),
            force_n=self._status.get("force_n"),
            last_session_id=self._status.get("last_session_id"),
            last_outcome=self._status.get("last_outcome"),
            refused=self._status.get("refused"),
            measured_rate_hz=self._status.get("measured_rate_hz"),
            plan_source=self._status.get("plan_source"),
            plan_version=self._status.get("plan_version"),
            outbox_pending=self._source.pending(),
            outbox_dropped=self._source.dropped_batches(),
            updated_at=utc_now_iso(),
        )
        return status.model_dump_json(by_alias=True).encode()

    async def run(self, client: AdaptedClient, slots: asyncio.Semaphore) -> None:
        """Publish status/info and retained state on connect and when they change."""
        wakeup = self._wakeup.event
        assert wakeup is not None
        sent_status = 0
        sent_retained: dict[str, bytes] = {}
        discovery = (
            ha_discovery_configs(self._topics, firmware_version=self._firmware_version)
            if self._settings.ha_discovery
            else {}
        )
        self._rediscover = True
        while True:
            wakeup.clear()
            if self._rediscover:
                self._rediscover = False
                sent_status = 0
                for topic, payload in discovery.items():
                    await self.publish(client, slots, topic, payload)
            version = self._status_version
            if version != sent_status:
                await self.publish(client, slots, self._topics.status_info, self._status_payload())
                sent_status = version
            for topic, payload in list(self._retained.items()):
                if sent_retained.get(topic) != payload:
                    await self.publish(client, slots, topic, payload)
                    sent_retained[topic] = payload
            with contextlib.suppress(TimeoutError):  # not wait_for: see connection.wait_or_stop
                async with asyncio.timeout(self._settings.state_min_interval_s or None):
                    await wakeup.wait()
            await asyncio.sleep(self._settings.state_min_interval_s)

    async def publish_availability(self, client: AdaptedClient, slots: asyncio.Semaphore, payload: bytes) -> None:
        """``online`` or ``offline`` on ``status`` (the will says ``offline`` when the connection drops)."""
        await self.publish(client, slots, self._topics.status, payload)

    async def publish(self, client: AdaptedClient, slots: asyncio.Semaphore, topic: str, payload: bytes) -> None:
        """One retained QoS 1 state message; a refusal is logged once per topic."""
        async with slots:
            reason = await client.publish_checked(topic, payload, 1, True, None, self._settings.publish_timeout_s)
        if reason is not None and topic not in self._refusal_logged:
            self._refusal_logged.add(topic)
            log.error(
                "MQTT broker refused publish to %r: %s (reason %d); check the broker ACL",
                topic,
                reason,
                reason.value,
            )
