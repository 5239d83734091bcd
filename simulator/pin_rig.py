"""The whole HAL over the HX711 emulator: for ``presspoint simulate --pins`` and the tests.

force (N) -> ``Calibration.to_counts`` -> emulated HX711 chip -> the real
sensor backend -> counts back, which the firmware's sampler converts with
the same calibration.  So a session over the rig sees the same forces as
one over the simulated load cell, plus whatever the hardware path really
does (quantisation, saturation, timing).  Motor and both buttons are on mock
pins: the start/stop button on ``pins.button``, the second one on
``pins.stop_button`` with its configured role, or - when the config has none -
a ``less_more`` button on ``SECOND_BUTTON_PIN``, so a trace's check-ins go
through a pin too.

Two rigs, one chip model, as the two backends: ``build_pin_rig`` puts the
chip on mock pins under the bit-banging ``HX711Sensor`` (``hx711-gpio``);
``build_spi_rig`` puts it behind the SPI front under ``HX711SpiSensor``
(``hx711-spi``).  ``build_emulated_rig`` picks by ``hardware.backend``.

Timing: the chip's conversions fall at ``wake + (4 + k) / rate`` (the
datasheet's settling, then one per period); the rig returns with the chip
settled, at its first conversion.  On a ``VirtualClock`` each GPIO read
finishes 52 µs (gain 128) or 56 µs (gain 64) of virtual time after its
conversion, each SPI read 128 µs (an 8-bit probe and a 56-bit transfer at 500 kHz).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar, Unpack

from gpiozero.pins.mock import MockFactory, MockPWMPin

from config.device import DEFAULT_HARDWARE_BACKEND, SECOND_BUTTON_PIN, HardwareSettings
from config.errors import PresspointError
from hal.calibrate import kg_to_newtons
from hal.clock import Clock
from hal.factory import (
    HX711,
    build_button,
    build_hx711_gpio_sensor,
    build_hx711_spi_sensor,
    build_motor,
    build_stop_button,
)
from hal.gpio_buttons import GpioButton
from hal.gpio_haptics import PwmMotor
from hal.hx711_spi import HX711SpiSensor
from hal.sensor import Calibration
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

if TYPE_CHECKING:  # built by ``hal.factory`` for the GPIO backend only, which imports it then
    from hal.hx711_adapter import HX711Sensor

ForceSource = Callable[[float], float | None]
SensorT = TypeVar("SensorT", "HX711Sensor", HX711SpiSensor, HX711)


@dataclass
class PinRig(Generic[SensorT]):
    """Emulated chip, real sensor backend and PWM motor, on one ``MockFactory``."""

    factory: MockFactory
    chip: HX711Chip
    sensor: SensorT
    motor: PwmMotor
    button: GpioButton
    #: The second button (``stop`` or ``less_more``, see the module docstring).
    second_button: GpioButton
    owns_factory: bool = True
    #: The SPI front the sensor talks to (``build_spi_rig``); ``None`` on the pins.
    spi: HX711SpiFront | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def buttons(self) -> list[GpioButton]:
        """Both buttons: start/stop first."""
        return [self.button, self.second_button]

    @property
    def motor_pin(self) -> Any:
        """The motor's ``MockPWMPin``: ``states`` is the PWM level history."""
        return self.motor.pin

    def press_button(self) -> None:
        """A short press of the start/stop button on its mock pin (pull-up: low = pressed)."""
        pin = self.button.pin
        pin.drive_low()
        pin.drive_high()

    def close(self) -> None:
        """Motor off and closed, sensor and button closed, chip detached.  Idempotent.

        A factory the rig made itself is reset too.
        """
        if self._closed:
            return
        self._closed = True
        try:
            self.motor.close()
        finally:
            try:
                self.sensor.close()
                self.button.close()
                self.second_button.close()
            finally:
                self.chip.close()
                if self.owns_factory:
                    self.factory.reset()

    def __enter__(self) -> PinRig[SensorT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def counts_source(force_source: ForceSource, calibration: Calibration, gain: int) -> Callable[[float], int | None]:
    """Newtons -> the chip's input in gain-128 counts, such that it outputs ``to_counts(force)``."""
    scale = 128 // gain

    def source(t: float) -> int | None:
        force = force_source(t)
        if force is None:
            return None
        return calibration.to_counts(force) * scale

    return source


def _from_first_call(source: ForceSource) -> ForceSource:
    """``source`` on a time axis starting at the first moment asked for (conversion 0)."""
    origin: list[float] = []

    def shifted(t: float) -> float | None:
        if not origin:
            origin.append(t)
        return source(t - origin[0])

    return shifted


class RigOptions(TypedDict, total=False):
    """How a rig is wired and paced (each optional; see ``build_pin_rig``)."""

    hardware: HardwareSettings | None
    sample_rate_hz: float
    factory: MockFactory | None
    relative_time: bool


def build_pin_rig(
    force_source: ForceSource, calibration: Calibration, clock: Clock, **options: Unpack[RigOptions]
) -> PinRig[HX711Sensor]:
    """Set up the GPIO rig: chip on the configured DOUT/SCK pins, ``HX711Sensor`` over it, motor, buttons.

    ``force_source(t)`` gives newtons at clock time ``t`` (``None``: the chip
    delivers no conversion).  Pass ``hardware`` for pins and gain (defaults:
    the device config defaults), ``sample_rate_hz`` (80), a ``factory`` to
    share (else the rig makes and resets its own).  With ``relative_time``
    the source gets seconds since the chip's first conversion instead (like
    ``SimulatedLoadCell.force_at``), so the same source drives both backends
    sample for sample.  The caller owns ``close()``.
    """
    rig: PinRig[Any] = _assemble(force_source, calibration, clock, spi=False, **options)
    return rig


def build_spi_rig(
    force_source: ForceSource, calibration: Calibration, clock: Clock, **options: Unpack[RigOptions]
) -> PinRig[HX711SpiSensor]:
    """Like ``build_pin_rig``, with the chip behind the SPI front under ``HX711SpiSensor``."""
    rig: PinRig[Any] = _assemble(force_source, calibration, clock, spi=True, **options)
    return rig


def build_emulated_rig(
    force_source: ForceSource, calibration: Calibration, clock: Clock, **options: Unpack[RigOptions]
) -> PinRig[HX711]:
    """The rig of ``hardware.backend`` (``hx711-gpio``: pins; otherwise the default, SPI)."""
    hw = options.get("hardware") or HardwareSettings()
    backend = hw.backend if hw.backend != "simulated" else DEFAULT_HARDWARE_BACKEND
    return _assemble(force_source, calibration, clock, spi=backend != "hx711-gpio", **options)


def _assemble(
    force_source: ForceSource,
    calibration: Calibration,
    clock: Clock,
    *,
    spi: bool,
    hardware: HardwareSettings | None = None,
    sample_rate_hz: float = 80.0,
    factory: MockFactory | None = None,
    relative_time: bool = False,
) -> PinRig[Any]:
    """The chip (on its pins, or behind the SPI front), the sensor over it, motor and buttons."""
    hw = hardware or HardwareSettings()
    pin_factory = factory or MockFactory(pin_class=MockPWMPin)
    source = _chip_source(force_source, calibration, hw, relative_time)
    front: HX711SpiFront | None = None
    make_sensor: Callable[[], HX711]
    if spi:
        chip = HX711Chip(clock=clock, force_source=source, sample_rate_hz=sample_rate_hz)
        front = HX711SpiFront(chip, rate_hz=hw.spi_clock_hz)
        make_sensor = functools.partial(build_hx711_spi_sensor, hw, sample_rate_hz, clock, pin_factory, spi=front)
    else:
        chip = HX711Chip(
            pin_factory,
            dout_pin=hw.pins.hx711_dout,
            sck_pin=hw.pins.hx711_sck,
            clock=clock,
            force_source=source,
            sample_rate_hz=sample_rate_hz,
        )
        make_sensor = functools.partial(build_hx711_gpio_sensor, hw, sample_rate_hz, clock, pin_factory)
    return _finish_rig(chip, make_sensor, front, hw, pin_factory, owns_factory=factory is None)


def _chip_source(
    force_source: ForceSource, calibration: Calibration, hw: HardwareSettings, relative_time: bool
) -> Callable[[float], int | None]:
    return counts_source(_from_first_call(force_source) if relative_time else force_source, calibration, hw.gain)


def _finish_rig(
    chip: HX711Chip,
    make_sensor: Callable[[], SensorT],
    front: HX711SpiFront | None,
    hw: HardwareSettings,
    pin_factory: MockFactory,
    *,
    owns_factory: bool,
) -> PinRig[SensorT]:
    """The sensor over the chip (or its SPI front), then motor and buttons; all closed on failure."""
    clock = chip.clock
    built: list[Any] = []
    try:
        built.append(make_sensor())
        built.append(build_motor(hw, pin_factory))
        built.append(build_button(hw, pin_factory, clock=clock))
        built.append(_second_button(hw, pin_factory, clock))
    except BaseException:
        for part in reversed(built):
            part.close()
        chip.close()
        raise
    sensor, motor, button, second = built
    for pressable in (button, second):
        pressable.pin.clear_states()  # the pull-up's [False, True] at creation is not a press
    return PinRig(pin_factory, chip, sensor, motor, button, second, owns_factory=owns_factory, spi=front)


def _second_button(hw: HardwareSettings, pin_factory: MockFactory, clock: Clock) -> GpioButton:
    """The configured second button, or a ``less_more`` one on ``SECOND_BUTTON_PIN`` (one clear line if taken)."""
    configured = build_stop_button(hw, pin_factory, clock=clock)
    if configured is not None:
        return configured
    pins = hw.pins
    taken = {"hx711_dout": pins.hx711_dout, "hx711_sck": pins.hx711_sck, "motor": pins.motor, "button": pins.button}
    if hw.backend == "hx711-spi":
        taken.update({f"spi {name}": pin for name, pin in hw.spi_pins().items()})
    clash = next((name for name, pin in taken.items() if pin == SECOND_BUTTON_PIN), None)
    if clash is not None:
        raise PresspointError(
            f"hardware.pins.{clash}: GPIO{SECOND_BUTTON_PIN} is where the emulated rig puts the second button; "
            "set pins.stop_button to a free pin"
        )
    return GpioButton(SECOND_BUTTON_PIN, pin_factory=pin_factory, clock=clock, role="less_more")


#: What the emulated load cell "really" is when the config is not calibrated: a 10 kg
#: cell at 1 mV/V and 5 V excitation on gain 128 (≈ 21 900 counts/N) with a small offset.
EMULATED_CALIBRATION = Calibration(offset_counts=8_500.0, counts_per_newton=21_900.0)
#: Noise of the emulated cell at rest, in newtons (≈ 40 counts at gain 128).
EMULATED_NOISE_N = 0.002


def bench_load(
    start: float,
    *,
    mass_kg: float | None = None,
    load_at_s: float = 1.5,
    ramp_s: float = 0.5,
    noise_n: float = EMULATED_NOISE_N,
    seed: int = 7,
) -> ForceSource:
    """Newtons for ``calibrate``/``selfcheck --pins``: at rest, then (optionally) a known mass.

    Deterministic for a given seed: the chip asks for each conversion once.
    """
    rng = random.Random(seed)
    weight = kg_to_newtons(mass_kg) if mass_kg is not None else 0.0

    def force(t: float) -> float:
        elapsed = t - start - load_at_s
        load = weight * min(1.0, max(0.0, elapsed / ramp_s)) if mass_kg is not None else 0.0
        return load + rng.gauss(0.0, noise_n)

    return force
