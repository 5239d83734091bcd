"""Lost reads are conversions the chip made that never became samples - not late stamps.

Virtual time throughout.  The old count (duration × rate + 1 against the
samples) takes a last sample stamped over half a period late for a lost read;
``ReadGrid`` places each sample on the chip's grid and does not.  Over the
real SPI driver and the emulated chip, a reader held up until just before the
second conversion after its last read loses nothing (the chip keeps the
latest one); held up longer, it loses exactly the conversions the chip
overwrote, and the grid counts those.
"""

from __future__ import annotations

import itertools

import pytest

from firmware.realtime.sampler import Sampler
from firmware.realtime.stats import LostReads, ReadGrid
from hal.clock import VirtualClock
from hal.hx711_spi import HX711SpiSensor
from hal.sensor import Calibration
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE


def grid_count(stamps: list[float]) -> int:
    lost = LostReads()
    grid = ReadGrid(lost, PERIOD)
    for t in stamps:
        grid.sample(t)
    return lost.count


def duration_estimate(stamps: list[float]) -> int:
    """What the benchmark counted before: expected from the duration, less the samples."""
    return round((stamps[-1] - stamps[0]) * RATE) + 1 - len(stamps)


def test_a_late_last_stamp_is_not_a_lost_read() -> None:
    stamps = [1.0 + i * PERIOD + 0.3e-3 for i in range(100)]
    stamps[-1] += 0.6 * PERIOD  # the last sample read 7.5 ms late: no conversion was lost
    assert grid_count(stamps) == 0
    assert duration_estimate(stamps) == 1  # the old count called it one lost read


def test_late_first_stamps_and_jitter_below_a_period_lose_nothing() -> None:
    delays = [0.9, 0.1, 0.0, 0.95, 0.02, 0.5, 0.0, 0.7, 0.01]
    stamps = [2.0 + i * PERIOD + d * PERIOD for i, d in enumerate(delays)]
    assert grid_count(stamps) == 0


def test_missing_conversions_are_counted_once_each() -> None:
    indices = [0, 1, 2, 4, 5, 8, 9]  # conversion 3 and 6, 7 never read
    stamps = [1.0 + i * PERIOD + 0.2e-3 for i in indices]
    assert grid_count(stamps) == 3


def spi_sampler() -> tuple[VirtualClock, HX711Chip, Sampler]:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 1000, sample_rate_hz=RATE)
    sensor = HX711SpiSensor(HX711SpiFront(chip), clock=clock, sample_rate_hz=RATE)
    return clock, chip, Sampler(sensor, Calibration(0.0, 100.0), clock)


HELD_UP = [(0.0, 0), (0.6, 0), (1.5, 0), (1.8, 0), (2.5, 1), (4.2, 3)]


@pytest.mark.parametrize(("held_up_periods", "overwritten"), HELD_UP)
def test_spi_reader_held_up_loses_only_what_the_chip_overwrote(held_up_periods: float, overwritten: int) -> None:
    clock, chip, sampler = spi_sampler()
    lost = LostReads()
    grid = ReadGrid(lost, PERIOD)
    conversions: list[float] = []
    for i in range(40):
        if i == 20:  # the sampling thread is held up (GIL, scheduler) once, mid-session
            clock.advance(held_up_periods * PERIOD)
        sample = sampler.next()
        assert chip.last_ready_at is not None
        conversions.append(chip.last_ready_at)
        grid.sample(sample.t)
    assert lost.count == overwritten
    skipped = sum(round((b - a) / PERIOD) - 1 for a, b in itertools.pairwise(conversions))
    assert skipped == overwritten  # the chip's own record agrees
    assert chip.errors == []
