"""The HX711-over-SPI bit patterns and their decoding, independent of any emulator."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal.hx711_protocol import PULSES_CHANNEL_B_32, PULSES_FOR_GAIN
from hal.hx711_spi_bits import (
    CONVERSION_BYTES,
    READY_PROBE,
    conversion_pattern,
    decode_conversion,
    reset_pattern,
)
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS

ALL_PULSES = sorted([*PULSES_FOR_GAIN.values(), PULSES_CHANNEL_B_32])


def mosi_bits(data: list[int]) -> list[int]:
    return [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]


def rising_edges(bits: list[int]) -> list[int]:
    """Indices of the bits where PD_SCK (= MOSI, idle low) rises."""
    return [i for i, bit in enumerate(bits) if bit and (i == 0 or not bits[i - 1])]


def miso_for(value: int, pulses: int, *, dout_after: int = 1) -> list[int]:
    """What an HX711 puts on MISO for ``pattern(pulses)``: DOUT sampled mid-bit, mode 0."""
    bits = mosi_bits(conversion_pattern(pulses))
    word = value & 0xFF_FF_FF
    out, seen = [], 0
    for i, bit in enumerate(bits):
        if bit and (i == 0 or not bits[i - 1]):
            seen += 1
        if seen == 0:
            out.append(0)  # ready: DOUT low
        elif seen <= 24:
            out.append(word >> (24 - seen) & 1)
        else:
            out.append(dout_after)
    return [int("".join(map(str, out[i : i + 8])), 2) for i in range(0, len(out), 8)]


@pytest.mark.parametrize(("gain", "pulses"), [("A128", 25), ("B32", 26), ("A64", 27)])
def test_pattern_makes_exactly_the_gain_pulses(gain: str, pulses: int) -> None:
    data = conversion_pattern(pulses)
    bits = mosi_bits(data)
    assert len(data) == CONVERSION_BYTES
    assert len(rising_edges(bits)) == pulses
    # Each pulse is one `1` bit followed by a `0`: never two high bits in a row.
    assert all(not (a and b) for a, b in itertools.pairwise(bits))
    assert bits[-1] == 0  # MOSI ends low
    assert data[:6] == [0b10101010] * 6  # four pulses a byte for the 24 data bits


def test_pattern_bytes_per_gain() -> None:
    assert conversion_pattern(25)[6] == 0b10000000
    assert conversion_pattern(26)[6] == 0b10100000
    assert conversion_pattern(27)[6] == 0b10101000


@pytest.mark.parametrize("pulses", [0, 24, 28])
def test_pattern_refuses_other_pulse_counts(pulses: int) -> None:
    with pytest.raises(ValueError, match="25-27"):
        conversion_pattern(pulses)


def test_ready_probe_makes_no_pulse() -> None:
    assert rising_edges(mosi_bits(READY_PROBE)) == []


@pytest.mark.parametrize("pulses", ALL_PULSES)
@given(value=st.integers(HX711_MIN_COUNTS, HX711_MAX_COUNTS))
def test_decoding_inverts_the_chip_at_every_gain(pulses: int, value: int) -> None:
    assert decode_conversion(miso_for(value, pulses)) == value


@pytest.mark.parametrize("pulses", ALL_PULSES)
@pytest.mark.parametrize(
    "value", [0, 1, -1, 0x12_34_56, -0x12_34_56, HX711_MAX_COUNTS, HX711_MIN_COUNTS, 0x40_00_00, -0x40_00_00]
)
def test_decoding_of_signed_and_saturated_values(pulses: int, value: int) -> None:
    assert decode_conversion(miso_for(value, pulses)) == value


@pytest.mark.parametrize("pulses", ALL_PULSES)
def test_dout_low_after_the_gain_pulses_is_a_desync(pulses: int) -> None:
    assert decode_conversion(miso_for(1234, pulses, dout_after=0)) is None


def test_decoding_needs_a_whole_transfer() -> None:
    with pytest.raises(ValueError, match="7 bytes"):
        decode_conversion([0] * 6)


@pytest.mark.parametrize("clock_hz", [20_000, 500_000, 1_000_000, 5_000_000])
def test_reset_pattern_holds_pd_sck_high_long_enough(clock_hz: int) -> None:
    data = reset_pattern(clock_hz, 1e-3)
    high = data[:-1]
    assert set(high) == {0xFF} and data[-1] == 0x00  # ends low, whatever MOSI does after
    assert 8 * len(high) / clock_hz >= 1e-3
