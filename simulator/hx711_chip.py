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
and also works on real time (``MonotonicClock``) for the benchmark.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hal.clock import Clock
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS
from simulator.hx711_pins import PinsFront
from simulator.hx711_timeliness import ReadTimeliness

log = logging.getLogger(__name__)

CountsSource = Callable[[float], int | None]

POWER_DOWN_AFTER_S = 60e-6
#: Pulses per transfer -> (channel, gain) of the next conversion.
GAIN_FOR_PULSES: dict[int, tuple[str, int]] = {25: ("A", 128), 26: ("B", 32), 27: ("A", 64)}
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Something the driver did that a real HX711 would not answer correctly."""

    at_s: float
    kind: str
    detail: str


def counts_at_gain(raw: int, gain: int) -> int:
    """What the chip converts ``raw`` (counts at gain 128) to at ``gain``: scaled, clamped to 24 bits."""
    return max(HX711_MIN_COUNTS, min(HX711_MAX_COUNTS, round(raw * gain / 128)))


class HX711Chip:
    """The emulated chip; create it *before* the driver asks the factory for the pins."""

    _pulses: int  # pulses of the transfer in progress (0 = idle)

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
    ) -> None:
        self.clock = clock
        self.force_source = force_source
        self.channel_b_source = channel_b_source
        self.period_s = 1.0 / sample_rate_hz
        self.settling_s = settling_periods * self.period_s
        self.errors: list[ProtocolError] = []
        self.power_downs = 0
        self.conversions_read = 0
        #: Time at which the most recently clocked-out conversion became ready.
        self.last_ready_at: float | None = None
        #: How late each conversion was read, and how many were overwritten unread.
        self.reads = ReadTimeliness(self.period_s)
        self._lock = threading.RLock()
        self._disconnected = False
        #: Test control: DOUT stays low after the 25th-27th pulse instead of going high.
        self.desync = False
        self._powered = True
        self._sck_high = False
        self._stray_pulse = False
        self._after_lost_transfer = False
        #: Pulses of a transfer that went on after the chip powered down under it.
        self.pulses_after_lost_transfer = 0
        self._sck_rise = clock.now()
        self._wake(clock.now())
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
        return self._first + index * self.period_s

    # -- pin callbacks ----------------------------------------------------------------------------

    def dout_level(self, at: float | None = None) -> bool:
        """DOUT now (or at ``at``, a moment inside a transfer a front is replaying)."""
        with self._lock:
            now = self.clock.now() if at is None else at
            self._update(now)
            if self._disconnected or not self._powered:
                return True
            if self._pulses:
                if self._pulses > 24:
                    return not self.desync
                return bool(self._bits >> (24 - self._pulses) & 1)
            return self._ready_index(now) is None

    def on_sck(self, high: bool, at: float | None = None) -> None:
        """PD_SCK changed now (or at ``at``)."""
        with self._lock:
            now = self.clock.now() if at is None else at
            self._update(now)
            if high == self._sck_high:
                return
            self._sck_high = high
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
            self._update(at)
            if self._disconnected or not self._powered or self._sck_high or self._pulses:
                return None
            if self._latest_index(ends_at) != self._latest_index(at):
                return None
            index = self._ready_index(at)
            if index is None:
                return None
            self._clock_out_conversion(index, at)
            self._stray_pulse = False
            self._sck_rise = at
            self._pulses = pulses
            return self._bits

    # -- the model --------------------------------------------------------------------------------

    def _wake(self, now: float) -> None:
        self._powered = True
        self._first = now + self.settling_s
        self._consumed = -1  # index of the last conversion clocked out
        self._selected = 25  # channel A, gain 128 after power-up
        self._pulses = 0  # pulses of the transfer in progress (0 = idle)
        self._bits = 0
        self._cache: tuple[int, int | None] = (-1, None)
        self.reads.woke()

    def _update(self, now: float) -> None:
        """Apply what happened since the last event: power-down, end of a transfer."""
        if self._powered and self._sck_high and not self._disconnected and now - self._sck_rise > POWER_DOWN_AFTER_S:
            self._power_down(self._sck_rise + POWER_DOWN_AFTER_S)
        if self._pulses >= 25:
            # The 25th pulse raised DOUT; it falls at the first conversion due after the
            # transfer's last pulse.  One that came due while the bits were shifting out
            # never reaches DOUT: the chip announces the next one.
            shifting = self._latest_index(self._sck_rise)
            if self._latest_index(now) > shifting:
                self._consumed = max(self._consumed, shifting)
                self._finish_transfer(now)
        elif self._pulses and self._latest_index(now) - self._consumed >= 2:
            # A stalled transfer (fewer than 25 pulses) ends once a whole further period went by.
            self._finish_transfer(now)

    def _power_down(self, at: float) -> None:
        if self._pulses and not self._disconnected:
            self._error(
                at,
                "power_down_mid_transfer",
                f"SCK high > 60 µs after pulse {self._pulses}: the chip powered down, the reading is lost",
            )
            # The driver will clock out the rest of that transfer into a freshly reset
            # chip: those pulses are counted here, not reported one error each.
            self._after_lost_transfer = True
        self._powered = False
        self._pulses = 0
        self.power_downs += 1

    def _finish_transfer(self, now: float) -> None:
        pulses = self._pulses
        self._pulses = 0
        if pulses < 25:
            self._error(now, "incomplete_transfer", f"{pulses} pulses, need 25-27; gain selection unchanged")
        elif pulses <= 27:
            self._selected = pulses

    def _rising_edge(self, now: float) -> None:
        if self._pulses == 0:
            index = self._ready_index(now)
            if index is None:
                self._stray_pulse = True
                return
            self._clock_out_conversion(index, now)
            self._pulses = 1
            return
        self._pulses += 1
        if self._pulses > 27:
            self._error(now, "too_many_pulses", f"pulse {self._pulses} in one transfer")
            self._pulses = 27

    def _clock_out_conversion(self, index: int, at: float) -> None:
        """The first pulse of a read at ``at`` takes conversion ``index`` into the shift register."""
        assert self._cache[1] is not None
        self._bits = self._cache[1] & 0xFF_FF_FF
        self._after_lost_transfer = False
        self._consumed = index
        self.conversions_read += 1
        ready_at = self.conversion_time(index)
        self.last_ready_at = ready_at
        self.reads.clocked_out(index, at - ready_at)

    def _latest_index(self, now: float) -> int:
        return math.floor((now - self._first) / self.period_s + _EPS)

    def _ready_index(self, now: float) -> int | None:
        """The conversion DOUT announces now, if any (the latest one, unread and present)."""
        if self._pulses:
            return None
        index = self._latest_index(now)
        if index < 0 or index <= self._consumed:
            return None
        if self._cache[0] != index:
            self._cache = (index, self._convert(self.conversion_time(index)))
        return index if self._cache[1] is not None else None

    def _convert(self, t: float) -> int | None:
        channel, gain = GAIN_FOR_PULSES[self._selected]
        if channel == "B":
            source = self.channel_b_source
            raw = source(t) if source is not None else 0
        else:
            raw = self.force_source(t)
        return None if raw is None else counts_at_gain(raw, gain)

    def _error(self, at: float, kind: str, detail: str) -> None:
        self.errors.append(ProtocolError(at, kind, detail))
