"""The HX711 conversion as SPI bytes: MOSI drives PD_SCK, MISO reads DOUT (SPI mode 0).

One PD_SCK pulse is the MOSI bit pair ``1 0``, so ``0b10101010`` is four
pulses.  A conversion is 24 data pulses plus 1 (A/128), 2 (B/32) or 3 (A/64)
pulses choosing the next conversion: 25-27 pulses in 7 bytes, the last
padded with zeros - never a pulse more.  At 500 kHz a pulse is 2 µs high
and MOSI idles low between bytes and transfers, so the 60 µs limit cannot
be reached whatever the scheduler does.

DOUT changes within 0.1 µs of PD_SCK rising, so the MISO bit sampled in the
middle of each ``1`` bit (mode 0) is that pulse's data bit, MSB first.
After the last pulse a healthy chip holds DOUT high: every MISO bit from the
25th pulse on must read 1, else the chip and we disagree on the pulse count.
"""

from __future__ import annotations

import math

#: Bytes of one conversion transfer: 27 pulses = 54 bits fit in 7 bytes.
CONVERSION_BYTES = 7
#: The 24 data pulses fill the first 6 bytes exactly (4 pulses a byte).
DATA_BYTES = 6
#: A data-ready look: MOSI stays low (no pulse); MISO is DOUT, all zeros = ready.
READY_PROBE = [0x00]


def conversion_pattern(pulses: int) -> list[int]:
    """The MOSI bytes that make exactly ``pulses`` PD_SCK pulses (25-27)."""
    if not 25 <= pulses <= 27:
        raise ValueError(f"an HX711 conversion is 25-27 pulses, not {pulses}")
    bits = "10" * pulses
    bits += "0" * (8 * CONVERSION_BYTES - len(bits))
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


def _data_nibble(byte: int) -> int:
    """The MISO bits sampled in the ``1`` bits (7, 5, 3, 1) of one ``0b10101010`` byte."""
    return (byte >> 4 & 0b1000) | (byte >> 3 & 0b0100) | (byte >> 2 & 0b0010) | (byte >> 1 & 0b0001)


_NIBBLES = tuple(_data_nibble(byte) for byte in range(256))


def decode_conversion(miso: list[int]) -> int | None:
    """The signed 24-bit reading in a conversion transfer's MISO bytes, or ``None`` on desync.

    ``None`` when DOUT did not read high from the 25th pulse on (byte 6): the
    chip did not take the pulses as one whole conversion, so the data bits
    cannot be trusted either.
    """
    if len(miso) != CONVERSION_BYTES:
        raise ValueError(f"a conversion transfer returns {CONVERSION_BYTES} bytes, not {len(miso)}")
    if miso[DATA_BYTES] != 0xFF:
        return None
    raw = 0
    for byte in miso[:DATA_BYTES]:
        raw = raw << 4 | _NIBBLES[byte]
    return raw - (1 << 24) if raw & 0x80_00_00 else raw


#: The reset ends with this many zero bytes: PD_SCK is low when the transfer ends, whatever
#: the controller does with MOSI between transfers; the chip wakes as they start.
RESET_TAIL_BYTES = 1


def reset_pattern(clock_hz: int, hold_s: float) -> list[int]:
    """MOSI bytes holding PD_SCK high for at least ``hold_s`` at ``clock_hz``, then low."""
    return [0xFF] * (math.ceil(hold_s * clock_hz / 8) + 1) + [0x00] * RESET_TAIL_BYTES
