"""Load-cell calibration: tare, scale from a known mass, atomic write to the config.

Pure-ish functions over a ``ForceSensor`` and a ``Clock`` (so they run the
same on the device, over the pin emulator, and in virtual-time tests); the
``presspoint calibrate`` command in ``firmware/cli/hardware.py`` only wires
them up and prints.

Calibration maps counts to newtons as ``force = (raw - offset) / counts_per_newton``
(``hal.sensor.Calibration``); the offset is the steady reading with nothing on
the tip, the scale comes from one steady reading with a known mass on it.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.atomic import atomic_write_bytes
from config.device import DeviceConfig
from config.errors import InputFileError
from config.loader import describe_validation_error, read_toml
from config.units import STANDARD_GRAVITY
from hal.clock import Clock
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, ForceSensor

#: Default steadiness limit: standard deviation of the window, in counts.  An HX711 at
#: gain 128 and 80 SPS shows some tens of counts of noise; a hand on the tool, thousands.
DEFAULT_MAX_STD_COUNTS = 300.0
DEFAULT_WINDOW_S = 0.5


@dataclass(frozen=True, slots=True)
class SteadyReading:
    """Outcome of waiting for a steady reading."""

    passed: bool
    mean_counts: float | None
    std_counts: float | None
    samples: int
    missing: int
    waited_s: float
    message: str
    #: The steady window itself (empty when it failed).
    window: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class TareResult:
    passed: bool
    offset_counts: float | None
    std_counts: float | None
    message: str


@dataclass(frozen=True, slots=True)
class ScaleResult:
    passed: bool
    counts_per_newton: float | None
    loaded_counts: float | None
    force_n: float
    message: str


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    """Both steps; ``passed`` only when there is a complete calibration to store."""

    tare: TareResult
    scale: ScaleResult | None

    @property
    def passed(self) -> bool:
        return self.tare.passed and (self.scale is None or self.scale.passed)

    @property
    def offset_counts(self) -> float | None:
        return self.tare.offset_counts

    @property
    def counts_per_newton(self) -> float | None:
        return self.scale.counts_per_newton if self.scale is not None else None


def kg_to_newtons(mass_kg: float) -> float:
    """The weight of ``mass_kg`` under standard gravity (9.80665 m/s²)."""
    return mass_kg * STANDARD_GRAVITY


def _is_saturated(raw: int) -> bool:
    return raw >= HX711_MAX_COUNTS or raw <= HX711_MIN_COUNTS


def wait_steady(
    sensor: ForceSensor,
    clock: Clock,
    *,
    timeout_s: float,
    window_s: float = DEFAULT_WINDOW_S,
    max_std_counts: float = DEFAULT_MAX_STD_COUNTS,
    accept: Callable[[float], bool] | None = None,
) -> SteadyReading:
    """Read until the last ``window_s`` of readings has a std below ``max_std_counts``.

    ``accept(mean)`` can add a condition (e.g. "clearly loaded").  Saturated
    readings restart the window; so does a missing one (the window must be a
    contiguous stretch of the chip's output).  Gives up at ``timeout_s``.
    """
    period = 1.0 / sensor.sample_rate_hz
    size = max(3, round(window_s / period))
    window: deque[int] = deque(maxlen=size)
    start = clock.now()
    deadline = start + timeout_s
    samples = missing = saturated = 0
    best_std: float | None = None
    mean = std = 0.0
    while clock.now() < deadline:
        raw = sensor.read(min(2 * period, max(0.0, deadline - clock.now())))
        if raw is None:
            missing += 1
            window.clear()
            continue
        samples += 1
        if _is_saturated(raw):
            saturated += 1
            window.clear()
            continue
        window.append(raw)
        if len(window) < size:
            continue
        mean, std = window_stats(window)
        best_std = std if best_std is None else min(best_std, std)
        if std <= max_std_counts and (accept is None or accept(mean)):
            message = f"steady at {mean:.0f} counts (std {std:.1f})"
            return SteadyReading(True, mean, std, samples, missing, clock.now() - start, message, tuple(window))
    waited = clock.now() - start
    if samples == 0:
        why = "no readings from the sensor (check wiring and power)"
    elif saturated and best_std is None:
        why = f"all readings saturated ({saturated}) - overload or a wiring fault"
    elif best_std is None:
        why = f"too few contiguous readings ({missing} missing)"
    elif best_std > max_std_counts:
        why = f"not steady: best window std {best_std:.0f} counts > {max_std_counts:.0f}"
    else:
        why = f"steady at {mean:.0f} counts, but not the expected load"
    return SteadyReading(False, None, best_std, samples, missing, waited, f"gave up after {waited:.1f} s: {why}")


def window_stats(raws: Sequence[float]) -> tuple[float, float]:
    """Mean and (population) standard deviation of a window of readings."""
    mean = statistics.fmean(raws)
    return mean, statistics.pstdev(raws, mean)


def tare_window(raws: Sequence[int], *, max_std_counts: float = DEFAULT_MAX_STD_COUNTS) -> TareResult:
    """The zero offset from readings taken with nothing on the tip: their mean, if they are steady.

    The one tare rule: ``presspoint calibrate`` applies it to the steady
    window it waited for, the daemon to its last second of idle readings.
    """
    mean, std = window_stats(raws)
    if std > max_std_counts:
        return TareResult(False, None, std, f"tare failed: not steady: std {std:.0f} counts > {max_std_counts:.0f}")
    return TareResult(True, mean, std, f"tare: offset {mean:.1f} counts (std {std:.1f})")


def tare(
    sensor: ForceSensor,
    clock: Clock,
    *,
    timeout_s: float = 10.0,
    window_s: float = DEFAULT_WINDOW_S,
    max_std_counts: float = DEFAULT_MAX_STD_COUNTS,
) -> TareResult:
    """The zero offset: the mean of a steady window with nothing touching the tip."""
    steady = wait_steady(sensor, clock, timeout_s=timeout_s, window_s=window_s, max_std_counts=max_std_counts)
    if not steady.passed:
        return TareResult(False, None, steady.std_counts, "tare failed: " + steady.message)
    return tare_window(steady.window, max_std_counts=max_std_counts)


def scale_from_known_mass(
    sensor: ForceSensor,
    clock: Clock,
    offset_counts: float,
    mass_kg: float,
    *,
    timeout_s: float = 30.0,
    window_s: float = DEFAULT_WINDOW_S,
    max_std_counts: float = DEFAULT_MAX_STD_COUNTS,
    min_delta_counts: float | None = None,
) -> ScaleResult:
    """Counts per newton from a steady reading with ``mass_kg`` resting on the tip.

    Waits (up to ``timeout_s``) for a steady reading at least
    ``min_delta_counts`` (default: 10 × the steadiness limit) away from the
    offset, so the person has time to put the mass on.  A negative scale
    (load cell mounted the other way round) is valid.
    """
    if not mass_kg > 0:
        raise ValueError(f"the known mass must be positive, not {mass_kg!r} kg")
    force_n = kg_to_newtons(mass_kg)
    delta = 10 * max_std_counts if min_delta_counts is None else min_delta_counts
    steady = wait_steady(
        sensor,
        clock,
        timeout_s=timeout_s,
        window_s=window_s,
        max_std_counts=max_std_counts,
        accept=lambda mean: abs(mean - offset_counts) >= delta,
    )
    if not steady.passed or steady.mean_counts is None:
        return ScaleResult(False, None, None, force_n, f"scale failed ({mass_kg} kg): " + steady.message)
    cpn = (steady.mean_counts - offset_counts) / force_n
    return ScaleResult(
        True, cpn, steady.mean_counts, force_n, f"scale: {cpn:.2f} counts/N ({mass_kg} kg = {force_n:.3f} N)"
    )


def calibrate(
    sensor: ForceSensor,
    clock: Clock,
    *,
    mass_kg: float | None,
    tare_timeout_s: float = 10.0,
    mass_timeout_s: float = 30.0,
    window_s: float = DEFAULT_WINDOW_S,
    max_std_counts: float = DEFAULT_MAX_STD_COUNTS,
    on_tared: Callable[[TareResult], None] | None = None,
) -> CalibrationResult:
    """Tare, then (with ``mass_kg``) scale.  ``on_tared`` is the moment to ask for the mass."""
    tared = tare(sensor, clock, timeout_s=tare_timeout_s, window_s=window_s, max_std_counts=max_std_counts)
    if not tared.passed or mass_kg is None or tared.offset_counts is None:
        return CalibrationResult(tared, None)
    if on_tared is not None:
        on_tared(tared)
    scaled = scale_from_known_mass(
        sensor,
        clock,
        tared.offset_counts,
        mass_kg,
        timeout_s=mass_timeout_s,
        window_s=window_s,
        max_std_counts=max_std_counts,
    )
    return CalibrationResult(tared, scaled)


# --- writing the device config ------------------------------------------------------------------


def with_calibration(
    data: dict[str, Any], offset_counts: float, counts_per_newton: float, path: Path
) -> dict[str, Any]:
    """A copy of a device-config document with the calibration set, other keys untouched."""
    new = dict(data)
    hardware = new.get("hardware", {})
    if not isinstance(hardware, dict):
        raise InputFileError(path, "field 'hardware'", "must be a table")
    hardware = dict(hardware)
    calibration = hardware.get("calibration", {})
    if not isinstance(calibration, dict):
        raise InputFileError(path, "field 'hardware.calibration'", "must be a table")
    calibration = dict(calibration)
    calibration["offset_counts"] = round(float(offset_counts), 3)
    calibration["counts_per_newton"] = round(float(counts_per_newton), 6)
    hardware["calibration"] = calibration
    new["hardware"] = hardware
    return new


def write_calibration(path: Path, offset_counts: float, counts_per_newton: float) -> DeviceConfig:
    """Store the calibration in the device config at ``path``, atomically; return the new config.

    The file is edited in place with tomlkit, so its comments, order and
    layout survive (an installed /etc/presspoint/device.toml is commented).
    The result is validated before anything is written, so a config that
    would not load afterwards is never produced.
    """
    import tomlkit  # only writing a calibration needs it: every CLI start would pay for it

    data = read_toml(path)  # the same clear errors as every other reader
    with_calibration(data, offset_counts, counts_per_newton, path)  # checks the tables' types
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    hardware = document.setdefault("hardware", tomlkit.table())
    calibration = hardware.setdefault("calibration", tomlkit.table())
    calibration["offset_counts"] = round(float(offset_counts), 3)
    calibration["counts_per_newton"] = round(float(counts_per_newton), 6)
    try:
        config = DeviceConfig.model_validate(document.unwrap())
    except ValidationError as err:
        field, problem = describe_validation_error(err)
        raise InputFileError(path, f"field {field!r}", problem) from None
    atomic_write_bytes(path, tomlkit.dumps(document).encode("utf-8"))  # keeps mode and group
    return config
