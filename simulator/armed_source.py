"""A force source that rests until a session starts, then plays a pressing profile from t = 0.

The daemon's sampling thread runs all the time; a simulated person should
start pressing when the session starts, not when the process started, press
as the plan of *that* session says (a plan pushed since start-up included),
and let go when it is over, so the next session starts from rest too.
"""

from __future__ import annotations

import threading

from simulator.loadcell import ForceSource


class ArmedSource:
    """``idle_n`` until armed; after ``arm()`` the wrapped source from its own t = 0; ``rest()`` lets go."""

    def __init__(self, source: ForceSource, idle_n: float = 0.0) -> None:
        self.source = source
        self.idle_n = idle_n
        self._lock = threading.Lock()
        self._arm_pending = False
        self._t0: float | None = None

    def arm(self, source: ForceSource | None = None) -> None:
        """The next reading is the t = 0 of ``source`` (default: the one already wrapped); rest until then."""
        with self._lock:
            if source is not None:
                self.source = source
            self._arm_pending = True
            self._t0 = None

    def rest(self) -> None:
        """Let go: ``idle_n`` from the next reading until the next ``arm()``."""
        with self._lock:
            self._arm_pending = False
            self._t0 = None

    def force_at(self, t: float) -> float | None:
        with self._lock:
            if self._arm_pending:
                self._arm_pending = False
                self._t0 = t
            t0, source = self._t0, self.source
        if t0 is None:
            return self.idle_n
        return source.force_at(t - t0)
