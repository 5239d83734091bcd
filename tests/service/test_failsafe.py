"""The service's motor failsafe on the pins: the motor pin driven low, the pin held until exit."""

from __future__ import annotations

from config.device import DeviceConfig, HardwareSettings
from firmware.service import failsafe
from firmware.service.failsafe import motor_failsafe


def test_the_failsafe_drives_the_configured_motor_pin_low_and_holds_it() -> None:
    device = DeviceConfig(hardware=HardwareSettings(pin_factory="mock"))
    held_before = len(failsafe._held)

    said = motor_failsafe(device, None)

    assert said == f"motor pin GPIO{device.hardware.pins.motor} driven low"
    motor = failsafe._held[held_before]
    assert not motor.closed and motor.pin.state == 0.0  # still claimed: nothing else can drive it high
    motor.close()
    failsafe._held.remove(motor)
