"""MQTT publishing for ``presspoint simulate`` and ``presspoint run`` (the CLI's hook).

``firmware.cli.main`` calls ``make_publishing(args, device)``; it returns ``None``
when no broker is configured (no ``--broker``, ``mqtt.enabled = false``).
The returned object's ``sink`` goes to the session engine; after the session
``flush_and_report()`` waits a bounded time for the outbox to empty and prints
one line on stderr saying what was sent and what is left.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from config.device import DeviceConfig
from firmware.mqtt.publisher import FlushReport
from firmware.mqtt.service import MqttService
from firmware.realtime.sinks import SessionSink

DEFAULT_FLUSH_TIMEOUT_S = 10.0


class Publishing:
    """A started ``MqttService`` for one CLI run."""

    def __init__(self, service: MqttService, *, flush_timeout_s: float, out: TextIO = sys.stderr) -> None:
        self.service = service
        self.sink: SessionSink = service.sink
        self._flush_timeout_s = flush_timeout_s
        self._out = out
        self.report: FlushReport | None = None

    def flush_and_report(self) -> None:
        try:
            self.report = self.service.flush(self._flush_timeout_s)
        finally:
            self.service.close()
        print(self.report.describe(self.service.settings.display_url()), file=self._out)


def make_publishing(args: argparse.Namespace, device: DeviceConfig) -> Publishing | None:
    """The publishing for a CLI session, or ``None`` when MQTT is not configured."""
    settings = device.mqtt
    broker = getattr(args, "broker", None)
    if broker:
        settings = settings.with_broker_url(broker)
    if not settings.enabled:
        return None
    service = MqttService(device, settings)
    recovered = service.start()
    if recovered:
        print(
            f"presspoint: closed {len(recovered)} interrupted session(s) from an earlier run: {', '.join(recovered)}",
            file=sys.stderr,
        )
    timeout = getattr(args, "flush_timeout", None)
    return Publishing(service, flush_timeout_s=DEFAULT_FLUSH_TIMEOUT_S if timeout is None else float(timeout))
