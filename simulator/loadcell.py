"""A simulated load cell: a ``ForceSensor`` that converts a force source to counts.

Conversions fall on slots ``origin + n / sample_rate_hz`` of the injected
clock, like an HX711 pacing itself; a slot whose force is ``None`` delivers
nothing (a dropout).  With a ``VirtualClock`` a read simply moves time to the
next slot, so sessions run as fast as the controller can take them.  It
reads in steps (a ``SteppedSensor``): in the real-time process the loop
steps it from timers at each slot, with no thread.
"""

from __future__ import annotations

import time
from typing import Protocol

from hal.clock import Clock
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, Calibration, LookAt, ReadStep, SteppedSensor

#: Fine resolution so simulated sessions keep the trace's forces to ~1e-5 N,
#: while 9 kgf (88 N) stays well inside the HX711's 24-bit range.
SIMULATED_CALIBRATION = Calibration(offset_counts=0.0, counts_per_newton=50_000.0)


class ForceSource(Protocol):
    def force_at(self, t: float) -> float | None: ...


class SimulatedLoadCell(SteppedSensor):
    """Counts from a ``ForceSource`` at the sample rate, on a clock."""

    def __init__(
        self,
        source: ForceSource,
        clock: Clock,
        *,
        sample_rate_hz: float = 80.0,
        calibration: Calibration = SIMULATED_CALIBRATION,
        origin: float | None = None,
    ) -> None:
        self.source = source
        self.clock = clock
        self.sample_rate_hz = sample_rate_hz
        self.calibration = calibration
        #: Time of slot 0: given, or the moment of the first read (a chip starts
        #: converting when powered, which is when its reader starts).
        self.origin: float | None = origin
        self._next_slot = 0
        self._deadline = -1.0
        self.conversions = 0
        #: CPU seconds (thread time) spent reading - simulated work a device's sensor does not do.
        self.cpu_s = 0.0

    def slot_time(self, n: int) -> float:
        if self.origin is None:
            self.origin = self.clock.now()
        return self.origin + n / self.sample_rate_hz

    def source_time(self) -> float | None:
        """The force source's time now (slot 0 is its 0); ``None`` before the first read."""
        return None if self.origin is None else self.clock.now() - self.origin

    def begin_read(self, timeout_s: float) -> float:
        self._deadline = self.clock.now() + timeout_s
        return min(self.slot_time(self._next_slot), self._deadline)

    def step_read(self) -> ReadStep:
        started_cpu = time.thread_time()
        try:
            return self._step()
        finally:
            self.cpu_s += time.thread_time() - started_cpu

    def _step(self) -> ReadStep:
        now, deadline = self.clock.now(), self._deadline
        while True:
            slot_t = self.slot_time(self._next_slot)
            if slot_t > deadline + 1e-9:
                return LookAt(deadline) if now < deadline else None
            if now < slot_t:
                return LookAt(slot_t)
            self._next_slot += 1
            force = self.source.force_at(slot_t - (self.origin or 0.0))
            if force is None:
                continue
            self.conversions += 1
            counts = self.calibration.to_counts(force)
            return max(HX711_MIN_COUNTS, min(HX711_MAX_COUNTS, counts))
