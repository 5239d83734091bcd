"""Choosing pin factories and building the GPIO hardware from the config."""

from __future__ import annotations

import pytest
from gpiozero import DigitalOutputDevice
from gpiozero.pins.mock import MockFactory, MockPWMPin

from config.device import HardwareSettings, Pins
from hal.clock import VirtualClock
from hal.factory import (
    PinFactoryError,
    build_gpio_hardware,
    calibration_of,
    make_pin_factory,
)
from hal.sensor import Calibration, SensorError


def test_mock_factory_has_pwm_pins() -> None:
    factory = make_pin_factory("mock")
    try:
        assert isinstance(factory, MockFactory)
        assert factory.pin_class is MockPWMPin
    finally:
        factory.close()


def test_env_variable_is_honoured_when_no_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    factory = make_pin_factory(None)
    try:
        assert isinstance(factory, MockFactory)
    finally:
        factory.close()


def test_unknown_factory_is_one_clear_error() -> None:
    with pytest.raises(PinFactoryError, match="gpio9000: unknown pin factory"):
        make_pin_factory("gpio9000")


def test_no_gpio_here_fails_with_one_message_not_warnings(
    monkeypatch: pytest.MonkeyPatch, recwarn: pytest.WarningsRecorder
) -> None:
    """On a PC none of lgpio / rpigpio / native can open a GPIO chip."""
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    try:
        factory = make_pin_factory(None)
    except PinFactoryError as err:
        message = str(err)
        assert message.startswith("no GPIO pin factory available (lgpio: ")
        assert "rpigpio: " in message and "native: " in message
        assert "\n" not in message
    else:  # pragma: no cover - only on a real Pi
        factory.close()
        pytest.skip("this machine has GPIO")


def test_calibration_of() -> None:
    assert calibration_of(HardwareSettings()) is None
    hw = HardwareSettings.model_validate(
        {"calibration": {"offset_counts": 10.0, "counts_per_newton": 20.0}})
    assert calibration_of(hw) == Calibration(10.0, 20.0)


def test_build_gpio_hardware_on_mock_pins_and_close_turns_motor_off() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    hw = HardwareSettings(backend="hx711-gpio", pins=Pins(stop_button=23), gain=64)
    try:
        # No chip on the pins: DOUT reads high through the pull-up, reads time out.
        hardware = build_gpio_hardware(hw, 80, VirtualClock(), factory)
        with hardware:
            assert hardware.sensor.gain == 64
            assert hardware.sensor.read(0.05) is None
            hardware.motor.set_level(0.6)
            assert hardware.stop_button is not None
        assert hardware.motor.level == 0.0
        assert float(hardware.motor.pin.states[-1].state) == 0.0
        hardware.close()  # idempotent
    finally:
        factory.reset()


def test_a_failing_part_closes_what_was_built() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    hw = HardwareSettings(backend="hx711-gpio")
    try:
        holder = DigitalOutputDevice(hw.pins.hx711_sck, pin_factory=factory)  # SCK taken
        with pytest.raises(SensorError, match="SCK=6: pin GPIO6 is already in use"):
            build_gpio_hardware(hw, 80, VirtualClock(), factory)
        holder.close()
        motor_pin = factory.pin(hw.pins.motor)
        assert motor_pin.frequency is None  # the motor that was built got closed
        assert float(motor_pin.state) == 0.0
    finally:
        factory.reset()
