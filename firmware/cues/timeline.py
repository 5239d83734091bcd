"""When the motor changes level, worked out from cues and time alone.

Pure: the runtime asks "what changes are due by time t?" and applies them,
either in a virtual-time loop (exact times) or from an asyncio task that
sleeps until ``next_change_at()``.  Cues queue behind the one playing (at most
``MAX_QUEUED``; later ones are dropped, counted), except abort and refused,
which cut in at once.
"""

from __future__ import annotations

from collections import deque

from firmware.cues.patterns import PATTERNS, PREEMPTING
from firmware.session.states import Cue

MAX_QUEUED = 3


class MotorTimeline:
    """A queue of cue patterns laid out on a time line."""

    def __init__(self) -> None:
        self._steps: deque[tuple[float, float]] = deque()  # (at, level), time order
        self._queue: deque[Cue] = deque()
        self._busy_until = float("-inf")
        self.level = 0.0
        self.dropped = 0
        self.played: list[tuple[float, Cue]] = []

    def play(self, t: float, cue: Cue) -> None:
        """Ask for ``cue`` at time ``t``."""
        if cue in PREEMPTING:
            self._steps.clear()
            self._queue.clear()
            self._busy_until = float("-inf")
            self._lay_out(t, cue)
            return
        if t >= self._busy_until and not self._queue:
            self._lay_out(t, cue)
        elif len(self._queue) < MAX_QUEUED:
            self._queue.append(cue)
        else:
            self.dropped += 1

    def _lay_out(self, t: float, cue: Cue) -> None:
        at = t
        for level, seconds in PATTERNS[cue]:
            self._steps.append((at, level))
            at += seconds
        self._busy_until = at
        self.played.append((t, cue))

    def next_change_at(self) -> float | None:
        if self._steps:
            return self._steps[0][0]
        if self._queue:
            return self._busy_until
        return None

    def due(self, t: float) -> list[tuple[float, float]]:
        """Pop every level change due at or before ``t``, as ``(at, level)``."""
        changes: list[tuple[float, float]] = []
        while True:
            if not self._steps and self._queue and self._busy_until <= t:
                self._lay_out(self._busy_until, self._queue.popleft())
            if not self._steps or self._steps[0][0] > t:
                return changes
            at, level = self._steps.popleft()
            if level != self.level:
                self.level = level
                changes.append((at, level))

    def stop(self) -> None:
        """Forget everything queued; the caller turns the motor off."""
        self._steps.clear()
        self._queue.clear()
        self._busy_until = float("-inf")
        self.level = 0.0

    @property
    def idle(self) -> bool:
        return not self._steps and not self._queue
