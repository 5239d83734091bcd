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
from hal.clock import Clock
from hal.sensor import ReadStep, SteppedSensor

log = logging.getLogger(__name__)

#: Set to "1" (tests only) to enable the signals below.
FAULT_INJECTION_ENV = "PRESSPOINT_FAULT_INJECTION"


class _DeadSensor(SteppedSensor):
    """A sensor whose driver blows up: the sampler dies on its next read (a thread's, or a step on the loop)."""

    def __init__(self, sample_rate_hz: float, clock: Clock) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.clock = clock

    def begin_read(self, timeout_s: float) -> float:
        raise SystemExit("fault injection: sampling thread killed")

    def step_read(self) -> ReadStep:
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
        sampler.sensor = _DeadSensor(sampler.sensor.sample_rate_hz, sampler.clock)

    loop.add_signal_handler(signal.SIGUSR1, stall_control_loop)
    loop.add_signal_handler(signal.SIGUSR2, kill_sampler)
