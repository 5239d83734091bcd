"""A ``hal.clock.Clock`` on the event loop's virtual time, for code that samples on a thread of its own.

The device's sampling thread (``realtime/stream.py``) blocks on the sensor and
queues samples on the loop.  Driven by the wall clock, a test of it races the
machine: on a loaded CI box the thread or the loop runs late, a gap tick fires
and a session aborts that never would on the device.  Under looptime, a thread
sleeping on the wall clock races the virtual clock instead.

``LockstepClock`` makes the loop and the sampling thread take turns.  The
thread's ``sleep_until(t)`` becomes a loop timer at ``t``; when it fires, the
loop hands the turn to the thread and blocks until the thread sleeps on the
clock again (or ends).  So the loop's time only moves while the thread sleeps
on it, the thread only runs while the loop waits for it, and every run of a
test is the same run, however busy the machine is.

Use it with ``@pytest.mark.looptime``: ``clock.start()`` right before the code
that starts the sampling thread (until that thread first sleeps, the loop's
time stands still), and ``close()`` at the end (the ``lockstep_clock`` fixture
does), which ends a thread still asleep on it with ``ClockClosed``.
"""

from __future__ import annotations

import asyncio
import threading
import time

#: Real seconds the loop waits for the thread to sleep again before calling it a hang.
HANG_S = 60.0


class ClockClosed(Exception):
    """The test is over: a thread still asleep on the clock is woken with this."""


class LockstepHang(AssertionError):
    """The sampling thread neither slept on the clock again nor ended within ``HANG_S``."""


class LockstepClock:
    """Loop time for the loop, turn-by-turn virtual time for one sampling thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._now = 0.0
        self._wish: float | None = None
        self._turn = False
        self._sleeper: threading.Thread | None = None
        self._closed = False
        self._hold_deadline = 0.0

    def start(self) -> LockstepClock:
        """Attach to the running loop; its time stands still until a thread first sleeps on this clock."""
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread, self._now = loop, threading.get_ident(), loop.time()
        self._hold_deadline = time.monotonic() + HANG_S
        loop.call_soon(self._hold_until_first_sleep)
        return self

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ------------------------------------------------------------ the Clock

    def now(self) -> float:
        if self._loop is not None and threading.get_ident() == self._loop_thread:
            return self._loop.time()
        return self._now

    def sleep_until(self, t: float) -> None:
        if self._loop is not None and threading.get_ident() == self._loop_thread:
            raise RuntimeError("the event loop cannot sleep on a lockstep clock (it would wait for itself)")
        with self._cond:
            if self._closed:
                raise ClockClosed
            if t <= self._now:
                return
            self._sleeper = threading.current_thread()
            self._wish, self._turn = t, False
            self._cond.notify_all()
            while not self._turn and not self._closed:
                self._cond.wait()
            if self._closed:
                raise ClockClosed

    # ------------------------------------------------------ the loop's side

    def _hold_until_first_sleep(self) -> None:
        """Keep the loop busy (looptime moves time only when it idles) until the thread sleeps here."""
        with self._cond:
            if self._wish is not None or self._closed:
                self._schedule_wish()
                return
        if time.monotonic() > self._hold_deadline:
            raise LockstepHang(f"no thread slept on the lockstep clock within {HANG_S} s of start()")
        assert self._loop is not None
        self._loop.call_soon(self._hold_until_first_sleep)

    def _give_turn(self, at: float) -> None:
        """A timer at the thread's wake-up time: let it run, and wait until it sleeps again or ends."""
        assert self._loop is not None
        with self._cond:
            if self._closed:
                return
            self._now = max(at, self._loop.time())
            self._turn = True
            self._cond.notify_all()
            deadline = time.monotonic() + HANG_S
            while self._wish is None and not self._closed and self._sleeper is not None and self._sleeper.is_alive():
                if time.monotonic() > deadline:
                    raise LockstepHang(f"the sampling thread neither slept nor ended within {HANG_S} s")
                self._cond.wait(0.01)  # the bound of a poll for the thread's end, not a timing
            self._schedule_wish()

    def _schedule_wish(self) -> None:
        """With the lock held: turn the thread's pending wake-up time into a loop timer."""
        assert self._loop is not None
        wish, self._wish = self._wish, None
        if wish is not None and not self._closed:
            self._loop.call_at(wish, self._give_turn, wish)
