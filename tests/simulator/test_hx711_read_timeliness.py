"""The emulated chip keeps its own clock: a late read gets the latest conversion, a missed one is counted.

A real HX711 converts on its own oscillator whether or not anybody reads,
and keeps only the latest conversion.  A read late by less than one period
loses nothing; a conversion not read before the next one is ready is
overwritten - what the emulator counts as a lost read, whatever the driver
believes.  Virtual time: each "late" read is placed exactly on the clock.
"""

from __future__ import annotations

import pytest

from hal.clock import VirtualClock
from hal.hx711_spi_bits import conversion_pattern, decode_conversion
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE


def chip_and_front() -> tuple[VirtualClock, HX711Chip, HX711SpiFront]:
    clock = VirtualClock()
    # Each conversion carries its own time (in 0.1 ms), so a reading says which conversion it was.
    chip = HX711Chip(clock=clock, force_source=lambda t: round(t * 10_000), sample_rate_hz=RATE)
    return clock, chip, HX711SpiFront(chip)


def read_at(clock: VirtualClock, front: HX711SpiFront, t: float) -> int | None:
    clock.sleep_until(t)
    return decode_conversion(front.transfer(conversion_pattern(25)))


def test_a_read_late_by_less_than_a_period_loses_nothing() -> None:
    clock, chip, front = chip_and_front()
    assert read_at(clock, front, chip.conversion_time(0)) == round(chip.conversion_time(0) * 10_000)
    for k in range(1, 6):
        late = 0.9 * PERIOD if k % 2 else 0.1 * PERIOD
        assert read_at(clock, front, chip.conversion_time(k) + late) == round(chip.conversion_time(k) * 10_000)
    assert chip.reads.overwritten == 0
    assert chip.reads.late_half_period == 3
    assert chip.reads.max_delay_s == pytest.approx(0.9 * PERIOD)


def test_a_conversion_not_read_before_the_next_one_is_overwritten_and_counted() -> None:
    clock, chip, front = chip_and_front()
    read_at(clock, front, chip.conversion_time(0))
    # Conversion 1 is due 1.5 periods before this read: conversion 2 has replaced it.
    assert read_at(clock, front, chip.conversion_time(1) + 1.5 * PERIOD) == round(chip.conversion_time(2) * 10_000)
    assert chip.reads.overwritten == 1
    # Two whole periods missed: conversions 3 and 4 overwritten, 5 read.
    assert read_at(clock, front, chip.conversion_time(5) + 0.2 * PERIOD) == round(chip.conversion_time(5) * 10_000)
    assert chip.reads.overwritten == 3
    assert chip.conversions_read == 3


def test_conversions_keep_to_the_chips_clock_however_late_the_reads() -> None:
    """The emulator does no work of its own between reads, yet conversions fall on its grid."""
    clock, chip, front = chip_and_front()
    read_at(clock, front, chip.conversion_time(0))
    clock.advance(7.3 * PERIOD)  # the reader was away: nothing ran in the emulator meanwhile
    assert chip.last_ready_at == chip.conversion_time(0)
    assert read_at(clock, front, clock.now()) == round(chip.conversion_time(7) * 10_000)
    assert chip.last_ready_at == chip.conversion_time(7)
    assert chip.reads.overwritten == 6


def test_a_wake_up_starts_the_count_afresh() -> None:
    clock, chip, front = chip_and_front()
    read_at(clock, front, chip.conversion_time(0))
    front.transfer([0xFF] * 10 + [0x00])  # 160 µs high: power-down, then wake-up as MOSI falls
    assert chip.power_downs == 1
    # The first conversion after the wake-up: nothing "lost" across the reset.
    assert read_at(clock, front, chip.conversion_time(0)) is not None
    assert chip.reads.overwritten == 0
