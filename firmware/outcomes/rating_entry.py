"""Entering a 0-10 pain rating with the one button, felt back through the motor (pure: time comes in).

The gesture (README "Outcomes"), only while no session runs - before a start
and after the end - so a stop is never delayed: during a session the button
is the stop button and nothing else.

* after the ``rate_pain`` prompt, each short press adds one (up to 10);
* a long hold with no press yet enters 0;
* ``settle_s`` after the last press the device counts the number back, one
  short pulse each; ``confirm_s`` of quiet after that accepts it, a long hold
  during it throws it away and entry starts again (twice at most);
* nothing at all for ``skip_after_s`` after the prompt skips the rating, and
  so do the skip gesture (``skip``: on the device a hold of 5 s or more) and
  a shutdown (``cancel``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware.outcomes.records import PainRating
from firmware.session.decisions import DecisionRecord

MAX_RATING = 10


class EntryState(StrEnum):
    COUNTING = "counting"
    CONFIRMING = "confirming"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class CountBack(DecisionRecord, type="count_back"):
    """Play ``rating`` short pulses (none for 0: one long one)."""

    rating: int


@dataclass(frozen=True, slots=True)
class RatingEntered(DecisionRecord, type="rating_entered"):
    rating: int


@dataclass(frozen=True, slots=True)
class RatingSkipped(DecisionRecord, type="rating_skipped"):
    why: str


EntryOutput = CountBack | RatingEntered | RatingSkipped


@dataclass(frozen=True)
class EntryTiming:
    settle_s: float = 2.5
    confirm_s: float = 4.0
    skip_after_s: float = 10.0
    #: Seconds per pulse of the count-back; the confirmation window opens after it.
    pulse_s: float = 0.4
    restarts: int = 2


class RatingEntry:
    """One rating, from the prompt at ``started_at`` to entered or skipped."""

    def __init__(self, started_at: float, timing: EntryTiming = EntryTiming()) -> None:
        self.timing = timing
        self.state = EntryState.COUNTING
        self.count = 0
        self.rating: PainRating | None = None
        self._since = started_at  # the prompt, the last press, or the end of the count-back
        self._restarts = 0

    @property
    def finished(self) -> bool:
        return self.state is EntryState.DONE

    def press(self, t: float) -> list[EntryOutput]:
        if self.state is EntryState.COUNTING:
            self.count = min(self.count + 1, MAX_RATING)
            self._since = t
        return []

    def hold(self, t: float) -> list[EntryOutput]:
        if self.state is EntryState.COUNTING and self.count == 0:
            return self._count_back(t)
        if self.state is EntryState.CONFIRMING:
            if self._restarts >= self.timing.restarts:
                return self._skip(t, "entered again too often")
            self._restarts += 1
            self.state, self.count, self._since = EntryState.COUNTING, 0, t
        return []

    def tick(self, t: float) -> list[EntryOutput]:
        """Time passes (call it at least every few tenths of a second)."""
        timing = self.timing
        if self.state is EntryState.COUNTING:
            if self.count == 0 and t - self._since >= timing.skip_after_s:
                return self._skip(t, "no answer")
            if self.count > 0 and t - self._since >= timing.settle_s:
                return self._count_back(t)
        elif self.state is EntryState.CONFIRMING and t - self._since >= timing.confirm_s:
            self.state, self.rating = EntryState.DONE, self.count
            return [RatingEntered(t, self.count)]
        return []

    def skip(self, t: float) -> list[EntryOutput]:
        """The skip gesture (a very long hold): no rating this time."""
        return [] if self.finished else self._skip(t, "skipped by the person")

    def cancel(self, t: float) -> list[EntryOutput]:
        """A start or stop request: the rating is skipped at once, never in the way."""
        return [] if self.finished else self._skip(t, "button pressed for a session")

    def _count_back(self, t: float) -> list[EntryOutput]:
        self.state = EntryState.CONFIRMING
        self._since = t + max(self.count, 1) * self.timing.pulse_s
        return [CountBack(t, self.count)]

    def _skip(self, t: float, why: str) -> list[EntryOutput]:
        self.state = EntryState.DONE
        return [RatingSkipped(t, why)]
