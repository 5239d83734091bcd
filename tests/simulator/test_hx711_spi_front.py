"""The emulated HX711's SPI front at transfer level: MOSI = PD_SCK, MISO = DOUT, mode 0."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hal.clock import VirtualClock
from hal.hx711_spi_bits import READY_PROBE, conversion_pattern, decode_conversion
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS
from simulator.hx711_chip import HX711Chip, counts_at_gain
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE
SETTLED = 4 * PERIOD  # first conversion after wake-up


def front_at_first_conversion(value: int | None = 0, **kwargs: object) -> tuple[VirtualClock, HX711Chip,
                                                                                 HX711SpiFront]:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: value, sample_rate_hz=RATE)
    front = HX711SpiFront(chip, **kwargs)  # type: ignore[arg-type]
    clock.sleep_until(SETTLED)
    return clock, chip, front


def test_probe_reads_dout_without_pulsing() -> None:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 1, sample_rate_hz=RATE)
    front = HX711SpiFront(chip)
    assert front.transfer(READY_PROBE) == [0xFF]  # settling: DOUT high
    clock.sleep_until(SETTLED)
    assert front.transfer(READY_PROBE) == [0x00]  # ready: DOUT low
    assert front.transfer([0, 0]) == [0x00, 0x00]  # looking again consumes nothing
    assert chip.conversions_read == 0 and chip.errors == []


def test_each_transfer_takes_its_bus_time() -> None:
    clock, _, front = front_at_first_conversion(rate_hz=1_000_000)
    start = clock.now()
    front.transfer(conversion_pattern(25))
    assert clock.now() - start == pytest.approx(56 / 1_000_000)


@pytest.mark.parametrize(("pulses", "next_gain"), [(25, ("A", 128)), (26, ("B", 32)), (27, ("A", 64))])
def test_one_transfer_is_one_conversion_and_picks_the_next_gain(pulses: int, next_gain: tuple[str, int]) -> None:
    _, chip, front = front_at_first_conversion(0x12_34_56)
    assert decode_conversion(front.transfer(conversion_pattern(pulses))) == 0x12_34_56
    assert chip.conversions_read == 1
    assert chip.next_gain == next_gain
    assert front.transfer(READY_PROBE) == [0xFF]  # DOUT high until the next conversion
    assert chip.errors == []


@pytest.mark.parametrize(("raw", "expected"), [(10**8, HX711_MAX_COUNTS), (-(10**8), HX711_MIN_COUNTS)])
def test_saturation(raw: int, expected: int) -> None:
    _, _, front = front_at_first_conversion(raw)
    assert decode_conversion(front.transfer(conversion_pattern(25))) == expected


def test_disconnect_holds_miso_high() -> None:
    _, chip, front = front_at_first_conversion(5)
    chip.disconnected = True
    assert front.transfer(READY_PROBE) == [0xFF]
    assert front.transfer(conversion_pattern(25)) == [0xFF] * 7
    assert chip.conversions_read == 0


def test_desync_leaves_dout_low_after_the_gain_pulses() -> None:
    _, chip, front = front_at_first_conversion(5)
    chip.desync = True
    miso = front.transfer(conversion_pattern(25))
    assert miso[6] == 0x00
    assert decode_conversion(miso) is None
    assert front.transfer(READY_PROBE) == [0x00]  # looks "ready" though nothing new is


def test_a_long_high_run_powers_the_chip_down_and_wakes_it_at_a128() -> None:
    clock, chip, front = front_at_first_conversion(5, rate_hz=100_000)
    front.transfer(conversion_pattern(27))  # select A/64
    front.transfer([0xFF])  # 80 µs high at 100 kHz: over 60 µs
    assert chip.power_downs == 1
    assert chip.powered  # MOSI fell at the end of the transfer: awake again
    assert chip.next_gain == ("A", 128)
    woke = clock.now()
    clock.sleep_until(woke + SETTLED - 1e-3)
    assert front.transfer(READY_PROBE) == [0xFF]  # settling again
    clock.sleep_until(woke + SETTLED)
    assert front.transfer(READY_PROBE) == [0x00]


def test_short_pulses_never_power_it_down_even_at_the_slowest_clock() -> None:
    _, chip, front = front_at_first_conversion(42, rate_hz=20_000)  # 50 µs per bit
    assert decode_conversion(front.transfer(conversion_pattern(25))) == 42
    assert chip.power_downs == 0


def test_pulses_while_not_ready_are_protocol_errors() -> None:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 0, sample_rate_hz=RATE)
    front = HX711SpiFront(chip)
    front.transfer(conversion_pattern(25))  # still settling
    assert chip.conversions_read == 0
    assert {error.kind for error in chip.errors} == {"clock_while_not_ready"}


def test_bad_bytes_and_closed_bus() -> None:
    _, _, front = front_at_first_conversion()
    with pytest.raises(ValueError, match=r"0\.\.255"):
        front.transfer([256])
    front.close()
    with pytest.raises(OSError, match="closed"):
        front.transfer(READY_PROBE)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(-(2**25), 2**25), min_size=1, max_size=6),
    patterns=st.lists(
        st.one_of(
            st.sampled_from([conversion_pattern(25), conversion_pattern(26), conversion_pattern(27), READY_PROBE]),
            st.lists(st.integers(0, 255), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=12,
    ),
    gaps=st.lists(st.floats(0.0, 2 * PERIOD), min_size=12, max_size=12),
)
# The next conversion comes due while the 25 pulses shift the last one out: DOUT still
# goes high at the 25th pulse and stays high until a conversion due after it.
@example(
    values=[0],
    patterns=[[0], [0], [0], conversion_pattern(25)],
    gaps=[0.015625, 0.0228, 0.00537, 0.00613] + [0.0] * 8,
)
def test_the_shortcut_answers_exactly_as_the_edge_by_edge_replay(
    values: list[int], patterns: list[list[int]], gaps: list[float]
) -> None:
    def source(t: float) -> int:
        return values[round(t / PERIOD) % len(values)]

    results = []
    for exact in (False, True):
        clock = VirtualClock()
        chip = HX711Chip(clock=clock, force_source=source, sample_rate_hz=RATE)
        front = HX711SpiFront(chip, exact=exact)
        clock.sleep_until(SETTLED)
        answers = []
        for data, gap in zip(patterns, gaps, strict=False):
            clock.advance(gap)
            answers.append(front.transfer(list(data)))
        results.append((answers, chip.conversions_read, chip.next_gain, [e.kind for e in chip.errors], clock.now()))
    assert results[0] == results[1]


@pytest.mark.parametrize("exact", [False, True])
def test_a_conversion_due_mid_transfer_leaves_dout_high_after_the_25th_pulse(exact: bool) -> None:
    clock, chip, front = front_at_first_conversion(0x0A_0B_0C, exact=exact)
    clock.sleep_until(SETTLED + PERIOD - 30e-6)  # conversion 1 comes due 30 µs into the 112 µs read
    miso = front.transfer(conversion_pattern(25))
    assert decode_conversion(miso) == 0x0A_0B_0C  # MISO high after the 25th pulse: no desync
    assert front.transfer(READY_PROBE) == [0xFF]  # conversion 1 never reached DOUT
    clock.sleep_until(SETTLED + 2 * PERIOD)
    assert front.transfer(READY_PROBE) == [0x00]  # conversion 2 does
    assert chip.conversions_read == 1 and chip.errors == []


def test_the_chip_scales_counts_to_its_gain_and_clamps_them_to_24_bits() -> None:
    assert counts_at_gain(1_000, 128) == 1_000
    assert counts_at_gain(1_000, 64) == 500
    assert counts_at_gain(-1_000, 32) == -250
    assert counts_at_gain(10**9, 128) == 0x7FFFFF
    assert counts_at_gain(-(10**9), 64) == -0x800000
