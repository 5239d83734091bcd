"""Test-only faults for the real daemon, so the watchdog's reaction can be checked end to end.

With ``PRESSPOINT_FAULT_INJECTION=1``, SIGUSR1 stalls the control loop and
SIGUSR2 kills the sampling thread.  Each fault says so on the notify socket
(``STATUS=fault injection: ...``) as it strikes, in order with the pings, so a
test can tell the pings sent before it from those after it without a clock.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from firmware.device.sdnotify import Notifier
from firmware.realtime.sampler import Sampler
from hal.sensor import ForceSensor

log = logging.getLogger(__name__)

#: Set to "1" (tests only) to enable the signals below.
FAULT_INJECTION_ENV = "PRESSPOINT_FAULT_INJECTION"


class _DeadSensor(ForceSensor):
    """A sensor whose driver blows up: the sampling thread dies on its next read."""

    def __init__(self, sample_rate_hz: float) -> None:
        self.sample_rate_hz = sample_rate_hz

    def read(self, timeout_s: float) -> int | None:
        raise SystemExit("fault injection: sampling thread killed")


def install_fault_injection(loop: asyncio.AbstractEventLoop, sampler: Sampler, notifier: Notifier) -> None:
    log.warning(
        "fault injection enabled (%s=1): SIGUSR1 stalls the loop, SIGUSR2 kills the sampler", FAULT_INJECTION_ENV
    )

    def stall_control_loop() -> None:
        log.warning("fault injection: stalling the control loop")
        notifier.status("fault injection: stalling the control loop")
        time.sleep(3600)

    def kill_sampler() -> None:
        log.warning("fault injection: killing the sampling thread")
        notifier.status("fault injection: killing the sampling thread")
        sampler.sensor = _DeadSensor(sampler.sensor.sample_rate_hz)

    loop.add_signal_handler(signal.SIGUSR1, stall_control_loop)
    loop.add_signal_handler(signal.SIGUSR2, kill_sampler)
