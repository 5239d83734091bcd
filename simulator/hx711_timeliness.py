"""How timely the reads of an emulated HX711 were, as the chip itself sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ReadTimeliness:
    """What a real HX711 would have done with the reader's timing: conversions read late, or lost.

    The chip converts on its own oscillator and keeps only the latest
    conversion: a read late by less than one period still gets its
    conversion; a conversion not read before the next one is ready is
    overwritten - a lost read, counted here whatever the reader believes.
    A wake-up (power-up, reset) starts the count of conversions afresh.
    """

    period_s: float
    #: Conversions that became ready and were overwritten by the next one before any read.
    overwritten: int = 0
    #: Reads that started more than half a period after their conversion was ready.
    late_half_period: int = 0
    #: The longest time from a conversion being ready to the read of it starting.
    max_delay_s: float = 0.0
    _last_index: int = -1

    def woke(self) -> None:
        self._last_index = -1

    def clocked_out(self, index: int, delay_s: float) -> None:
        if self._last_index >= 0:
            self.overwritten += max(0, index - self._last_index - 1)
        self._last_index = index
        if delay_s > self.max_delay_s:
            self.max_delay_s = delay_s
        if delay_s > self.period_s / 2:
            self.late_half_period += 1

    def describe(self) -> str:
        """One line for the log (``bench/bench_realtime.py`` reads it back)."""
        return (
            f"{self.overwritten} conversions overwritten unread, {self.late_half_period} read over half a "
            f"period late, longest read delay {self.max_delay_s * 1e3:.2f} ms"
        )
