"""The one loop over the sample queue: sessions, threshold trials and idle time all read it here.

``SampleFeed.next`` gives the next sampler event, a ``NoSample`` gap tick
when the sensor has been silent for the timeout (so the controller's "no
sample for 3 periods" rule fires even then), or ``None`` when a wake-up
(a stop request, a start request) came first.  A read still pending when a
caller is woken is kept for the next call, so no event is ever lost between
idle time and a session.  Every event it hands out goes to ``on_event`` first
(the watchdog and rate meter), whoever asked for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from firmware.realtime.sampler import NoSample, SamplerEvent
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
        self._pending: asyncio.Future[SamplerEvent] | None = None

    @property
    def gap_tick_s(self) -> float:
        """The silence after which a session or trial gets a gap tick."""
        return GAP_TICK_PERIODS * self.stream.sampler.period_s

    async def next(self, timeout: float, wake: Wake | None = None) -> SamplerEvent | None:
        """The next event; ``NoSample(now)`` after ``timeout`` of silence; ``None`` if ``wake`` fired first."""
        loop = asyncio.get_running_loop()
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.stream.queue.get())
        get = self._pending
        woken: asyncio.Future[object] | None = None if wake is None else asyncio.ensure_future(wake.wait())
        waits: set[asyncio.Future[Any]] = {get} if woken is None else {get, woken}
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            was_woken = woken is not None and woken.done()
        finally:
            if woken is not None:
                woken.cancel()
        if get.done():
            self._pending = None
            event = get.result()
            if self.on_event is not None:
                self.on_event(event)
            return event
        return None if was_woken else NoSample(loop.time())

    def drain(self) -> None:
        """Forget what was queued before now (stale readings from before a session)."""
        if self._pending is not None and self._pending.done():
            self._pending = None
        self.stream.drain()

    async def close(self) -> None:
        """Cancel a read still pending."""
        if self._pending is not None:
            self._pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pending
            self._pending = None
