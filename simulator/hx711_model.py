"""The emulated HX711's state machine, unlocked: what ``simulator.hx711_chip.HX711Chip`` wraps.

Everything here runs under the chip's lock, called from its fronts' entry
points; the datasheet rules it follows are listed in ``hx711_chip``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hal.clock import Clock
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS
from simulator.hx711_timeline import ConversionTimeline
from simulator.hx711_timeliness import ReadTimeliness

CountsSource = Callable[[float], int | None]

POWER_DOWN_AFTER_S = 60e-6
#: Pulses per transfer -> (channel, gain) of the next conversion.
GAIN_FOR_PULSES: dict[int, tuple[str, int]] = {25: ("A", 128), 26: ("B", 32), 27: ("A", 64)}
#: No level kept: ``(from, until, level, index)`` of an empty span.
NEVER: tuple[float, float, bool, int | None] = (float("inf"), float("-inf"), True, None)


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Something the driver did that a real HX711 would not answer correctly."""

    at_s: float
    kind: str
    detail: str


def counts_at_gain(raw: int, gain: int) -> int:
    """What the chip converts ``raw`` (counts at gain 128) to at ``gain``: scaled, clamped to 24 bits."""
    return max(HX711_MIN_COUNTS, min(HX711_MAX_COUNTS, round(raw * gain / 128)))


class HX711Model:
    """The chip's state and its transitions: SCK edges, conversions coming due, power-down."""

    _pulses: int  # pulses of the transfer in progress (0 = idle)

    def __init__(
        self,
        clock: Clock,
        force_source: CountsSource,
        sample_rate_hz: float,
        settling_periods: int,
        channel_b_source: CountsSource | None,
        keep_levels: bool,
    ) -> None:
        self.clock = clock
        self.force_source = force_source
        self.channel_b_source = channel_b_source
        self.period_s = 1.0 / sample_rate_hz
        self.settling_s = settling_periods * self.period_s
        self._timeline = ConversionTimeline(self.period_s, self.settling_s, self._convert)
        self.errors: list[ProtocolError] = []
        self.power_downs = 0
        self.conversions_read = 0
        #: Time at which the most recently clocked-out conversion became ready.
        self.last_ready_at: float | None = None
        #: How late each conversion was read, and how many were overwritten unread.
        self.reads = ReadTimeliness(self.period_s)
        self._disconnected = False
        self._desync = False
        #: DOUT's level over ``[from, until)`` while nothing but time moves: ``(from, until, level,
        #: index)``, ``index`` the conversion announced when idle (``None`` in any other state).
        self._steady = NEVER
        #: Off: every look at DOUT computes it afresh (the tests' reference; no read shortcut then).
        self._keep_levels = keep_levels
        self._powered = True
        self._sck_high = False
        self._stray_pulse = False
        self._after_lost_transfer = False
        #: Pulses of a transfer that went on after the chip powered down under it.
        self.pulses_after_lost_transfer = 0
        self._sck_rise = clock.now()
        self._wake(clock.now())

    def _dout(self, now: float) -> bool:
        """DOUT at ``now``; keeps the level with the span it holds for when nothing but time can change it."""
        since, until, level, _ = self._steady
        if since <= now < until:
            return level
        self._update(now)
        if self._disconnected or not self._powered:
            return True
        pulses = self._pulses
        if pulses > 24:
            level = not self._desync
            if self._keep_levels and not self._sck_high:
                timeline = self._timeline
                self._steady = (now, timeline.trusted_until(timeline.latest_index(self._sck_rise) + 1), level, None)
            return level
        if pulses:
            return bool(self._bits >> (24 - pulses) & 1)
        index = self._timeline.latest_index(now)
        ready = self._ready(index)
        if self._keep_levels and not self._sck_high:
            self._steady = (now, self._timeline.trusted_until(index + 1), ready is None, ready)
        return ready is None

    def _wake(self, now: float) -> None:
        self._powered = True
        self._timeline.restart(now)
        self._consumed = -1  # index of the last conversion clocked out
        self._selected = 25  # channel A, gain 128 after power-up
        self._pulses = 0  # pulses of the transfer in progress (0 = idle)
        self._bits = 0
        self._steady = NEVER
        self.reads.woke()

    def _update(self, now: float) -> None:
        """Apply what happened since the last event: power-down, end of a transfer."""
        if self._powered and self._sck_high and not self._disconnected and now - self._sck_rise > POWER_DOWN_AFTER_S:
            self._power_down(self._sck_rise + POWER_DOWN_AFTER_S)
        if self._pulses >= 25:
            # The 25th pulse raised DOUT; it falls at the first conversion due after the
            # transfer's last pulse.  One that came due while the bits were shifting out
            # never reaches DOUT: the chip announces the next one.
            shifting = self._timeline.latest_index(self._sck_rise)
            if self._timeline.latest_index(now) > shifting:
                self._consumed = max(self._consumed, shifting)
                self._finish_transfer(now)
        elif self._pulses and self._timeline.latest_index(now) - self._consumed >= 2:
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
        self._steady = NEVER
        self.power_downs += 1

    def _finish_transfer(self, now: float) -> None:
        pulses = self._pulses
        self._pulses = 0
        self._steady = NEVER
        if pulses < 25:
            self._error(now, "incomplete_transfer", f"{pulses} pulses, need 25-27; gain selection unchanged")
        elif pulses <= 27:
            self._selected = pulses

    def _rising_edge(self, now: float) -> None:
        if self._pulses == 0:
            index = self._ready(self._timeline.latest_index(now))
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
        counts = self._timeline.value(index)
        assert counts is not None
        self._bits = counts & 0xFF_FF_FF
        self._steady = NEVER
        self._after_lost_transfer = False
        self._consumed = index
        self.conversions_read += 1
        ready_at = self._timeline.time_of(index)
        self.last_ready_at = ready_at
        self.reads.clocked_out(index, at - ready_at)

    def _ready(self, index: int) -> int | None:
        """``index`` (the latest conversion due) if DOUT announces it: no transfer under way, unread, present."""
        if self._pulses or index < 0 or index <= self._consumed:
            return None
        return index if self._timeline.value(index) is not None else None

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
