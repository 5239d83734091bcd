"""A force source that rests until a session starts, then plays a pressing profile from t = 0.

The daemon reads its sensor all the time; a simulated person should
start pressing when the session starts, not when the process started, press
as the plan of *that* session says (a plan pushed since start-up included),
and let go when it is over, so the next session starts from rest too.

A reader may be behind when the session starts (the simulated load cell
hands over every slot in turn, however late it is read): with
``source_time`` (the source's own time, now) a slot from before the arm
rests, so the pressing starts at the first slot at or after the arm, not
at a stale one - which would put the trace ahead of the session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from simulator.loadcell import ForceSource


class ArmedSource:
    """``idle_n`` until armed; after ``arm()`` the wrapped source from its own t = 0; ``rest()`` lets go."""

    def __init__(
        self, source: ForceSource, idle_n: float = 0.0, *, source_time: Callable[[], float | None] | None = None
    ) -> None:
        self.source = source
        self.idle_n = idle_n
        #: The source's time now (``None``: not known yet); see the module docstring.
        self.source_time = source_time
        self._lock = threading.Lock()
        self._arm_pending = False
        self._armed_at: float | None = None
        self._t0: float | None = None

    def arm(self, source: ForceSource | None = None) -> None:
        """The next reading from now on is the t = 0 of ``source`` (default: the one wrapped); rest until then."""
        armed_at = None if self.source_time is None else self.source_time()
        with self._lock:
            if source is not None:
                self.source = source
            self._arm_pending = True
            self._armed_at = armed_at
            self._t0 = None

    def rest(self) -> None:
        """Let go: ``idle_n`` from the next reading until the next ``arm()``."""
        with self._lock:
            self._arm_pending = False
            self._t0 = None

    def force_at(self, t: float) -> float | None:
        with self._lock:
            if self._arm_pending and (self._armed_at is None or t >= self._armed_at):
                self._arm_pending = False
                self._t0 = t
            t0, source = self._t0, self.source
        if t0 is None:
            return self.idle_n
        return source.force_at(t - t0)
