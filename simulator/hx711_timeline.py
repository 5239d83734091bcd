"""When an emulated HX711's conversions come due, and what each one holds.

The chip converts on its own oscillator: conversion ``index`` (0 = the
first after the latest wake-up) is ready ``settling_s + index * period_s``
after waking, whatever the reader does.  Its value is taken once, when first
asked for, and kept with its index, so looking at DOUT again and reading the
conversion out see the same number.
"""

from __future__ import annotations

import math
from collections.abc import Callable

#: Slack (in periods) so a clock reading a rounding error short of a conversion's time counts as it.
_EPS = 1e-9
#: How far (in periods) before a conversion's time a level kept from before stops being trusted:
#: far more than the rounding of a clock reading, far less than any transfer.
_BOUNDARY_MARGIN = 1e-6


class ConversionTimeline:
    """The conversion grid since the latest wake-up and the value of the conversion last asked for."""

    def __init__(self, period_s: float, settling_s: float, convert: Callable[[float], int | None]) -> None:
        self.period_s = period_s
        self.settling_s = settling_s
        self._convert = convert
        self.first = 0.0
        self._kept: tuple[int, int | None] = (-1, None)

    def restart(self, now: float) -> None:
        """The chip woke at ``now``: the first conversion comes a settling time later."""
        self.first = now + self.settling_s
        self._kept = (-1, None)

    def time_of(self, index: int) -> float:
        return self.first + index * self.period_s

    def latest_index(self, now: float) -> int:
        """The last conversion due at or before ``now`` (negative while settling)."""
        return math.floor((now - self.first) / self.period_s + _EPS)

    def trusted_until(self, index: int) -> float:
        """Just before conversion ``index`` comes due: what holds now holds at least until here."""
        return self.first + (index - _BOUNDARY_MARGIN) * self.period_s

    def value(self, index: int) -> int | None:
        """Conversion ``index``'s counts (``None``: the source gave none), taken once."""
        kept_index, counts = self._kept
        if kept_index != index:
            counts = self._convert(self.first + index * self.period_s)
            self._kept = (index, counts)
        return counts
