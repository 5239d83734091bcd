"""One source of time for samplers, simulators and emulated chips.

Everything that waits or timestamps takes a ``Clock``.  On the device it is
``MonotonicClock`` (the same clock as the default asyncio loop's ``time()``);
in simulations and tests it is ``VirtualClock``, where sleeping only moves a
number forward, so a five-minute session runs in a fraction of a second and
every timing check is deterministic.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Seconds on a monotonic scale, and a way to wait for a moment on it."""

    def now(self) -> float: ...

    def sleep_until(self, t: float) -> None: ...


class MonotonicClock:
    """Real time: ``time.monotonic()``, which is what asyncio's loop.time() uses."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, t: float) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Simulated time that only moves when someone sleeps or advances it."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def sleep_until(self, t: float) -> None:
        with self._lock:
            if t > self._now:
                self._now = t

    def advance(self, dt: float) -> None:
        """Move time forward by ``dt`` seconds (never backwards)."""
        if dt < 0:
            raise ValueError(f"cannot move a clock backwards by {dt} s")
        self.sleep_until(self._now + dt)
