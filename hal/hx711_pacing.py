"""When the GPIO backend looks for the HX711's next conversion: from a margin before it, on a poll grid.

The chip announces a conversion by pulling DOUT low, ``1 / rate`` after the
previous one.  Rather than poll all the time, a backend sleeps on the
injected ``Clock`` until shortly before the expected conversion and then
polls on a fixed grid (anchored at the chip's wake-up), so in virtual time a
conversion is picked up exactly when it becomes ready and on real time
within one poll step, with few wake-ups per sample.  Every wait is bounded.

The SPI backend, where each look at DOUT is a bus transfer, learns the
conversion's phase instead (``hal.hx711_phase.PhaseLockedPacer``).  A
conversion found ready long after the last look that saw DOUT high (a late
call, a wake-up the scheduler delayed) may have been waiting: it does not
move the schedule later, or one late wake-up would leave every later read late.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hal.clock import Clock


def conversion_grid(sample_rate_hz: float, poll_s: float) -> tuple[float, float]:
    """The conversion period and the poll step: ``poll_s`` rounded so a whole number fits one period."""
    if sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be positive, not {sample_rate_hz!r}")
    period_s = 1.0 / sample_rate_hz
    return period_s, period_s / max(1, round(period_s / poll_s))


class ConversionPacer:
    """Bounded, grid-aligned waiting for DOUT low; ``busy()`` reads the line."""

    def __init__(
        self,
        clock: Clock,
        sample_rate_hz: float,
        *,
        poll_s: float,
        early_fraction: float,
    ) -> None:
        self.clock = clock
        self.period_s, self._poll = conversion_grid(sample_rate_hz, poll_s)
        self._early = early_fraction * self.period_s
        self._anchor = clock.now()
        self._expected = self._anchor
        self._hold_until = -math.inf

    def restart(self, woke_at: float, periods_to_first: float) -> None:
        """The chip (re)started at ``woke_at``; its first conversion is due ``periods_to_first`` later."""
        self._anchor = woke_at
        self._expected = woke_at + periods_to_first * self.period_s
        self._hold_until = -math.inf

    def hold_off(self) -> None:
        """Do not trust DOUT before the next conversion is due (after a garbled read)."""
        # Half a poll step: a look earlier than that may see the garbled transfer's DOUT, not a conversion.
        self._hold_until = self._expected - self._poll / 2

    def wait_ready(self, deadline: float, busy: Callable[[], bool]) -> bool:
        """Wait until ``busy()`` is false or ``deadline`` passes on the clock; never spin."""
        clock = self.clock
        busy_at = -math.inf  # the latest look of this wait that saw DOUT high
        while True:
            now = clock.now()
            if now >= self._hold_until:
                if not busy():
                    self._found(clock.now(), busy_at)
                    return True
                busy_at = now
            now = clock.now()
            if now >= deadline:
                return False
            clock.sleep_until(min(deadline, self._next_poll(now)))

    def _found(self, seen: float, busy_at: float) -> None:
        """Move the schedule on from a conversion seen ready at ``seen``.

        Seen within about one poll step of a look that saw DOUT high, the
        conversion came then.  Otherwise it may have been waiting - a late
        call, or a wake-up the scheduler delayed - and taking ``seen`` for its
        time would shift the schedule late for good: keep the schedule (or
        move it earlier, never later).
        """
        precise = seen - busy_at <= 1.5 * self._poll
        base = seen if precise else min(seen, self._expected)
        self._expected = base + self.period_s

    def _next_poll(self, now: float) -> float:
        """The next grid point after ``now``, but not before the expected conversion - margin."""
        earliest = self._expected - self._early
        if earliest > now:
            steps = math.ceil((earliest - self._anchor) / self._poll - 1e-6)
        else:
            steps = math.floor((now - self._anchor) / self._poll + 1e-6) + 1
        t = self._anchor + steps * self._poll
        return t if t > now else now + self._poll
