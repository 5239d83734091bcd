"""An HX711 load-cell ADC emulator: one chip model, reached through two fronts.

The pins front (``simulator.hx711_pins``) puts DOUT and PD_SCK on two gpiozero
mock pins for the bit-banging GPIO driver; the SPI front (``simulator.hx711_spi_front``)
answers whole SPI transfers (MOSI = PD_SCK, MISO = DOUT) for the SPI backend.
The chip is what the real drivers talk to in tests and ``simulate --pins``,
so it follows the datasheet's serial protocol rather than a driver's
habits, and it notes every protocol violation in ``errors``:

* conversions at ``sample_rate_hz`` on the injected ``Clock``, the first one
  ``settling_periods`` after wake-up; DOUT is low while one is ready;
* on SCK rising edges 1..24 DOUT shows the 24-bit two's-complement value,
  MSB first; pulses 25..27 raise DOUT and choose channel/gain for the *next*
  conversion (25: A/128, 26: B/32, 27: A/64); DOUT stays high until a
  conversion comes due after the last pulse (one due mid-transfer is lost);
* the value is ``force_source(t)`` (counts at channel A gain 128; ``None``
  means no conversion), scaled by gain/128 and clamped to 0x7FFFFF/-0x800000;
* SCK high for more than 60 µs powers the chip down (DOUT high); SCK low
  again wakes it at channel A gain 128 with a fresh settling time;
* ``disconnected = True`` leaves DOUT stuck high and ignores SCK;
* ``desync = True`` leaves DOUT low after the gain pulses (a chip that lost
  count of the pulses), where a healthy chip raises it.

The model is lazy: nothing runs in the background.  The DOUT pin computes
its level from the clock when read and the SCK pin reports edges when
written, so the emulator is exact and deterministic on a ``VirtualClock``
and also works on real time (``MonotonicClock``) for the benchmark.  Once
computed, DOUT's level is kept with the span of time it holds for (up to the
next conversion boundary, or until the next SCK edge or test control), so
looking again within it costs two comparisons: the SPI front's ready probes
and whole-transfer reads are answered from it.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hal.clock import Clock
from simulator.hx711_model import (
    GAIN_FOR_PULSES,
    NEVER,
    POWER_DOWN_AFTER_S,
    CountsSource,
    HX711Model,
    ProtocolError,
    counts_at_gain,
)
from simulator.hx711_pins import PinsFront

log = logging.getLogger(__name__)

__all__ = ["GAIN_FOR_PULSES", "POWER_DOWN_AFTER_S", "CountsSource", "HX711Chip", "ProtocolError", "counts_at_gain"]


class HX711Chip(HX711Model):
    """The emulated chip; create it *before* the driver asks the factory for the pins."""

    def __init__(
        self,
        factory: Any = None,
        *,
        dout_pin: int | None = None,
        sck_pin: int | None = None,
        clock: Clock,
        force_source: CountsSource,
        sample_rate_hz: float = 80.0,
        settling_periods: int = 4,
        channel_b_source: CountsSource | None = None,
        keep_levels: bool = True,
    ) -> None:
        super().__init__(clock, force_source, sample_rate_hz, settling_periods, channel_b_source, keep_levels)
        self._lock = threading.RLock()
        #: The pins front's DOUT and PD_SCK, with a ``factory``; without one, reach the chip through another front.
        self.pins = PinsFront(self, factory, dout_pin, sck_pin) if factory is not None else None
        self.dout: Any = self.pins.dout if self.pins else None
        self.sck: Any = self.pins.sck if self.pins else None

    def close(self) -> None:
        """Detach from the pins (they go back to plain mock pins); log how timely the reads were."""
        if self.conversions_read:
            log.info("emulated HX711: %d conversions read, %s", self.conversions_read, self.reads.describe())
        if self.pins is not None:
            self.pins.detach()

    # -- test controls --------------------------------------------------------------------------

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @disconnected.setter
    def disconnected(self, value: bool) -> None:
        with self._lock:
            self._disconnected = bool(value)
            self._steady = NEVER

    @property
    def desync(self) -> bool:
        """Test control: DOUT stays low after the 25th-27th pulse instead of going high."""
        return self._desync

    @desync.setter
    def desync(self, value: bool) -> None:
        with self._lock:
            self._desync = bool(value)
            self._steady = NEVER

    @property
    def powered(self) -> bool:
        with self._lock:
            self._update(self.clock.now())
            return self._powered

    @property
    def next_gain(self) -> tuple[str, int]:
        """Channel and gain the next conversion will use (a finished transfer counts)."""
        with self._lock:
            self._update(self.clock.now())
            pulses = self._pulses if 25 <= self._pulses <= 27 else self._selected
            return GAIN_FOR_PULSES[pulses]

    def conversion_time(self, index: int) -> float:
        """When conversion ``index`` (0 = first after the latest wake-up) is ready."""
        return self._timeline.time_of(index)

    # -- pin callbacks ----------------------------------------------------------------------------

    def dout_level(self, at: float | None = None) -> bool:
        """DOUT now (or at ``at``, a moment inside a transfer a front is replaying)."""
        with self._lock:
            return self._dout(self.clock.now() if at is None else at)

    def steady_dout(self, first: float, last: float) -> bool | None:
        """DOUT over ``[first, last]`` with SCK low throughout (a transfer of no pulses), if it holds one level.

        ``None`` when it changes in between: the front then samples it bit by bit.
        """
        with self._lock:
            since, until, level, _ = self._steady
            if since <= first and last < until:
                return level
            level = self._dout(first)
            if last < self._steady[1]:
                return level
            return level if self._dout(last) == level else None

    def on_sck(self, high: bool, at: float | None = None) -> None:
        """PD_SCK changed now (or at ``at``)."""
        with self._lock:
            now = self.clock.now() if at is None else at
            self._update(now)
            if high == self._sck_high:
                return
            self._sck_high = high
            self._steady = NEVER
            if high:
                self._sck_rise = now
                self._stray_pulse = False
                if self._powered and not self._disconnected:
                    self._rising_edge(now)
            elif not self._powered:
                self._wake(now)
            elif self._stray_pulse:
                # Judged at the falling edge: a long high (> 60 µs) was a deliberate reset.
                self._stray_pulse = False
                if self._after_lost_transfer:
                    self.pulses_after_lost_transfer += 1
                else:
                    self._error(now, "clock_while_not_ready", "SCK pulse while DOUT was high")

    def read_out(self, at: float, pulses: int, *, ends_at: float) -> int | None:
        """A whole well-formed transfer at once: ``pulses`` (25-27) short pulses in ``[at, ends_at]``.

        Returns the 24 data bits the pulses clock out, with the same effect on
        the chip as the pulses one by one - or ``None`` (nothing changed) when
        that transfer would not be a plain read: no conversion ready, chip
        disconnected or powered down, SCK high, a transfer in progress, or the
        next conversion coming due before ``ends_at`` (DOUT's level after the
        25th pulse then depends on exactly when).  The SPI front then replays
        the transfer edge by edge instead.
        """
        if not 25 <= pulses <= 27:
            raise ValueError(f"a read is 25-27 pulses, not {pulses}")
        with self._lock:
            since, until, _, index = self._steady
            if not since <= at < until:
                self._dout(at)
                since, until, _, index = self._steady
            # Idle, DOUT low (ready) and no conversion boundary before the last pulse.
            if index is None or ends_at >= until:
                return None
            self._clock_out_conversion(index, at)
            self._stray_pulse = False
            self._sck_rise = at
            self._pulses = pulses
            # After the last pulse DOUT is high (desync: low) until the conversion after this one.
            self._steady = (ends_at, until, not self._desync, None)
            return self._bits
