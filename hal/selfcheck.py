"""Hardware self-check: sample rate, noise at rest, zero offset, saturation, motor pulse.

Each check returns a ``CheckItem`` with pass/fail and a message a person can
act on.  ``rate_matches`` is also what the daemon's start-up rate check
(``firmware/health/rate_check.py``) uses: a chip converting at 10/s while the config
says 80 (the RATE pin jumper) is the most common wiring fault and makes every
timing in a session wrong.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from hal.clock import Clock
from hal.haptics import Haptics
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, Calibration, ForceSensor

#: Measured rate within ±20 % of the config passes (the HX711's own oscillator varies a
#: few percent; 10 vs 80 SPS is a factor of eight).
RATE_TOLERANCE = 0.20
DEFAULT_NOISE_LIMIT_COUNTS = 300.0
#: How far the resting reading may drift from the calibrated offset.
DEFAULT_ZERO_TOLERANCE_N = 0.5
#: A resting reading beyond this fraction of full scale leaves too little headroom.
ZERO_HEADROOM_FRACTION = 0.5


@dataclass(frozen=True, slots=True)
class CheckItem:
    name: str
    passed: bool
    value: float | None
    unit: str
    message: str


@dataclass(slots=True)
class SelfcheckReport:
    items: list[CheckItem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.items)

    def item(self, name: str) -> CheckItem:
        for item in self.items:
            if item.name == name:
                return item
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "items": [asdict(item) for item in self.items]}


@dataclass(frozen=True, slots=True)
class RateMeasurement:
    measured_hz: float | None
    conversions: int
    timeouts: int


def measure_sample_rate(
    sensor: ForceSensor, clock: Clock, conversions: int, *, slowest_hz: float = 10.0
) -> RateMeasurement:
    """Time ``conversions`` consecutive reads; each waits long enough for the slowest chip rate.

    The rate comes from the time between the first and the last conversion,
    so the chip paces it, not the read timeout.  Waiting for the first one is
    allowed a settling time (a chip at 10/s settles in 400 ms); after that,
    timeouts count and three of them end the measurement.
    """
    timeout = 1.5 / min(slowest_hz, sensor.sample_rate_hz)
    stamps: list[float] = []
    timeouts = 0
    first_deadline = clock.now() + 6 / slowest_hz
    while len(stamps) < conversions and timeouts < 3:
        if sensor.read(timeout) is None:
            if stamps or clock.now() >= first_deadline:
                timeouts += 1
            continue
        stamps.append(clock.now())
    if len(stamps) < 2:
        return RateMeasurement(None, len(stamps), timeouts)
    return RateMeasurement((len(stamps) - 1) / (stamps[-1] - stamps[0]), len(stamps), timeouts)


def rate_matches(measured_hz: float, expected_hz: float) -> bool:
    """Within ±20 % of the configured rate (10 vs 80 is 87 % off; jitter is under 5 %)."""
    return abs(measured_hz - expected_hz) <= RATE_TOLERANCE * expected_hz


def check_sample_rate(
    sensor: ForceSensor, clock: Clock, expected_hz: float, *, conversions: int | None = None
) -> CheckItem:
    """Measured sample rate against the config (±20 %); names the RATE pin when it is off."""
    count = conversions if conversions is not None else max(10, round(expected_hz))
    got = measure_sample_rate(sensor, clock, count)
    if got.measured_hz is None:
        return CheckItem("sample_rate", False, None, "Hz",
                         f"no conversions from the HX711 ({got.timeouts} timeouts): "
                         "check DOUT/SCK wiring and power")
    ok = rate_matches(got.measured_hz, expected_hz)
    message = f"{got.measured_hz:.1f} conversions/s, config says {expected_hz:g}"
    if not ok:
        message += " - check the HX711 RATE pin (low = 10/s, high = 80/s) or sample_rate_hz"
    if got.timeouts:
        message += f" ({got.timeouts} timeouts)"
    return CheckItem("sample_rate", ok and not got.timeouts, got.measured_hz, "Hz", message)


@dataclass(frozen=True, slots=True)
class RestReadings:
    values: list[int]
    timeouts: int

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        return statistics.pstdev(self.values) if len(self.values) >= 2 else None


def read_at_rest(sensor: ForceSensor, conversions: int) -> RestReadings:
    """``conversions`` readings with nothing touching the tip (timeouts counted, not waited out)."""
    values: list[int] = []
    timeouts = 0
    timeout = 2.0 / sensor.sample_rate_hz
    while len(values) < conversions and timeouts < 3:
        raw = sensor.read(timeout)
        if raw is None:
            timeouts += 1
        else:
            values.append(raw)
    return RestReadings(values, timeouts)


def check_noise(rest: RestReadings, limit_counts: float,
                calibration: Calibration | None = None) -> CheckItem:
    std = rest.std
    if std is None:
        return CheckItem("noise", False, None, "counts", "not enough readings to measure noise")
    unsaturated = [v for v in rest.values if HX711_MIN_COUNTS < v < HX711_MAX_COUNTS]
    in_n = f" = {std / abs(calibration.counts_per_newton):.4f} N" if calibration else ""
    ok = std <= limit_counts and len(unsaturated) == len(rest.values)
    return CheckItem("noise", ok, std, "counts",
                     f"std {std:.1f} counts{in_n} over {len(rest.values)} readings at rest "
                     f"(limit {limit_counts:g})" + ("" if ok else " - too noisy: check shielding, "
                                                     "grounding, or that nothing touches the tip"))


def check_zero_offset(rest: RestReadings, calibration: Calibration | None,
                      tolerance_n: float = DEFAULT_ZERO_TOLERANCE_N) -> CheckItem:
    mean = rest.mean
    if mean is None:
        return CheckItem("zero_offset", False, None, "counts", "no readings at rest")
    headroom = abs(mean) <= ZERO_HEADROOM_FRACTION * HX711_MAX_COUNTS
    if calibration is None:
        return CheckItem("zero_offset", headroom, mean, "counts",
                         f"rest reading {mean:.0f} counts (not calibrated: run presspoint calibrate)"
                         + ("" if headroom else " - over half of full scale: check the load cell"))
    drift_n = (mean - calibration.offset_counts) / calibration.counts_per_newton
    ok = headroom and abs(drift_n) <= tolerance_n
    return CheckItem("zero_offset", ok, mean, "counts",
                     f"rest reading {mean:.0f} counts, {drift_n:+.3f} N from the calibrated zero "
                     f"(limit ±{tolerance_n:g} N)" + ("" if ok else " - re-tare or re-calibrate"))


def check_saturation(rest: RestReadings) -> CheckItem:
    saturated = sum(1 for v in rest.values if v >= HX711_MAX_COUNTS or v <= HX711_MIN_COUNTS)
    ok = bool(rest.values) and saturated == 0
    message = (f"{saturated} of {len(rest.values)} readings at the ADC limit"
               if rest.values else "no readings")
    if saturated:
        message += " - overload, a broken bridge wire, or the wrong gain"
    return CheckItem("saturation", ok, float(saturated), "readings", message)


def check_calibrated(calibration: Calibration | None) -> CheckItem:
    if calibration is None:
        return CheckItem("calibration", False, None, "",
                         "not calibrated: sessions will refuse to start; run presspoint calibrate")
    return CheckItem("calibration", True, calibration.counts_per_newton, "counts/N",
                     f"offset {calibration.offset_counts:.1f} counts, "
                     f"{calibration.counts_per_newton:.2f} counts/N")


def pulse_motor(motor: Haptics, clock: Clock, *, level: float = 1.0,
                duration_s: float = 0.2) -> CheckItem:
    """Drive the motor for ``duration_s`` and check the pin took the level and went off again.

    Whether it really vibrated only the person holding it can tell; the
    message says so.  The motor is off afterwards whatever happens.
    """
    pin = getattr(motor, "pin", None)
    try:
        motor.set_level(level)
        during = motor.level
        pin_during = float(pin.state) if pin is not None else during
        clock.sleep_until(clock.now() + duration_s)
    finally:
        motor.off()
    after = float(pin.state) if pin is not None else motor.level
    ok = math.isclose(pin_during, level, abs_tol=1e-3) and during == level and after == 0.0
    return CheckItem("motor_pulse", ok, pin_during, "duty",
                     f"motor pulsed at {level:.0%} for {duration_s:g} s, then off"
                     + (" - did you feel it?" if ok else
                        f" - pin read {pin_during:g} during, {after:g} after"))


def run_selfcheck(
    sensor: ForceSensor,
    motor: Haptics | None,
    clock: Clock,
    *,
    expected_rate_hz: float,
    calibration: Calibration | None,
    rate_conversions: int | None = None,
    rest_conversions: int | None = None,
    noise_limit_counts: float = DEFAULT_NOISE_LIMIT_COUNTS,
    zero_tolerance_n: float = DEFAULT_ZERO_TOLERANCE_N,
) -> SelfcheckReport:
    """Every check in order; each one is reported even when an earlier one failed."""
    report = SelfcheckReport()
    report.items.append(check_sample_rate(sensor, clock, expected_rate_hz,
                                          conversions=rate_conversions))
    rest = read_at_rest(sensor, rest_conversions or max(10, round(expected_rate_hz)))
    report.items.append(check_noise(rest, noise_limit_counts, calibration))
    report.items.append(check_zero_offset(rest, calibration, zero_tolerance_n))
    report.items.append(check_saturation(rest))
    report.items.append(check_calibrated(calibration))
    if motor is not None:
        report.items.append(pulse_motor(motor, clock))
    return report
