"""The one loop over the sample queue: sessions, threshold trials and idle time all read it here.

``SampleFeed.next`` gives the next sampler event, a ``NoSample`` gap tick
when the sensor has been silent for the timeout (so the controller's "no
sample for 3 periods" rule fires even then), or ``None`` when a wake-up
(a stop request, a start request) came first.  A read still pending when a
caller is woken is kept for the next call, so no event is ever lost between
idle time and a session.  Every event it hands out goes to ``on_event`` first
(the watchdog and rate meter), whoever asked for it.

``drain`` starts a session from fresh samples: it forgets what is queued
and also every reading stamped before it, which may still be on its way
from the sampling thread (handed to the loop, not yet in the queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from typing import Any, Protocol

from firmware.realtime.sampler import NoSample, Sample, SamplerEvent
from firmware.realtime.stream import SampleStream

#: Without a sample for this many periods the loop ticks anyway, so the
#: "no sample for 3 periods" rule fires even when the sampler is silent.
GAP_TICK_PERIODS = 1.5


class _Stale:
    """What ``_next_event`` returns for a reading taken before the last ``drain``."""


_STALE = _Stale()


class Wake(Protocol):
    """Something a reader may be woken by (``StopRequest``, ``asyncio.Event``)."""

    async def wait(self) -> object: ...


class SampleFeed:
    """The single reader of a ``SampleStream``'s queue."""

    def __init__(self, stream: SampleStream, on_event: Callable[[SamplerEvent], None] | None = None) -> None:
        self.stream = stream
        self.on_event = on_event
        self._pending: asyncio.Future[SamplerEvent] | None = None
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
        """The next event; ``NoSample(now)`` after ``timeout`` of silence; ``None`` if ``wake`` fired first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self._next_event(max(0.0, deadline - loop.time()), wake)
            if not isinstance(event, _Stale):
                return event

    async def _next_event(self, timeout: float, wake: Wake | None) -> SamplerEvent | _Stale | None:
        loop = asyncio.get_running_loop()
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.stream.queue.get())
        get = self._pending
        woken = self._waiter(wake)
        waits: set[asyncio.Future[Any]] = {get} if woken is None else {get, woken}
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        was_woken = woken is not None and woken.done()
        if was_woken:
            self._drop_waiter()
        if get.done():
            self._pending = None
            event = get.result()
            if self.on_event is not None:
                self.on_event(event)  # the watchdog and rate meter count arrivals, stale or not
            # A reading or gap from before the last drain; a fault is never stale.
            return _STALE if isinstance(event, Sample | NoSample) and event.t < self._fresh_from else event
        return None if was_woken else NoSample(loop.time())

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
        if self._pending is not None and self._pending.done():
            self._pending = None
        self.stream.drain()
        self._fresh_from = self.stream.sampler.clock.now()

    async def close(self) -> None:
        """Cancel a read and a wake-up still pending."""
        self._drop_waiter()
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
            self._pending = None
