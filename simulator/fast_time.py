"""Simulated hardware's time at N times the wall clock, for ``presspoint run --simulate --speed N``.

One ``FastClock`` is read by everything in the real-time process: the
simulated load cell paces its conversions on it, the sampler stamps samples
with it, and the asyncio loop's ``time()`` is it (``FastClockLoop``), so the
motor timeline, gap ticks, the tare wait and every ``asyncio`` timeout run on
it too; only the selector's wait is divided by N to become wall seconds.

Time is led by the simulated sensor: it never runs ahead of the last
conversion slot the sensor reached while the sensor keeps up, so a sample is
stamped exactly at its slot and the safety rules see the very session times
they would see at 1x, however the wall clock jitters (at N x a 2 ms hiccup
would otherwise be a 2N ms hole in the samples, a false sensor fault).  If
nothing advances it - the sensor is stalled or stopped - it flows on its own,
at most ``lag_s`` wall seconds behind, so a real stall is still a gap.
"""

from __future__ import annotations

import asyncio
import selectors
import threading
import time

#: Fastest ``--speed``: 100x already turns the default plan's 238 s into under 3 s.
MAX_SPEED = 100.0
#: How long (wall seconds) time waits for a stalled simulated sensor before flowing on its own.
DEFAULT_LAG_S = 0.1


class FastClock:
    """A ``hal.clock.Clock`` whose seconds pass ``speed`` times faster than the wall clock's."""

    def __init__(self, speed: float, *, lag_s: float = DEFAULT_LAG_S) -> None:
        if not 1.0 <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be from 1 to {MAX_SPEED:g}, got {speed!r}")
        self.speed = speed
        self._wall0 = self._origin = time.monotonic()
        self._reached = self._origin
        self._lag = lag_s * speed
        self._lock = threading.Lock()

    def _flowing(self) -> float:
        return self._origin + (time.monotonic() - self._wall0) * self.speed

    def now(self) -> float:
        return max(self._reached, self._flowing() - self._lag)

    def sleep_until(self, t: float) -> None:
        """Wait (in wall time) until ``t`` is due, then make it the time: whoever sleeps leads the clock."""
        delay = (t - self._flowing()) / self.speed
        if delay > 0:
            time.sleep(delay)
        with self._lock:
            if t > self._reached:
                self._reached = t

    def wall_seconds(self, seconds: float) -> float:
        """How many of this clock's seconds last ``seconds`` of wall time (timeouts on a 1x peer)."""
        return seconds * self.speed


class _WallSelector(selectors.DefaultSelector):
    """The loop's waits, given in fast seconds, taken in wall seconds."""

    def __init__(self, speed: float) -> None:
        super().__init__()
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        return super().select(None if timeout is None else max(0.0, timeout) / self._speed)


class FastClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose ``time()`` is a ``FastClock``."""

    def __init__(self, clock: FastClock) -> None:
        super().__init__(_WallSelector(clock.speed))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now()
