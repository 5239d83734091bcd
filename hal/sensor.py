"""The force sensor interface: a chip that delivers raw ADC conversions.

A backend only knows how to get the next conversion from its chip (real
HX711, pin-emulated HX711, or a simulated load cell).  A ``SteppedSensor``
can also be read without blocking at all - ``begin_read``, then
``step_read`` at the moments it asks for - so the real-time process reads
it from loop timers, with no thread of its own (``realtime/loop_reads.py``);
that suits backends whose reads never bit-bang (SPI, the simulated load cell).  Turning counts into
newtons, timestamping, glitch and fault detection live above it, in the
firmware's sampler, so every backend is checked by the same code.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from hal.clock import Clock

HX711_MAX_COUNTS = 0x7FFFFF
HX711_MIN_COUNTS = -0x800000


@dataclass(frozen=True, slots=True)
class Calibration:
    """Linear map from ADC counts to newtons: ``force = (raw - offset) / counts_per_newton``.

    Refused at construction unless every 24-bit reading maps to a finite force
    (finite offset, finite non-zero scale not so small that the quotient
    overflows), so a bad calibration fails at start-up, not as 0 N or inf N
    in the middle of a session.  The config applies tighter, physical bounds.
    """

    offset_counts: float
    counts_per_newton: float

    def __post_init__(self) -> None:
        span = HX711_MAX_COUNTS - HX711_MIN_COUNTS + abs(self.offset_counts)
        if not (math.isfinite(self.offset_counts) and math.isfinite(self.counts_per_newton)):
            raise ValueError(f"calibration must be finite, not {self.offset_counts!r}, {self.counts_per_newton!r}")
        if self.counts_per_newton == 0 or not math.isfinite(span / self.counts_per_newton):
            raise ValueError(f"counts_per_newton {self.counts_per_newton!r} cannot convert HX711 readings")

    def to_newtons(self, raw: int) -> float:
        """Newtons for ``raw``; a non-finite result (a reading outside 24 bits) is a ``SensorError``."""
        try:
            force = (raw - self.offset_counts) / self.counts_per_newton
        except OverflowError:
            force = math.inf
        if not math.isfinite(force):
            raise SensorError(f"reading {raw} converts to a non-finite force ({force})")
        return force

    def to_counts(self, force_n: float) -> int:
        return round(force_n * self.counts_per_newton + self.offset_counts)


class SensorError(Exception):
    """The sensor backend cannot deliver readings at all (chip absent, bus error)."""


class ForceSensor(ABC):
    """A source of raw load-cell conversions, paced by the chip itself."""

    #: Nominal conversions per second (10 or 80 for an HX711).
    sample_rate_hz: float

    @abstractmethod
    def read(self, timeout_s: float) -> int | None:
        """Wait for the next conversion and return it as signed counts.

        Waits at most ``timeout_s`` seconds on the sensor's clock and returns
        ``None`` when no conversion was ready in time.  Never spins forever.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release pins or files; the default backend holds none."""

    def __enter__(self) -> ForceSensor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LookAt:
    """A stepped read's answer "not yet": step again at ``at`` on the sensor's clock."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def __repr__(self) -> str:
        return f"LookAt({self.at!r})"


#: One step of a read: the reading (signed counts), ``None`` (timed out), or when to step again.
ReadStep = int | None | LookAt


class SteppedSensor(ForceSensor):
    """A sensor read in steps that never block: ``begin_read``, then ``step_read`` when asked.

    ``read`` is the blocking driver of those steps: it sleeps on ``clock``
    until each moment a step asks for.  A backend may give a faster one of
    its own, as long as both follow the same pacing.
    """

    clock: Clock

    @abstractmethod
    def begin_read(self, timeout_s: float) -> float:
        """Start waiting (at most ``timeout_s``) for the next conversion; returns when to step first.

        No I/O: it only plans.  ``SensorError`` when the sensor is closed.
        """

    @abstractmethod
    def step_read(self) -> ReadStep:
        """Look once (a bus transfer or two, never a sleep): the reading, ``None`` at the deadline, or ``LookAt``."""

    def read(self, timeout_s: float) -> int | None:
        self.begin_read(timeout_s)
        clock = self.clock
        while True:
            step = self.step_read()
            if not isinstance(step, LookAt):
                return step
            clock.sleep_until(step.at)
