"""Self-check items against the emulated chip: each one can pass and can fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from hal.clock import VirtualClock
from hal.gpio_haptics import PwmMotor
from hal.hx711_adapter import HX711Sensor
from hal.selfcheck import check_sample_rate, pulse_motor, run_selfcheck
from hal.sensor import Calibration
from simulator.hx711_chip import HX711Chip
from simulator.pin_rig import EMULATED_CALIBRATION, PinRig, bench_load, build_pin_rig

TRUTH = EMULATED_CALIBRATION


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(0.0)


@pytest.fixture
def make_rig(clock: VirtualClock) -> Iterator[Callable[..., PinRig]]:
    rigs: list[PinRig] = []

    def make(force: Callable[[float], float | None] | None = None,
             truth: Calibration = TRUTH) -> PinRig:
        rig = build_pin_rig(force or bench_load(clock.now()), truth, clock)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()


def test_everything_passes_on_a_good_calibrated_device(
    make_rig: Callable[..., PinRig], clock: VirtualClock
) -> None:
    rig = make_rig()
    rig.motor_pin.clear_states()
    report = run_selfcheck(rig.sensor, rig.motor, clock, expected_rate_hz=80,
                           calibration=TRUTH)
    assert [item.name for item in report.items] == [
        "sample_rate", "noise", "zero_offset", "saturation", "calibration", "motor_pulse"]
    assert report.passed, [i.message for i in report.items if not i.passed]
    assert report.item("sample_rate").value == pytest.approx(80.0)
    noise = report.item("noise").value
    assert noise is not None and 25 < noise < 60  # 0.002 N × 21 900 counts/N ≈ 44
    assert [float(s.state) for s in rig.motor_pin.states] == [0.0, 1.0, 0.0]
    assert report.to_dict()["passed"] is True


def test_uncalibrated_device_fails_only_the_calibration_item(
    make_rig: Callable[..., PinRig], clock: VirtualClock
) -> None:
    rig = make_rig()
    report = run_selfcheck(rig.sensor, None, clock, expected_rate_hz=80, calibration=None)
    failed = [item.name for item in report.items if not item.passed]
    assert failed == ["calibration"]
    assert "run presspoint calibrate" in report.item("calibration").message


def test_wrong_rate_jumper_is_named(clock: VirtualClock) -> None:
    """The chip runs at 10/s (RATE pin low) while the config says 80."""
    factory = MockFactory(pin_class=MockPWMPin)
    chip = HX711Chip(factory, dout_pin=5, sck_pin=6, clock=clock,
                     force_source=lambda t: 0, sample_rate_hz=10)
    sensor = HX711Sensor(dout_pin=5, sck_pin=6, pin_factory=factory, clock=clock,
                         sample_rate_hz=80)
    try:
        item = check_sample_rate(sensor, clock, 80, conversions=12)
        assert not item.passed
        assert item.value == pytest.approx(10.0)
        assert "RATE pin" in item.message
    finally:
        sensor.close()
        chip.close()
        factory.reset()


def test_disconnected_sensor_fails_rate_noise_and_offset(
    make_rig: Callable[..., PinRig], clock: VirtualClock
) -> None:
    rig = make_rig()
    rig.chip.disconnected = True
    start = clock.now()
    report = run_selfcheck(rig.sensor, None, clock, expected_rate_hz=80, calibration=TRUTH)
    assert not report.item("sample_rate").passed
    assert "check DOUT/SCK wiring" in report.item("sample_rate").message
    assert not report.item("noise").passed
    assert not report.item("zero_offset").passed
    assert not report.item("saturation").passed
    assert clock.now() - start < 2.0  # bounded waits, no hang


def test_noisy_cell_fails_noise(make_rig: Callable[..., PinRig], clock: VirtualClock) -> None:
    rig = make_rig(bench_load(clock.now(), noise_n=0.05))  # ≈ 1 100 counts
    report = run_selfcheck(rig.sensor, None, clock, expected_rate_hz=80, calibration=TRUTH)
    assert not report.item("noise").passed
    assert report.item("zero_offset").passed


def test_zero_drift_fails_zero_offset(make_rig: Callable[..., PinRig],
                                      clock: VirtualClock) -> None:
    rig = make_rig(lambda t: 1.0)  # 1 N on the tip where the calibration expects zero
    report = run_selfcheck(rig.sensor, None, clock, expected_rate_hz=80, calibration=TRUTH)
    item = report.item("zero_offset")
    assert not item.passed
    assert "+1.000 N" in item.message


def test_overload_fails_saturation(make_rig: Callable[..., PinRig], clock: VirtualClock) -> None:
    rig = make_rig(lambda t: 500.0)
    report = run_selfcheck(rig.sensor, None, clock, expected_rate_hz=80, calibration=TRUTH)
    assert not report.item("saturation").passed
    assert report.item("saturation").value == 80.0


def test_motor_pulse_is_off_afterwards_even_on_error(clock: VirtualClock) -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    motor = PwmMotor(12, pin_factory=factory)

    class Exploding(VirtualClock):
        def sleep_until(self, t: float) -> None:
            raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            pulse_motor(motor, Exploding())
        assert motor.level == 0.0 and float(motor.pin.state) == 0.0
        item = pulse_motor(motor, clock, level=0.5, duration_s=0.1)
        assert item.passed and item.value == 0.5
        assert clock.now() == pytest.approx(0.1)
    finally:
        motor.close()
        factory.reset()
