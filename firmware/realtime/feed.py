"""The one loop over the sample queue: sessions, threshold trials and idle time all read it here.

``SampleFeed.next`` gives the next sampler event, a ``NoSample`` gap tick
when the sensor has been silent for the timeout (so the controller's "no
sample for 3 periods" rule fires even then), or ``None`` when a wake-up
(a stop request, a start request) came first.  Events stay queued until
handed out, so no event is ever lost between idle time and a session.
Every event it hands out goes to ``on_event`` first (the watchdog and rate
meter), whoever asked for it.

``deliver`` is the session's way to read: it hands each event to a
synchronous handler as it is queued - in the loop iteration that queued it
(a read on the loop's timer, the sampling thread's wake-up), not one later
when an awaiting reader would resume - until the handler says the session
is over or the wake-up fires.  Same events, same order, same gap ticks, same
``on_event`` as ``next``; an exception from the handler comes out of
``deliver``, never into the reads.

``drain`` starts a session from fresh samples: it forgets what is queued
and also every reading stamped before it, which may still be on its way
from the sampling thread (handed to the loop, not yet in the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from typing import Protocol

from firmware.realtime.sampler import NoSample, Sample, SamplerEvent
from firmware.realtime.stream import SampleStream

#: Without a sample for this many periods the loop ticks anyway, so the
#: "no sample for 3 periods" rule fires even when the sampler is silent.
GAP_TICK_PERIODS = 1.5


class Wake(Protocol):
    """Something a reader may be woken by (``StopRequest``, ``asyncio.Event``)."""

    async def wait(self) -> object: ...


class SampleFeed:
    """The single reader of a ``SampleStream``'s queue."""

    def __init__(self, stream: SampleStream, on_event: Callable[[SamplerEvent], None] | None = None) -> None:
        self.stream = stream
        self.on_event = on_event
        #: Readings stamped before this (sampler clock) are stale: ``drain`` sets it.
        self._fresh_from = -math.inf
        #: One waiter on the current wake object, kept across calls (not one task per sample).
        self._wake: Wake | None = None
        self._woken: asyncio.Future[object] | None = None

    @property
    def gap_tick_s(self) -> float:
        """The silence after which a session or trial gets a gap tick."""
        return GAP_TICK_PERIODS * self.stream.sampler.period_s

    async def next(self, timeout: float, wake: Wake | None = None) -> SamplerEvent | None:
        """The next event; ``NoSample(now)`` after ``timeout`` of silence; ``None`` if ``wake`` fired first.

        An event already queued is handed out before a wake-up is looked at, without awaiting.
        """
        loop = asyncio.get_running_loop()
        queue = self.stream.queue
        deadline = loop.time() + timeout
        while True:
            if queue.empty():
                woken = self._waiter(wake)
                in_time = await queue.wait(max(0.0, deadline - loop.time()), woken)
                if queue.empty():
                    if woken is not None and woken.done():
                        self._drop_waiter()
                        return None
                    if not in_time:
                        return NoSample(loop.time())
                    continue
            event = self._take()
            if event is not None:
                return event

    async def deliver(self, handle: Callable[[SamplerEvent], bool], timeout: float, wake: Wake | None = None) -> bool:
        """Hand every event to ``handle`` as it comes (``NoSample(now)`` after each ``timeout`` of silence).

        Returns ``True`` once ``handle`` returns ``False`` (the reader is
        done), ``False`` if ``wake`` fired first.  Events already queued are
        handed out before a wake-up is looked at, without awaiting.
        """
        loop = asyncio.get_running_loop()
        queue = self.stream.queue
        if self._hand_queued(handle) is None:
            return True
        woken = self._waiter(wake)
        if woken is not None and woken.done():
            self._drop_waiter()
            return False
        done: asyncio.Future[bool] = loop.create_future()
        gap: asyncio.TimerHandle | None = None

        def give(silent: bool) -> None:
            nonlocal gap
            if done.done():
                return
            try:
                handed = self._hand_queued(handle)
                if handed is False and silent:  # nothing came for ``timeout``: a gap tick
                    handed = True if handle(NoSample(loop.time())) else None
            except BaseException as err:  # the reader's own failure: raised from ``deliver``, not in the reads
                done.set_exception(err)
                return
            if handed is None:
                done.set_result(True)
            elif handed:  # the silence is timed from the last event handed, as ``next`` times it
                if gap is not None:
                    gap.cancel()
                gap = loop.call_at(loop.time() + timeout, give, True)

        def on_wake(_: object) -> None:
            if not done.done():
                done.set_result(False)

        queue.listen(lambda: give(False))
        gap = loop.call_at(loop.time() + timeout, give, True)
        if woken is not None:
            woken.add_done_callback(on_wake)
        try:
            finished = await done
        finally:
            queue.listen(None)
            if gap is not None:
                gap.cancel()
            if woken is not None:
                woken.remove_done_callback(on_wake)
        if not finished:
            self._drop_waiter()
        return finished

    def _hand_queued(self, handle: Callable[[SamplerEvent], bool]) -> bool | None:
        """Hand ``handle`` every event queued: whether any was handed, ``None`` once ``handle`` returns ``False``."""
        queue = self.stream.queue
        handed = False
        while not queue.empty():
            event = self._take()
            if event is not None:
                if not handle(event):
                    return None
                handed = True
        return handed

    def _take(self) -> SamplerEvent | None:
        """The oldest queued event, told to ``on_event``; ``None`` if it is stale (from before the last drain)."""
        event = self.stream.queue.get_nowait()
        if self.on_event is not None:
            self.on_event(event)  # the watchdog and rate meter count arrivals, stale or not
        # A reading or gap from before the last drain is skipped; a fault is never stale.
        if isinstance(event, Sample | NoSample) and event.t < self._fresh_from:
            return None
        return event

    def _waiter(self, wake: Wake | None) -> asyncio.Future[object] | None:
        """The waiter on ``wake``: the one kept from the last call, unless it is stale or for another."""
        if self._wake is not wake or (self._woken is not None and self._woken.done()):
            self._drop_waiter()  # a wake that fired earlier is asked afresh: it may have been re-armed
        if wake is not None and self._woken is None:
            self._wake, self._woken = wake, asyncio.ensure_future(wake.wait())
        return self._woken

    def _drop_waiter(self) -> None:
        if self._woken is not None:
            self._woken.cancel()
        self._wake = self._woken = None

    def drain(self) -> None:
        """Forget every reading taken before now, queued or still on its way (a session starts fresh)."""
        self.stream.drain()
        self._fresh_from = self.stream.sampler.clock.now()

    async def close(self) -> None:
        """Cancel a wake-up still pending."""
        woken = self._woken
        self._drop_waiter()
        if woken is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await woken
