"""From raw conversions to timestamped samples the session core can trust.

The sampler is the one place that stamps time on readings, converts counts to
newtons and classifies what the sensor delivered:

* ``Sample``      - a reading, passed on as it is with its own timestamp;
* ``NoSample``    - nothing arrived within one sample period (the core decides
                    when a gap becomes a fault: more than three periods);
* ``SensorFault`` - a saturated conversion (0x7FFFFF / -0x800000), a
                    reading that converts to no finite force, or a sensor
                    backend that raised ``SensorError``.

Every reading reaches the safety rules: none is removed, delayed or smoothed
here, so a flickering or over-range sensor aborts on the reading that shows
it.  With ``max_jump_n`` set, readings that look implausible (see
``GlitchCounter``) are only counted, in ``glitches``, for diagnostics.

``next`` blocks on the sensor (the sampling thread, virtual time);
``begin``/``step`` take the same event in steps that never block, for a
sensor that can be read so (the real-time loop's timers): one classifier for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.clock import Clock
from hal.sensor import (
    HX711_MAX_COUNTS,
    HX711_MIN_COUNTS,
    Calibration,
    ForceSensor,
    LookAt,
    SensorError,
    SteppedSensor,
)


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


class GlitchCounter:
    """Counts isolated implausible readings; it never changes what is delivered.

    A reading that jumps more than ``max_jump_n`` from the last confirmed one
    is a suspect; when the next reading does not confirm it (differs from it
    by more than ``max_jump_n`` too), it counts as a glitch.  With no next
    reading to judge by (a gap, a fault) the suspect is forgotten uncounted.
    """

    __slots__ = ("_confirmed", "_suspect", "count", "max_jump_n")

    def __init__(self, max_jump_n: float) -> None:
        self.max_jump_n = max_jump_n
        self.count = 0
        self._confirmed: float | None = None
        self._suspect: float | None = None

    def reading(self, force_n: float) -> None:
        suspect, self._suspect = self._suspect, None
        if suspect is not None:
            if abs(force_n - suspect) <= self.max_jump_n:
                self._confirmed = suspect
            else:
                self.count += 1
        confirmed = self._confirmed
        if confirmed is not None and not abs(force_n - confirmed) <= self.max_jump_n:
            self._suspect = force_n
        else:
            self._confirmed = force_n

    def no_reading(self) -> None:
        self._suspect = None


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
        self._glitches = None if max_jump_n is None else GlitchCounter(max_jump_n)
        #: A fault ``begin`` met, for the next ``step`` to deliver.
        self._fault: SensorFault | None = None

    @property
    def glitches(self) -> int:
        """Isolated implausible readings seen so far (delivered all the same)."""
        return 0 if self._glitches is None else self._glitches.count

    def next(self) -> SamplerEvent:
        """The next event; blocks for at most about one sample period."""
        try:
            raw = self.sensor.read(self.period_s)
        except SensorError as err:
            return self._counted(SensorFault(self.clock.now(), f"sensor error: {err}"))
        return self._counted(self._classify(raw))

    # -- the same, in steps that never block (a ``SteppedSensor``, read from loop timers) ----------

    def begin(self) -> float:
        """Start taking the next event without blocking; returns when to ``step`` first.

        ``TypeError`` for a sensor whose reads block (it needs a thread).
        """
        sensor = self.sensor
        if not isinstance(sensor, SteppedSensor):
            raise TypeError(f"{type(sensor).__name__} reads block: it cannot be read in steps")
        try:
            return sensor.begin_read(self.period_s)
        except SensorError as err:
            now = self.clock.now()
            self._fault = SensorFault(now, f"sensor error: {err}")
            return now

    def step(self) -> SamplerEvent | LookAt:
        """One step of the event ``begin`` started: the event, or when to step again."""
        fault, self._fault = self._fault, None
        if fault is not None:
            return self._counted(fault)
        sensor = self.sensor
        if not isinstance(sensor, SteppedSensor):
            raise TypeError(f"{type(sensor).__name__} reads block: it cannot be read in steps")
        try:
            raw = sensor.step_read()
        except SensorError as err:
            return self._counted(SensorFault(self.clock.now(), f"sensor error: {err}"))
        if isinstance(raw, LookAt):
            return raw
        return self._counted(self._classify(raw))

    # -- classifying -----------------------------------------------------------------------------

    def _counted(self, event: SamplerEvent) -> SamplerEvent:
        if self._glitches is not None:
            if isinstance(event, Sample):
                self._glitches.reading(event.force_n)
            else:
                self._glitches.no_reading()
        return event

    def _classify(self, raw: int | None) -> SamplerEvent:
        t = self.clock.now()
        if raw is None:
            return NoSample(t)
        if raw >= HX711_MAX_COUNTS or raw <= HX711_MIN_COUNTS:
            return SensorFault(t, f"saturated reading {raw:#x}")
        try:
            force_n = self.calibration.to_newtons(raw)
        except SensorError as err:  # a reading no calibration can convert: the thread goes on
            return SensorFault(t, f"unconvertible reading: {err}")
        return Sample(t, force_n, raw)
