"""The PWM motor on gpiozero mock pins: the pin's state history is the evidence."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from config.device import HardwareSettings
from hal.factory import build_motor
from hal.gpio_haptics import PwmMotor

MOTOR_PIN = 12


@pytest.fixture
def motor(factory: MockFactory) -> Iterator[PwmMotor]:
    motor = PwmMotor(MOTOR_PIN, pin_factory=factory, frequency_hz=200)
    motor.pin.clear_states()
    yield motor
    motor.close()


def levels(motor: PwmMotor) -> list[float]:
    return [float(state.state) for state in motor.pin.states]


def test_levels_reach_the_pin_in_order(motor: PwmMotor) -> None:
    for level in (0.5, 1.0, 0.25, 0.0):
        motor.set_level(level)
        assert motor.level == level
        assert motor.pin.state == pytest.approx(level)
    # assert_states() would not notice extra or missing entries: compare the whole list.
    assert levels(motor) == [0.0, 0.5, 1.0, 0.25, 0.0]
    assert len(motor.pin.states) == 5


def test_starts_off_at_the_configured_frequency(factory: MockFactory) -> None:
    motor = build_motor(HardwareSettings(motor_pwm_hz=300), factory)
    try:
        assert motor.level == 0.0
        assert motor.pin.state == 0.0
        assert motor.pin.frequency == 300
    finally:
        motor.close()


def test_off_is_idempotent_and_writes_nothing_new(motor: PwmMotor) -> None:
    motor.set_level(0.8)
    motor.off()
    motor.off()
    motor.set_level(0.0)
    assert levels(motor) == [0.0, 0.8, 0.0]


def test_same_level_twice_is_one_write(motor: PwmMotor) -> None:
    motor.set_level(0.3)
    motor.set_level(0.3)
    assert levels(motor) == [0.0, 0.3]


def test_close_turns_the_motor_off_and_stays_off(motor: PwmMotor) -> None:
    motor.set_level(1.0)
    motor.close()
    assert motor.closed
    assert motor.level == 0.0
    assert levels(motor)[-1] == 0.0
    assert motor.pin.frequency is None  # PWM stopped, pin released by gpiozero
    count = len(motor.pin.states)
    motor.set_level(1.0)  # a late cue after shutdown: ignored, never drives the pin
    motor.off()
    motor.close()
    assert len(motor.pin.states) == count
    assert motor.level == 0.0


@pytest.mark.parametrize("bad", [-0.1, 1.01, math.nan, math.inf])
def test_out_of_range_levels_are_refused(motor: PwmMotor, bad: float) -> None:
    with pytest.raises(ValueError, match=r"0\.0 to 1\.0"):
        motor.set_level(bad)
    assert levels(motor) == [0.0]


def test_motor_off_after_an_exception_in_a_with_block(factory: MockFactory) -> None:
    motor = PwmMotor(MOTOR_PIN, pin_factory=factory)

    def cue_then_crash() -> None:
        try:
            motor.set_level(0.7)
            raise RuntimeError("boom")
        finally:
            motor.close()

    with pytest.raises(RuntimeError):
        cue_then_crash()
    assert [float(s.state) for s in motor.pin.states][-2:] == [0.7, 0.0]
