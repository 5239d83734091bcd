"""Sensor reads made on the event loop itself, from one timer per conversion: no sampling thread.

For a ``SteppedSensor`` (SPI, the simulated load cell) a read never has to
block: each step is a bus transfer or two.  So instead of a thread that
sleeps until the conversion, reads it and wakes the loop through the
hand-off, the loop sets a timer (``loop.call_at``) at the moment the pacer
plans to look; the timer's callback looks, reads the conversion found
ready, plans the next conversion and queues the event for the feed, whose
session reader handles it right there (``SampleFeed.deliver``: no
cross-thread wake, no GIL hand-off, no second loop iteration).  In the
common case a conversion costs one wake-up of the loop.

A timer runs when the loop gets to it: when the loop is busy the look is
late, and the pacer treats it as any late look (the conversion waiting is
read; one the chip overwrote meanwhile is lost, and the schedule does not
move later).  The real-time process's loop does only safety work, so what
delays a timer is the handling of the sample before it (see
``docs/architecture.md``).

Any exception in a read (a ``SensorError`` is a ``SensorFault`` already, one
event among others) ends the reads: the feed gets a ``SensorFault`` at once
and ``alive`` turns false, so the daemon leaves with a failure as for a dead
sampling thread.
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import time
from collections.abc import Callable

from firmware.realtime.handoff import EventQueue
from firmware.realtime.sampler import Sampler, SamplerEvent, SensorFault
from hal.clock import MonotonicClock
from hal.sensor import LookAt, SteppedSensor

log = logging.getLogger(__name__)


class PreciseTimerLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose timers fire within microseconds of their time, for reads on the loop.

    The stock loop waits in ``epoll``, whose timeout is whole milliseconds
    (rounded up): a look planned 0.25 ms ahead would come a millisecond
    late, the pacer could never place a conversion within its poll step,
    and it would poll every conversion from 15 % of a period before (about
    ten transfers and wake-ups a conversion instead of two and one).
    ``select`` takes its timeout in microseconds.  Its limit of file
    numbers below 1024 is far above what the real-time process opens (the
    loop's self-pipe, the link's two pipes, the eventfd of a sampling thread).
    """

    def __init__(self) -> None:
        super().__init__(selectors.SelectSelector())


def reads_on_loop(sampler: Sampler, loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the loop reads ``sampler`` from its timers: a stepped sensor, the loop's clock, precise timers.

    That is ``MonotonicClock`` (the loop's ``time()``) on a
    ``PreciseTimerLoop``.  Any other loop keeps the sampling thread: the
    stock one (millisecond timers, above), ``--speed``'s ``FastClockLoop``
    (its ``FastClock`` is led by the sensor's sleeps, which a timer cannot
    make), a test's loop under looptime or a lockstep clock.
    """
    return (
        isinstance(sampler.sensor, SteppedSensor)
        and type(sampler.clock) is MonotonicClock
        and isinstance(loop, PreciseTimerLoop)
        and getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
    )


class LoopReads:
    """Steps ``sampler`` from loop timers and queues each event as it comes.  Made and used on the loop."""

    def __init__(self, sampler: Sampler, queue: EventQueue, loop: asyncio.AbstractEventLoop) -> None:
        self.sampler = sampler
        self.queue = queue
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._running = False
        self.error: BaseException | None = None
        self._cpu_s = 0.0

    @property
    def alive(self) -> bool:
        return self._running

    @property
    def cpu_s(self) -> float:
        """CPU seconds the reads took on the loop (sensor steps and queueing), so far."""
        return self._cpu_s

    def start(self) -> None:
        self._running = True
        self._guarded(self._begin)

    def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _begin(self) -> None:
        self._timer = self._loop.call_at(self.sampler.begin(), self._fire)

    def _fire(self) -> None:
        event = self._guarded(self._step)
        if event is not None:
            # Outside the reads' guard and CPU count: a session's reader handles it here and now
            # (``SampleFeed.deliver``), and its failures are its own, never a death of the reads.
            self.queue.put_nowait(event)

    def _step(self) -> SamplerEvent | None:
        step = self.sampler.step()
        if isinstance(step, LookAt):
            self._timer = self._loop.call_at(step.at, self._fire)
            return None
        self._begin()  # the next conversion is planned before this one is handled
        return step

    def _guarded(self, action: Callable[[], SamplerEvent | None]) -> SamplerEvent | None:
        started = time.thread_time()
        try:
            return action() if self._running else None
        except BaseException as err:  # the feed must hear about any death
            self._die(err)
            if isinstance(err, KeyboardInterrupt):
                raise
            return None
        finally:
            self._cpu_s += time.thread_time() - started

    def _die(self, err: BaseException) -> None:
        self.stop()
        self.error = err
        log.exception("sampler died (reading on the loop)")
        self.queue.put_nowait(SensorFault(self.sampler.clock.now(), f"sampler died: {err}"))
