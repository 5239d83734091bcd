"""Which spot a session is at, and how each spot ended."""

from __future__ import annotations

from config.spots import SpotPlan
from firmware.session.states import Outcome, SpotOutcome

_OF_SESSION = {
    Outcome.COMPLETED: SpotOutcome.COMPLETED,
    Outcome.ABORTED: SpotOutcome.ABORTED,
    Outcome.STOPPED: SpotOutcome.STOPPED,
    Outcome.TIMED_OUT: SpotOutcome.TIMED_OUT,
    Outcome.INTERRUPTED: SpotOutcome.INTERRUPTED,
}


class SpotProgress:
    """Spots are done in order; the one under way ends with the session unless its last release came first."""

    __slots__ = ("current_done", "index", "spots")

    def __init__(self, spots: tuple[SpotPlan, ...]) -> None:
        self.spots = spots
        self.index = 0
        self.current_done = False

    @property
    def current(self) -> SpotPlan:
        return self.spots[self.index]

    @property
    def is_last(self) -> bool:
        return self.index + 1 == len(self.spots)

    def advance(self) -> SpotPlan:
        self.index += 1
        self.current_done = False
        return self.current

    def outcomes(self, session: Outcome | None) -> list[SpotOutcome]:
        """Each spot's outcome once the session ended with ``session``."""
        ended = _OF_SESSION[session] if session is not None else SpotOutcome.INTERRUPTED
        return [
            SpotOutcome.COMPLETED
            if i < self.index or (i == self.index and self.current_done)
            else ended
            if i == self.index
            else SpotOutcome.NOT_REACHED
            for i in range(len(self.spots))
        ]
