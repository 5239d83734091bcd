"""The rules of a check-in: how ``less`` and ``more`` move one spot's target, and where they stop.

``less`` multiplies the target by ``1 - step`` down to a floor: the higher of
half the planned target and 1.5 × the contact threshold (a lighter target
would be hard to tell from letting go).  ``more`` multiplies it by
``1 + step`` at most ``max_increments`` times per spot, and only while the
band's top stays strictly below the spot's tolerance - by the very rule the
plan was checked with.  Tolerance, therapist max and device max never move.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.plan import strictly_below
from config.spots import SpotPlan, band_edges
from firmware.session.states import Gesture

FLOOR_OF_PLANNED = 0.5
FLOOR_OF_CONTACT = 1.5


@dataclass(frozen=True, slots=True)
class AdjustResult:
    """What a check-in did: the target now, and why nothing changed if it was refused."""

    target_n: float
    refused: str | None = None


class SpotTarget:
    """The target of the spot under way, as check-ins moved it."""

    __slots__ = ("_floor", "_max_increments", "_step", "band", "increments", "planned_n", "target_n", "tolerance_n")

    def __init__(self, spot: SpotPlan, *, step: float, max_increments: int, contact_threshold_n: float) -> None:
        self.planned_n = spot.target
        self.target_n = spot.target
        self.band = spot.band
        self.tolerance_n = spot.tolerance
        self.increments = 0
        self._step = step
        self._max_increments = max_increments
        self._floor = max(FLOOR_OF_PLANNED * spot.target, FLOOR_OF_CONTACT * contact_threshold_n)

    def band_n(self) -> tuple[float, float]:
        """The band's low and high edges, N, around the target as it is now."""
        return band_edges(self.target_n, self.band)

    @property
    def band_low_n(self) -> float:
        return self.band_n()[0]

    @property
    def band_high_n(self) -> float:
        return self.band_n()[1]

    def adjust(self, kind: Gesture) -> AdjustResult:
        """Apply ``less`` or ``more`` if the rules allow it."""
        if kind is Gesture.LESS:
            lowered = max(self.target_n * (1.0 - self._step), self._floor)
            if not lowered < self.target_n:
                return AdjustResult(self.target_n, "already at the lowest target for this spot")
            self.target_n = lowered
            return AdjustResult(lowered)
        if self.increments >= self._max_increments:
            return AdjustResult(self.target_n, f"'more' already used {self._max_increments} times at this spot")
        raised = self.target_n * (1.0 + self._step)
        if not strictly_below(band_edges(raised, self.band)[1], self.tolerance_n):
            return AdjustResult(self.target_n, "a firmer target would reach the tolerance")
        self.target_n = raised
        self.increments += 1
        return AdjustResult(raised)
