"""A force source that idles until a session starts, then plays a scenario from t = 0.

The daemon's sampling thread runs all the time; a simulated person should
start pressing when the session starts, not when the process started.
"""

from __future__ import annotations

import threading

from simulator.loadcell import ForceSource


class ArmedSource:
    """``idle_n`` until armed; after ``arm()`` the wrapped source, from its own t = 0."""

    def __init__(self, source: ForceSource, idle_n: float = 0.0) -> None:
        self.source = source
        self.idle_n = idle_n
        self._lock = threading.Lock()
        self._arm_pending = False
        self._t0: float | None = None

    def arm(self) -> None:
        """The next reading is the scenario's t = 0."""
        with self._lock:
            self._arm_pending = True
            self._t0 = None

    def force_at(self, t: float) -> float | None:
        with self._lock:
            if self._arm_pending:
                self._arm_pending = False
                self._t0 = t
            t0 = self._t0
        if t0 is None:
            return self.idle_n
        return self.source.force_at(t - t0)
