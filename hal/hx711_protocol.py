"""HX711 serial-protocol facts shared by the GPIO and SPI backends (datasheet)."""

from __future__ import annotations

from typing import Literal

#: Pulses per transfer by channel A gain: 24 data bits + 1 or 3 selecting the next conversion.
PULSES_FOR_GAIN: dict[int, int] = {128: 25, 64: 27}
#: Channel B (gain 32) takes 26; the firmware reads channel A only.
PULSES_CHANNEL_B_32 = 26
#: After power-up (and after every power-down) the chip converts channel A at gain 128.
POWER_ON_PULSES = 25
#: PD_SCK high for longer than this powers the HX711 down.
POWER_DOWN_AFTER_S = 60e-6
#: Output settling after reset or gain change, in conversion periods (400 ms at 10 SPS, 50 ms at 80).
SETTLING_PERIODS = 4
#: How long PD_SCK is held high to reset the chip.
RESET_HOLD_S = 1e-3

Gain = Literal[128, 64]


def fix_sign(value: int) -> int:
    """A 24-bit two's-complement reading as a Python int."""
    value &= 0xFF_FF_FF
    return value - (1 << 24) if value & 0x80_00_00 else value
