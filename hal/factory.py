"""Build the hardware on the Pi's header (HX711, motor, buttons) from the device config.

One pin factory serves every device so the firmware has a single GPIO stack:
lgpio on the Pi, gpiozero's ``MockFactory`` with PWM-capable pins in tests and
``simulate --pins``.  The HX711 backend is chosen by name like gpiozero's pin
factories (``SENSOR_BACKENDS``): ``hx711-spi`` opens the factory's hardware
SPI, ``hx711-gpio`` bit-bangs two of its pins.  The simulated (non-pin)
backend lives in ``simulator/``; the firmware calls ``build_gpio_hardware``
only for the ``hx711-*`` backends.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeAlias

from gpiozero.exc import SPIFixedRate
from gpiozero.pins.mock import MockFactory, MockPWMPin
from gpiozero.pins.spi import SPISoftware

from config.device import HardwareSettings
from config.errors import PresspointError
from hal.clock import Clock
from hal.gpio_buttons import GpioButton
from hal.gpio_haptics import PwmMotor
from hal.hx711_spi import HX711SpiSensor, SpiBus
from hal.sensor import Calibration, SensorError

if TYPE_CHECKING:  # imported when the GPIO backend is built: Adafruit's driver is for that backend only
    from hal.hx711_adapter import HX711Sensor

#: gpiozero's own order of preference when nothing is named (pigpio left out: it needs a daemon).
DEFAULT_FACTORY_ORDER = ("lgpio", "rpigpio", "native")


class PinFactoryError(PresspointError):
    """No usable GPIO pin factory (not on a Pi, missing library, no /dev/gpiochip*)."""


def make_pin_factory(name: str | None = None) -> Any:
    """A gpiozero pin factory by name: ``mock``, ``lgpio``, ``rpigpio``, ``native``.

    ``None`` follows gpiozero: ``GPIOZERO_PIN_FACTORY`` if set, else the first
    of lgpio, rpigpio, native that loads - but failing with one clear message
    instead of gpiozero's warning per fallback.  ``mock`` uses ``MockPWMPin``
    so the motor's ``PWMOutputDevice`` works on it.
    """
    if name is None:
        name = os.environ.get("GPIOZERO_PIN_FACTORY") or None
    names = (name.lower(),) if name else DEFAULT_FACTORY_ORDER
    problems: list[str] = []
    for candidate in names:
        if candidate == "mock":
            return MockFactory(pin_class=MockPWMPin)
        found = [ep for ep in entry_points(group="gpiozero_pin_factories") if ep.name == candidate]
        if not found:
            problems.append(f"{candidate}: unknown pin factory")
            continue
        try:
            return found[0].load()()
        except Exception as err:  # import errors, no GPIO chip, not a Pi, ...
            problems.append(f"{candidate}: {err}".strip())
    raise PinFactoryError("no GPIO pin factory available (" + "; ".join(problems) + ")")


def calibration_of(hw: HardwareSettings) -> Calibration | None:
    """The calibration in ``hw``, or ``None`` when the device is not calibrated."""
    cal = hw.calibration
    if not cal.is_calibrated:
        return None
    assert cal.offset_counts is not None and cal.counts_per_newton is not None
    return Calibration(cal.offset_counts, cal.counts_per_newton)


HX711: TypeAlias = "HX711SpiSensor | HX711Sensor"
SensorBuilder = Callable[[HardwareSettings, float, Clock, Any], HX711]


def build_hx711_gpio_sensor(
    hw: HardwareSettings, sample_rate_hz: float, clock: Clock, pin_factory: Any
) -> HX711Sensor:
    """The HX711 bit-banged on ``pins.hx711_dout``/``hx711_sck``; waits (bounded) for it to settle."""
    from hal.hx711_adapter import HX711Sensor  # this backend only (see TYPE_CHECKING above)

    return HX711Sensor(
        dout_pin=hw.pins.hx711_dout,
        sck_pin=hw.pins.hx711_sck,
        pin_factory=pin_factory,
        clock=clock,
        gain=hw.gain,
        sample_rate_hz=sample_rate_hz,
    )


def open_hx711_spi(hw: HardwareSettings, pin_factory: Any) -> SpiBus:
    """The factory's hardware SPI device for the HX711, at ``spi_clock_hz``.

    gpiozero falls back to bit-banged software SPI when the kernel's SPI is
    off; that would bring back the 60 µs problem, so it is refused (except on
    a ``MockFactory``, whose SPI is software by nature).
    """
    pins = hw.spi_pins()
    where = (
        f"HX711 on SPI{hw.spi_port}.{hw.spi_device} (SCLK GPIO{pins['sclk']}, MOSI GPIO{pins['mosi']}, "
        f"MISO GPIO{pins['miso']}, CE GPIO{pins['select']})"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spi: Any = pin_factory.spi(port=hw.spi_port, device=hw.spi_device)
        except Exception as err:
            raise SensorError(f"{where}: {type(err).__name__} {err}".rstrip()) from err
    if isinstance(spi, SPISoftware) and not isinstance(pin_factory, MockFactory):
        spi.close()
        why = "; ".join(str(w.message) for w in caught) or "no hardware SPI"
        raise SensorError(
            f"{where}: {why} - enable SPI (dtparam=spi=on), check /dev/spidev{hw.spi_port}.{hw.spi_device}"
        )
    try:
        spi.rate = hw.spi_clock_hz
    except SPIFixedRate:
        pass  # MockFactory's software SPI has no rate; hardware SPI always takes it
    except Exception as err:
        spi.close()
        raise SensorError(f"{where}: {type(err).__name__} {err}".rstrip()) from err
    return spi  # type: ignore[no-any-return]


def build_hx711_spi_sensor(
    hw: HardwareSettings, sample_rate_hz: float, clock: Clock, pin_factory: Any, *, spi: SpiBus | None = None
) -> HX711SpiSensor:
    """The HX711 on SPI (``spi`` given: that bus, e.g. the emulator's); settles before returning."""
    bus = spi if spi is not None else open_hx711_spi(hw, pin_factory)
    return HX711SpiSensor(
        bus, clock=clock, gain=hw.gain, sample_rate_hz=sample_rate_hz, clock_hz=hw.spi_clock_hz
    )


#: HX711 backends by config name, like gpiozero's pin factories by name.
SENSOR_BACKENDS: dict[str, SensorBuilder] = {
    "hx711-spi": build_hx711_spi_sensor,
    "hx711-gpio": build_hx711_gpio_sensor,
}


def build_hx711_sensor(hw: HardwareSettings, sample_rate_hz: float, clock: Clock, pin_factory: Any) -> HX711:
    """The HX711 through the configured ``hardware.backend``; waits (bounded) for it to settle."""
    try:
        builder = SENSOR_BACKENDS[hw.backend]
    except KeyError:
        raise ValueError(
            f"hardware.backend {hw.backend!r} is not on the pins; choose one of {', '.join(SENSOR_BACKENDS)}"
        ) from None
    return builder(hw, sample_rate_hz, clock, pin_factory)


def build_motor(hw: HardwareSettings, pin_factory: Any) -> PwmMotor:
    return PwmMotor(hw.pins.motor, pin_factory=pin_factory, frequency_hz=hw.motor_pwm_hz)


def build_motor_only(hw: HardwareSettings) -> PwmMotor:
    """The motor alone, on the config's pin factory: for driving it off after the real-time process is gone."""
    return build_motor(hw, make_pin_factory(hw.pin_factory))


def build_button(hw: HardwareSettings, pin_factory: Any, *, clock: Clock | None = None) -> GpioButton:
    """The start/stop button (``pins.button``)."""
    return GpioButton(hw.pins.button, pin_factory=pin_factory, clock=clock)


def build_stop_button(
    hw: HardwareSettings, pin_factory: Any, *, clock: Clock | None = None
) -> GpioButton | None:
    """The optional second button (``pins.stop_button``): stop, or less/more (``pins.second_button_role``)."""
    if hw.pins.stop_button is None:
        return None
    return GpioButton(hw.pins.stop_button, pin_factory=pin_factory, clock=clock, role=hw.pins.second_button_role)


@dataclass
class GpioHardware:
    """Everything on the pins, closed together (motor first: off on every exit path)."""

    pin_factory: Any
    sensor: HX711
    motor: PwmMotor
    button: GpioButton
    stop_button: GpioButton | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        parts: list[Any] = [self.motor, self.sensor, self.button, self.stop_button]
        errors: list[BaseException] = []
        for part in parts:
            if part is None:
                continue
            try:
                part.close()
            except Exception as err:  # keep closing the rest; the motor went first
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> GpioHardware:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build_gpio_hardware(
    hw: HardwareSettings,
    sample_rate_hz: float,
    clock: Clock,
    pin_factory: Any = None,
    *,
    button_clock: Clock | None = None,
) -> GpioHardware:
    """Sensor, motor and buttons for the ``hx711-*`` backends; the factory from config if not given.

    If any part fails, the parts already built are closed (motor off) before
    the error propagates.
    """
    factory = pin_factory if pin_factory is not None else make_pin_factory(hw.pin_factory)
    built: list[Any] = []
    try:
        motor = build_motor(hw, factory)
        built.append(motor)
        button = build_button(hw, factory, clock=button_clock)
        built.append(button)
        stop = build_stop_button(hw, factory, clock=button_clock)
        if stop is not None:
            built.append(stop)
        sensor = build_hx711_sensor(hw, sample_rate_hz, clock, factory)
    except BaseException:
        for part in built:
            part.close()
        raise
    return GpioHardware(factory, sensor, motor, button, stop)
