"""The emulated HX711's SPI front: a gpiozero-like SPI object answering whole transfers.

Wired as on the device: MOSI is PD_SCK, MISO is DOUT, SPI mode 0 (MISO
sampled in the middle of each bit).  ``transfer(list[int]) -> list[int]``
answers a transfer in one call against the one chip model
(``simulator.hx711_chip.HX711Chip``) - gpiozero's bit-level
``MockSPIDevice`` over ``MockSPIInterface`` takes about 1.2 ms per 7-byte
transfer, far too slow for virtual-time sessions.

Each transfer lasts ``8 * len(data) / rate`` seconds of the chip's clock
(moved on, or slept through on real time), and a MOSI bit lasts
``1 / rate``: a run of ``1`` bits longer than 60 µs powers the chip down,
exactly as PD_SCK would.  The driver's own transfers are recognised by a
list comparison, with no per-transfer allocation but the reply: a ready
probe is answered from DOUT's kept level (``HX711Chip.steady_dout``), a
plain 25-27 pulse read of a ready chip by the chip's ``read_out`` shortcut
and a table of MISO bytes.  Anything else (stray or overlong pulses, a
disconnected or desynced chip, a conversion due mid-read) is replayed edge
by edge through the same model.

CPU accounting (``cpu_seconds``) is off until first asked for: two
``thread_time`` calls a transfer cost as much as a probe's answer, and only
the real-time usage figures read them.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from hal.hx711_protocol import POWER_DOWN_AFTER_S
from hal.hx711_spi_bits import CONVERSION_BYTES, READY_PROBE, conversion_pattern
from simulator.hx711_chip import HX711Chip

DEFAULT_RATE_HZ = 500_000


@dataclass(frozen=True, slots=True)
class _Waveform:
    """PD_SCK as a MOSI bit stream describes it."""

    bits: tuple[int, ...]
    #: For each bit, how many rising edges happened at or before it.
    pulses_by_bit: tuple[int, ...]
    rises: int
    longest_high_bits: int
    starts_high: bool
    #: Exactly ``conversion_pattern(rises)``: MISO can be built byte by byte from tables.
    canonical: bool


@functools.lru_cache(maxsize=64)
def _waveform(data: tuple[int, ...]) -> _Waveform:
    if any(not 0 <= byte <= 0xFF for byte in data):
        raise ValueError(f"SPI bytes must be 0..255, got {list(data)!r}")
    bits = tuple((byte >> (7 - i)) & 1 for byte in data for i in range(8))
    counts: list[int] = []
    rises = run = longest = 0
    previous = 0  # MOSI idles low before a transfer
    for bit in bits:
        if bit and not previous:
            rises += 1
        run = run + 1 if bit else 0
        longest = max(longest, run)
        counts.append(rises)
        previous = bit
    canonical = 25 <= rises <= 27 and list(data) == conversion_pattern(rises)
    return _Waveform(bits, tuple(counts), rises, longest, bool(bits and bits[0]), canonical)


#: A data nibble as MISO shows it in one ``0b10101010`` byte: each bit in its ``1`` and ``0`` half.
_SPREAD = tuple(sum(((nibble >> (3 - k)) & 1) * (0b11 << (6 - 2 * k)) for k in range(4)) for nibble in range(16))
#: A data byte as the two MISO bytes of its eight pulses.
_SPREAD_BYTE = tuple((_SPREAD[byte >> 4], _SPREAD[byte & 0xF]) for byte in range(256))
#: The driver's conversion transfers, by their last byte (the only one that differs).
_PATTERN_BY_LAST = {conversion_pattern(pulses)[-1]: (pulses, conversion_pattern(pulses)) for pulses in (25, 26, 27)}


def _pack(levels: list[bool]) -> list[int]:
    out = []
    for start in range(0, len(levels), 8):
        byte = 0
        for level in levels[start : start + 8]:
            byte = byte << 1 | level
        out.append(byte)
    return out


class HX711SpiFront:
    """SPI bus with the emulated HX711 alone on it (duck-types gpiozero's ``SPI``)."""

    def __init__(self, chip: HX711Chip, *, rate_hz: int = DEFAULT_RATE_HZ, exact: bool = False) -> None:
        self.chip = chip
        #: Replay every transfer edge by edge (no shortcut): the tests' reference.
        self.exact = exact
        self.clock = chip.clock
        self.rate = rate_hz
        self.clock_mode = 0
        self.transfers = 0
        self.closed = False
        self._cpu_s = 0.0
        self._counting_cpu = False

    def cpu_seconds(self) -> float:
        """CPU seconds (thread time) spent answering transfers since the first call, the waits left out.

        Counting starts at the first call, so the figure is the difference
        between two calls (what ``UsageMeter`` takes of it).
        """
        self._counting_cpu = True
        return self._cpu_s

    def transfer(self, data: list[int]) -> list[int]:
        if self.closed:
            raise OSError("SPI device is closed")
        counting = self._counting_cpu
        started_cpu = time.thread_time() if counting else 0.0
        self.transfers += 1
        bit_s = 1.0 / self.rate
        start = self.clock.now()
        if data == READY_PROBE:
            end = start + 8 * bit_s
            level = self.chip.steady_dout(start + bit_s / 2, end - bit_s / 2)
            miso = self._idle(start, end, 8, bit_s) if level is None else [0xFF if level else 0x00]
        elif len(data) == CONVERSION_BYTES and (known := _PATTERN_BY_LAST.get(data[-1])) and data == known[1]:
            end = start + 8 * CONVERSION_BYTES * bit_s
            miso = self._conversion(known[0], start, end, bit_s)
        else:
            miso, end = self._any_transfer(data, start, bit_s)
        if counting:
            self._cpu_s += time.thread_time() - started_cpu
        self.clock.sleep_until(end)
        return miso

    def close(self) -> None:
        self.closed = True

    def _conversion(self, pulses: int, start: float, end: float, bit_s: float) -> list[int]:
        """One of the driver's conversion transfers: the chip's shortcut and a table, or the replay."""
        bits = None if self.exact or bit_s > POWER_DOWN_AFTER_S else self.chip.read_out(start, pulses, ends_at=end)
        if bits is None:
            return self._replay(_waveform(tuple(conversion_pattern(pulses))), start, bit_s)
        high, middle, low = _SPREAD_BYTE[bits >> 16], _SPREAD_BYTE[bits >> 8 & 0xFF], _SPREAD_BYTE[bits & 0xFF]
        return [*high, *middle, *low, 0x00 if self.chip.desync else 0xFF]

    def _any_transfer(self, data: list[int], start: float, bit_s: float) -> tuple[list[int], float]:
        """Any other MOSI bytes: from the waveform they describe; returns MISO and the transfer's end."""
        wave = _waveform(tuple(data))
        end = start + len(wave.bits) * bit_s
        if wave.rises == 0:
            return self._idle(start, end, len(wave.bits), bit_s), end
        fast = None
        plain = 25 <= wave.rises <= 27 and wave.starts_high
        if plain and not self.exact and wave.longest_high_bits * bit_s <= POWER_DOWN_AFTER_S:
            fast = self.chip.read_out(start, wave.rises, ends_at=end)
        return (self._read_out(wave, fast) if fast is not None else self._replay(wave, start, bit_s)), end

    def _idle(self, start: float, end: float, n_bits: int, bit_s: float) -> list[int]:
        """MOSI low throughout: MISO is DOUT, which may change once in a while."""
        first = self.chip.dout_level(start + bit_s / 2)
        last = self.chip.dout_level(end - bit_s / 2)
        if first == last:
            return [0xFF if first else 0x00] * (n_bits // 8)
        return _pack([self.chip.dout_level(start + (i + 0.5) * bit_s) for i in range(n_bits)])

    def _read_out(self, wave: _Waveform, bits: int) -> list[int]:
        """MISO of a plain read: before pulse 1 DOUT is low, pulse k shows bit k, then high."""
        after = not self.chip.desync
        if wave.canonical:
            return [_SPREAD[bits >> shift & 0xF] for shift in (20, 16, 12, 8, 4, 0)] + [0xFF if after else 0x00]
        levels = [False] + [bool(bits >> (24 - k) & 1) for k in range(1, 25)] + [after] * 3
        return _pack([levels[count] for count in wave.pulses_by_bit])

    def _replay(self, wave: _Waveform, start: float, bit_s: float) -> list[int]:
        """Edge by edge: PD_SCK follows MOSI, MISO is DOUT in the middle of each bit."""
        chip = self.chip
        level = 0
        levels: list[bool] = []
        for i, bit in enumerate(wave.bits):
            t = start + i * bit_s
            if bit != level:
                chip.on_sck(bool(bit), at=t)
                level = bit
            levels.append(chip.dout_level(t + bit_s / 2))
        if level:
            chip.on_sck(False, at=start + len(wave.bits) * bit_s)  # MOSI idles low
        return _pack(levels)
