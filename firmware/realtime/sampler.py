"""From raw conversions to timestamped samples the session core can trust.

The sampler is the one place that stamps time on readings, converts counts to
newtons and classifies what the sensor delivered:

* ``Sample``      - a good reading;
* ``NoSample``    - nothing arrived within one sample period (the core decides
                    when a gap becomes a fault: more than three periods);
* ``SensorFault`` - a saturated conversion (0x7FFFFF / -0x800000), or a
                    sensor backend that raised.

Optional glitch rejection (on for real hardware): a reading that jumps more
than ``max_jump_n`` from the last good one is held back one sample.  If the
next reading confirms it, both are passed on with their own timestamps (so
the safety decisions and their times are unchanged, only one period later in
wall time); if the next reading returns to the old level, the lone reading was
a glitch: it is counted and dropped, never smoothed into the force.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.clock import Clock
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, Calibration, ForceSensor, SensorError


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    force_n: float
    raw: int


@dataclass(frozen=True, slots=True)
class NoSample:
    t: float


@dataclass(frozen=True, slots=True)
class SensorFault:
    t: float
    detail: str


SamplerEvent = Sample | NoSample | SensorFault


class Sampler:
    """Pulls conversions from a ``ForceSensor`` and classifies them."""

    def __init__(
        self,
        sensor: ForceSensor,
        calibration: Calibration,
        clock: Clock,
        *,
        max_jump_n: float | None = None,
    ) -> None:
        self.sensor = sensor
        self.calibration = calibration
        self.clock = clock
        self.period_s = 1.0 / sensor.sample_rate_hz
        self.max_jump_n = max_jump_n
        self.glitches = 0
        self._last_good: float | None = None
        self._held: Sample | None = None
        self._pending: list[SamplerEvent] = []

    def next(self) -> SamplerEvent:
        """The next event; blocks for at most about one sample period."""
        if self._pending:
            return self._pending.pop(0)
        try:
            raw = self.sensor.read(self.period_s)
        except SensorError as err:
            return SensorFault(self.clock.now(), f"sensor error: {err}")
        t = self.clock.now()
        if raw is None:
            return self._release_held_or(NoSample(t))
        if raw >= HX711_MAX_COUNTS or raw <= HX711_MIN_COUNTS:
            return SensorFault(t, f"saturated reading {raw:#x}")
        sample = Sample(t, self.calibration.to_newtons(raw), raw)
        if self.max_jump_n is None:
            return sample
        return self._filter(sample)

    def _release_held_or(self, event: SamplerEvent) -> SamplerEvent:
        held, self._held = self._held, None
        if held is None:
            return event
        # No next reading to judge by: pass the held one on (the safe side).
        self._last_good = held.force_n
        self._pending.append(event)
        return held

    def _filter(self, sample: Sample) -> SamplerEvent:
        assert self.max_jump_n is not None
        held = self._held
        if held is not None:
            self._held = None
            if abs(sample.force_n - held.force_n) <= self.max_jump_n:
                self._last_good = sample.force_n
                self._pending.append(sample)
                return held
            self.glitches += 1
            # Judge the new reading against the last good one.
        last = self._last_good
        if last is not None and abs(sample.force_n - last) > self.max_jump_n:
            self._held = sample
            return NoSample(sample.t)
        self._last_good = sample.force_n
        return sample
