"""Where the sampling thread's events wait on the loop for their one reader, at the least cost per sample.

The thread hands each event over with ``loop.call_soon_threadsafe(queue.put_nowait, event)``
- one wake-up of the loop per event, as before.  What it saves is the reader's
side: ``asyncio.Queue.get`` under ``asyncio.wait`` made a task, a waiter set,
completion callbacks and a timeout per sample, five loop iterations in all.
Here a reader with nothing queued awaits one bare future, which the next
event, its timeout or a wake-up future resolves; a reader with events queued
takes them without awaiting at all.  So a sample costs two loop iterations:
the wake-up that queues it, and the reader's step that handles it.

Events are kept in order and never dropped; the queue is unbounded like the
``asyncio.Queue`` it replaces (the reader keeps up, or the watchdog's
lateness check says so).  Used from the loop's thread only.
"""

from __future__ import annotations

import asyncio
from collections import deque

from firmware.realtime.sampler import SamplerEvent


class EventQueue:
    """Sampler events in order, for one reader on the loop (``put_nowait`` / ``get_nowait`` / ``wait``)."""

    __slots__ = ("_events", "_waiter")

    def __init__(self) -> None:
        self._events: deque[SamplerEvent] = deque()
        self._waiter: asyncio.Future[bool] | None = None

    def put_nowait(self, event: SamplerEvent) -> None:
        """Queue ``event`` and release the reader, if it waits."""
        self._events.append(event)
        self._release()

    def empty(self) -> bool:
        return not self._events

    def qsize(self) -> int:
        return len(self._events)

    def get_nowait(self) -> SamplerEvent:
        """The oldest event; ``asyncio.QueueEmpty`` when there is none."""
        if not self._events:
            raise asyncio.QueueEmpty
        return self._events.popleft()

    async def get(self) -> SamplerEvent:
        """The oldest event, waiting for one as long as it takes."""
        while not self._events:
            await self.wait(None)
        return self._events.popleft()

    async def wait(self, timeout_s: float | None, wake: asyncio.Future[object] | None = None) -> bool:
        """Wait until an event is queued or ``wake`` is done (``True``), or ``timeout_s`` has passed (``False``).

        Returns at once when an event or the wake-up is there already; the caller looks which.
        """
        if self._events or (wake is not None and wake.done()):
            return True
        if self._waiter is not None:
            raise RuntimeError("an EventQueue has one reader")
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout_s is None else loop.call_later(timeout_s, self._time_out)
        if wake is not None:
            wake.add_done_callback(self._release)
        try:
            in_time: bool = await waiter
            return in_time
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
            if wake is not None:
                wake.remove_done_callback(self._release)

    def _release(self, _done: object = None) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _time_out(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(False)
