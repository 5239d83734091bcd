"""HX711 over SPI: the SPI hardware clocks PD_SCK, so the 60 µs limit holds by construction.

Wiring (SPI0): MOSI (GPIO10) -> PD_SCK, MISO (GPIO9) <- DOUT; SCLK and CE
unconnected, the HX711 alone on the bus.  One conversion is one SPI
transfer of ``hx711_spi_bits.conversion_pattern`` (25, 26 or 27 pulses);
between transfers MOSI is low, so no Python pause - GIL, garbage
collector, scheduler - can stretch a pulse.  That is why this backend, not
bit-banging GPIO from Python, is the default on a device.

The bus is any object with gpiozero's SPI interface (``transfer``,
``clock_mode``, ``close``): ``pin_factory.spi(...)`` on a Pi (lgpio's
hardware SPI, Pi 5 included), the emulator's SPI front in ``simulate --pins``.

Start-up (before any session): a reset (MOSI high > 60 µs powers the chip
down; MOSI falling wakes it at A/128), then the settling time after reset
and after switching to the configured gain (4 periods: 400 ms at 10/s, 50 ms
at 80/s) is read and discarded.  Mid-session nothing is waited out: a
conversion made at an old gain is dropped, as on the GPIO backend.

Desync: after the 25th-27th pulse DOUT must go high.  When it does not,
the chip and we disagree on the pulse count; the reading is dropped,
counted in ``stats.desyncs``, DOUT is not trusted again until the next
conversion is due, and that conversion is dropped too (its gain is
unknown).  A floating DOUT (broken wire) reads as "ready, all zeros" on
SPI - no pull-up - and is caught the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from hal.clock import Clock
from hal.hx711_channel import HX711ChannelA, HX711ReadStats
from hal.hx711_phase import PhaseLockedPacer
from hal.hx711_protocol import RESET_HOLD_S, SETTLING_PERIODS, Gain
from hal.hx711_spi_bits import (
    READY_PROBE,
    RESET_TAIL_BYTES,
    conversion_pattern,
    decode_conversion,
    reset_pattern,
)
from hal.sensor import LookAt, ReadStep, SensorError, SteppedSensor

#: SPI mode 0: MOSI set up before SCLK rises, MISO sampled as SCLK rises (mid-bit).
SPI_MODE = 0
DEFAULT_SPI_CLOCK_HZ = 500_000


class SpiBus(Protocol):
    """What the sensor needs of a gpiozero SPI object."""

    clock_mode: int

    def transfer(self, data: list[int]) -> list[int]: ...

    def close(self) -> None: ...


#: The MOSI bytes of a conversion by pulse count (25 A/128, 26 B/32, 27 A/64).
PATTERNS = {pulses: conversion_pattern(pulses) for pulses in (25, 26, 27)}


@dataclass(slots=True)
class HX711SpiStats(HX711ReadStats):
    """What the SPI backend saw; ``selfcheck`` and the logs report these."""

    #: Readings dropped because DOUT stayed low after the gain pulses.
    desyncs: int = 0
    #: Conversions dropped at start-up while the chip settled after reset or gain change.
    settling_discards: int = 0


class HX711SpiSensor(HX711ChannelA, SteppedSensor):
    """Channel A of an HX711 on an SPI bus, paced by the chip's data-ready.

    ``read`` blocks (the channel's read over the pacer's ``wait_ready``);
    ``begin_read``/``step_read`` read the same way in steps, each a
    transfer or two and no sleep, for the real-time loop's timers.
    """

    def __init__(
        self,
        spi: SpiBus,
        *,
        clock: Clock,
        gain: Gain = 128,
        sample_rate_hz: float = 80.0,
        clock_hz: int = DEFAULT_SPI_CLOCK_HZ,
        poll_s: float = 0.25e-3,
        early_fraction: float = 0.15,
    ) -> None:
        super().__init__(clock, gain, sample_rate_hz)
        self.clock = clock
        #: The deadline of the stepped read under way.
        self._deadline = -1.0
        self._pacer = PhaseLockedPacer(
            clock,
            sample_rate_hz,
            poll_s=poll_s,
            search_fraction=early_fraction,
            look_s=8 * len(READY_PROBE) / clock_hz,
        )
        self._spi = spi
        #: ``_settle`` saw a settled conversion waiting: the first ``read`` need not look again.
        self._ready_known = False
        self.stats: HX711SpiStats = HX711SpiStats()
        try:
            spi.clock_mode = SPI_MODE
            self._transfer(reset_pattern(clock_hz, RESET_HOLD_S))
            woke_at = clock.now() - 8 * RESET_TAIL_BYTES / clock_hz
            self._pacer.restart(woke_at, SETTLING_PERIODS)
            self._settle()
        except BaseException:
            spi.close()
            raise

    # -- public ------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the SPI device.  Idempotent.  (MOSI idles low: the chip keeps converting.)"""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._spi.close()

    def begin_read(self, timeout_s: float) -> float:
        with self._lock:
            self._check_open()
            now = self._clock.now()
            self._deadline = now + max(0.0, timeout_s)
            if self._ready_known:
                return now
            self._pacer.begin(self._deadline)
            first = self._pacer.next_look(now)
            return now if first is None else first

    def step_read(self) -> ReadStep:
        """Look when the pacer says so; read a conversion found ready; ``LookAt`` the next look otherwise."""
        with self._lock:
            self._check_open()
            clock, pacer = self._clock, self._pacer
            while True:
                if self._ready_known:
                    self._ready_known = False
                else:
                    now = clock.now()
                    at = pacer.next_look(now)
                    if at is None:
                        self.stats.timeouts += 1
                        return None
                    if at > now:
                        return LookAt(at)
                    if not pacer.looked(now, not self._busy(), clock.now()):
                        continue
                value = self._take()
                if value is not None:
                    return value
                pacer.begin(self._deadline)  # dropped: wait for a fresh one, by the same deadline

    # -- internals ---------------------------------------------------------------------------

    def _transfer(self, data: list[int]) -> list[int]:
        try:
            return self._spi.transfer(data)
        except OSError as err:
            raise SensorError(f"HX711 SPI transfer failed: {err}") from err

    def _busy(self) -> bool:
        return self._transfer(READY_PROBE) != READY_PROBE

    def _wait_ready(self, deadline: float) -> bool:
        known, self._ready_known = self._ready_known, False
        return known or self._pacer.wait_ready(deadline, self._busy)

    def _clock_out(self, pulses: int) -> int | None:
        """One conversion transfer: the reading, or ``None`` on a desync."""
        value = decode_conversion(self._transfer(PATTERNS[pulses]))
        if value is None:
            # The chip counted our pulses differently: it may have taken any gain for the next
            # conversion, so that one is dropped too, and DOUT is not trusted until it is due.
            self.stats.desyncs += 1
            self._selected = None
            self._pacer.hold_off()
        return value

    def _settle(self) -> None:
        """Discard conversions until the chip has settled at the configured gain (bounded).

        Returns with a settled conversion waiting for the first ``read``; a
        chip that never answers shows up as ``read`` timeouts instead.
        """
        period = self._pacer.period_s
        settled_at = self._clock.now() + SETTLING_PERIODS * period
        deadline = settled_at + 2 * period
        while self._pacer.wait_ready(deadline, self._busy):
            if self._selected == self._pulses and self._clock.now() >= settled_at - period / 2:
                self._ready_known = True
                return
            made_with = self._selected
            if self._clock_out(self._pulses) is not None:
                self._selected = self._pulses
            self.stats.settling_discards += 1
            if made_with != self._pulses:  # the gain changes with this transfer: settle again
                settled_at = self._clock.now() + SETTLING_PERIODS * period
                deadline = settled_at + 2 * period
