"""The pin rig: force -> counts -> emulated chip -> real driver -> counts -> force."""

from __future__ import annotations

import pytest

from config.device import HardwareSettings, Pins
from hal.clock import VirtualClock
from hal.sensor import Calibration
from simulator.pin_rig import build_pin_rig, counts_source

CAL = Calibration(offset_counts=-1_234.0, counts_per_newton=21_900.0)
PERIOD = 1 / 80


def ramp(t: float) -> float:
    return 5.0 * (t - 100.0)  # 5 N/s from t = 100 s


@pytest.mark.parametrize("gain", [128, 64])
def test_forces_come_back_through_the_pins(gain: int) -> None:
    clock = VirtualClock(100.0)
    rig = build_pin_rig(ramp, CAL, clock, hardware=HardwareSettings(gain=gain))
    try:
        for _ in range(40):
            raw = rig.sensor.read(PERIOD)
            assert raw is not None
            ready = rig.chip.last_ready_at
            assert ready is not None
            # Exactly the counts the calibration gives for the force at conversion time.
            assert raw == CAL.to_counts(ramp(ready))
            assert CAL.to_newtons(raw) == pytest.approx(ramp(ready), abs=1 / CAL.counts_per_newton)
        assert rig.sensor.stats.gain_discards == (1 if gain == 64 else 0)
        assert rig.chip.errors == []
    finally:
        rig.close()


def test_counts_source_scales_to_the_chip_input() -> None:
    assert counts_source(lambda t: 1.0, CAL, 64)(0.0) == 2 * CAL.to_counts(1.0)
    assert counts_source(lambda t: None, CAL, 128)(0.0) is None


def test_no_force_means_no_conversion() -> None:
    clock = VirtualClock()
    gap = {"on": False}
    rig = build_pin_rig(lambda t: None if gap["on"] else 1.0, CAL, clock)
    try:
        assert rig.sensor.read(PERIOD) is not None
        gap["on"] = True
        assert rig.sensor.read(PERIOD) is None
        assert rig.sensor.read(PERIOD) is None
    finally:
        rig.close()


def test_overload_saturates_at_the_adc_limit() -> None:
    rig = build_pin_rig(lambda t: 1000.0, CAL, VirtualClock())
    try:
        assert rig.sensor.read(PERIOD) == 0x7FFFFF
    finally:
        rig.close()


def test_rig_uses_the_configured_pins_and_motor_goes_off_on_close() -> None:
    hw = HardwareSettings(pins=Pins(hx711_dout=20, hx711_sck=21, motor=18, button=16))
    clock = VirtualClock()
    rig = build_pin_rig(lambda t: 0.0, CAL, clock, hardware=hw)
    presses: list[float] = []
    try:
        assert rig.chip.dout.info.name == "GPIO20" and rig.chip.sck.info.name == "GPIO21"
        assert rig.motor_pin.info.name == "GPIO18"
        rig.button.set_handler(lambda: presses.append(clock.now()))
        rig.press_button()
        rig.motor_pin.clear_states()
        rig.motor.set_level(0.4)
    finally:
        rig.close()
    assert len(presses) == 1
    assert [float(s.state) for s in rig.motor_pin.states] == [0.0, 0.4, 0.0]
    rig.close()  # idempotent


def test_same_counts_as_the_simulated_load_cell() -> None:
    """``simulate --pins`` must give the session what the non-pin backend gives it."""
    from simulator.loadcell import SimulatedLoadCell

    def force(t: float) -> float | None:
        return None if 0.30 <= t < 0.33 else 3.0 + 20.0 * t - 9.0 * t * t

    class Source:
        def force_at(self, t: float) -> float | None:
            return force(t)

    plain_clock, pin_clock = VirtualClock(), VirtualClock()
    plain = SimulatedLoadCell(Source(), plain_clock, calibration=CAL)
    rig = build_pin_rig(force, CAL, pin_clock, relative_time=True)
    try:
        plain_reads = [plain.read(PERIOD) for _ in range(120)]
        pin_reads = [rig.sensor.read(PERIOD) for _ in range(120)]
        assert pin_reads == plain_reads
        assert plain_reads.count(None) == 3  # the dropout is seen the same way
    finally:
        rig.close()
