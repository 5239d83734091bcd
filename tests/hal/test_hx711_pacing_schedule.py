"""The ready-poll's schedule on a virtual clock: a late wake-up costs one late read, never a late phase.

Before: a wake-up the scheduler delayed by 8 ms made the pacer take the
moment it looked for the conversion's time, so every later read came
8 ms after its conversion - and the next hiccup of 4.5 ms lost one.
"""

from __future__ import annotations

import pytest

from hal.clock import VirtualClock
from hal.hx711_spi import HX711SpiSensor
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE
#: An 8-bit probe and the 56-bit conversion transfer at 500 kHz, after the conversion.
ON_TIME_S = 0.2e-3


class OneLateWakeUp(VirtualClock):
    """A virtual clock whose next long sleep (> 1 ms: the pacer's, not a bus transfer's) ends late."""

    def __init__(self) -> None:
        super().__init__()
        self.late_by = 0.0

    def sleep_until(self, t: float) -> None:
        if self.late_by and t - self.now() > 1e-3:
            t, self.late_by = t + self.late_by, 0.0
        super().sleep_until(t)


def rig() -> tuple[OneLateWakeUp, HX711Chip, HX711SpiFront, HX711SpiSensor]:
    clock = OneLateWakeUp()
    chip = HX711Chip(clock=clock, force_source=lambda t: 1_000, sample_rate_hz=RATE)
    front = HX711SpiFront(chip)
    sensor = HX711SpiSensor(front, clock=clock, sample_rate_hz=RATE)
    for _ in range(60):  # on schedule, the look-ahead margin narrowed
        assert sensor.read(PERIOD) is not None
    return clock, chip, front, sensor


def delay_of_read(clock: VirtualClock, chip: HX711Chip, sensor: HX711SpiSensor, timeout_s: float = PERIOD) -> float:
    assert sensor.read(timeout_s) is not None
    assert chip.last_ready_at is not None
    return clock.now() - chip.last_ready_at


@pytest.mark.parametrize("late_s", [3e-3, 8e-3, 12e-3])
def test_one_late_wake_up_leaves_later_reads_on_time(late_s: float) -> None:
    clock, chip, _, sensor = rig()
    clock.late_by = late_s
    delays = [delay_of_read(clock, chip, sensor) for _ in range(20)]
    assert delays[0] == pytest.approx(late_s, abs=0.5e-3)  # the late one
    assert max(delays[1:]) < ON_TIME_S, delays
    assert chip.reads.overwritten == 0


def test_on_schedule_a_conversion_costs_one_look_and_one_read() -> None:
    """Locked to the chip's phase, a wait looks once, at the conversion; every 8th starts two poll steps early."""
    clock, chip, front, sensor = rig()
    before = front.transfers
    delays = [delay_of_read(clock, chip, sensor) for _ in range(96)]
    assert (front.transfers - before) / 96 == pytest.approx(2 + 2 / 8)
    assert max(delays) < ON_TIME_S


@pytest.mark.parametrize("chip_rate", [RATE * 0.97, RATE * 1.03])
def test_a_chip_off_the_nominal_rate_over_the_spi_front_loses_nothing_and_costs_few_looks(chip_rate: float) -> None:
    """The chip's oscillator sets the rate: the driver learns it and keeps one look per conversion."""
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 1_000, sample_rate_hz=chip_rate)
    front = HX711SpiFront(chip)
    sensor = HX711SpiSensor(front, clock=clock, sample_rate_hz=RATE)
    for _ in range(200):  # learning
        assert sensor.read(1.1 * PERIOD) is not None
    before = front.transfers
    delays = [delay_of_read(clock, chip, sensor, 1.1 * PERIOD) for _ in range(400)]
    assert chip.reads.overwritten == 0 and chip.reads.late_half_period == 0
    assert (front.transfers - before) / 400 <= 2.5
    assert max(delays) < ON_TIME_S + 0.25e-3  # within a poll step of ready
