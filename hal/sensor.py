"""The force sensor interface: a chip that delivers raw ADC conversions.

A backend only knows how to get the next conversion from its chip (real
HX711, pin-emulated HX711, or a simulated load cell).  Turning counts into
newtons, timestamping, glitch and fault detection live above it, in the
firmware's sampler, so every backend is checked by the same code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

HX711_MAX_COUNTS = 0x7FFFFF
HX711_MIN_COUNTS = -0x800000


@dataclass(frozen=True, slots=True)
class Calibration:
    """Linear map from ADC counts to newtons: ``force = (raw - offset) / counts_per_newton``."""

    offset_counts: float
    counts_per_newton: float

    def to_newtons(self, raw: int) -> float:
        return (raw - self.offset_counts) / self.counts_per_newton

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
