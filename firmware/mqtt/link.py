"""The device's connection state and its log lines: state *changes* only, never one per attempt."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from config.mqtt import MqttSettings
from firmware.mqtt.connection import describe_error

log = logging.getLogger("presspoint.mqtt")


class LinkState:
    """Connected or not, and why not: logs connected, could not connect (once per reason), lost, recovered."""

    def __init__(self, settings: MqttSettings, pending: Callable[[], int]) -> None:
        self._settings = settings
        self._pending = pending
        self.broker = settings.display_url()
        self.connected = False
        self.problem: str | None = None  # why the last attempt failed, until one succeeds
        self._ever_connected = False
        self._down_since: float | None = None

    def on_connected(self) -> None:
        self.connected = True
        version = "v5" if self._settings.protocol == "5" else "v3.1.1"
        if not self._ever_connected:
            log.info("MQTT connected to %s (%s); %d messages to send", self.broker, version, self._pending())
        else:
            down = time.monotonic() - (self._down_since or time.monotonic())
            log.info("MQTT reconnected to %s after %.1f s; %d messages to send", self.broker, down, self._pending())
        self._ever_connected = True
        self._down_since = None
        self.problem = None

    def on_closed(self) -> None:
        """The connection ended cleanly (a stop)."""
        self.connected = False

    def on_failure(self, exc: BaseException, *, stopping: bool) -> None:
        """A connection attempt failed or a connection was lost; logs it if that is news."""
        try:
            self._report(exc, stopping=stopping)
        finally:
            self.connected = False

    def _report(self, exc: BaseException, *, stopping: bool) -> None:
        level, message = describe_error(exc, self._settings)
        if stopping:
            log.debug("MQTT connection to %s ended while stopping: %s", self.broker, message)
            return
        if self.connected:
            log.warning(
                "MQTT connection to %s lost (%s); %d messages kept in the outbox, reconnecting",
                self.broker,
                message,
                self._pending(),
            )
            self._down_since = time.monotonic()
        elif message != self.problem:
            log.log(
                level,
                "MQTT cannot connect to %s: %s; retrying (backoff up to %g s)",
                self.broker,
                message,
                self._settings.reconnect_max_s,
            )
            if self._down_since is None:
                self._down_since = time.monotonic()
        else:
            log.debug("MQTT still cannot connect to %s: %s", self.broker, message)
        self.problem = message
