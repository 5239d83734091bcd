"""Where sampler events wait on the loop for their one reader, at the least cost per sample.

Reads made on the loop (``loop_reads.py``) queue with ``put_nowait``, which
releases the reader's future directly.  From a sampling thread,
``ThreadHandoff.post`` appends each event to the
queue and wakes the loop at once by writing an eventfd the loop watches
(``add_reader``): one system call, no handle or lock per event as
``call_soon_threadsafe`` takes.  The loop's one reader callback reads the
eventfd (every write since the last read at once) and releases the reader.
Every event still wakes the loop as it comes; nothing is batched.  A loop
without file readers, or a system without eventfd, gets the events through
``call_soon_threadsafe`` instead.

On the loop's side, a reader with nothing queued awaits one bare future,
which the next event, its timeout or a wake-up future resolves; a reader
with events queued takes them without awaiting at all.  So a sample costs
two loop iterations: the wake-up, and the reader's step that handles it.
A reader that handles each event synchronously (a session:
``SampleFeed.deliver``) sets a ``listener`` instead, called as events are
queued: the event is handled in the wake-up's own iteration.

Events are kept in order and never dropped; the queue is unbounded (the
reader keeps up, or the watchdog's lateness check says so).
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable

from firmware.realtime.sampler import SamplerEvent


class EventQueue:
    """Sampler events in order, for one reader on the loop (``put_nowait`` / ``get_nowait`` / ``wait``)."""

    __slots__ = ("_events", "_listener", "_waiter")

    def __init__(self) -> None:
        self._events: deque[SamplerEvent] = deque()
        self._waiter: asyncio.Future[bool] | None = None
        self._listener: Callable[[], None] | None = None

    def listen(self, listener: Callable[[], None] | None) -> None:
        """While set, ``listener`` is called (on the loop) whenever events are queued, instead of releasing a waiter."""
        self._listener = listener

    def put_nowait(self, event: SamplerEvent) -> None:
        """Queue ``event`` and hand it to the listener, or release the reader if it waits (on the loop)."""
        self._events.append(event)
        self.release()

    def append_from_thread(self, event: SamplerEvent) -> None:
        """Queue ``event`` from another thread (a deque's append is atomic); the caller then wakes the loop."""
        self._events.append(event)

    def release(self) -> None:
        """Hand what is queued to the listener, or release the reader if it waits (on the loop)."""
        listener = self._listener
        if listener is not None:
            listener()
        else:
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


class ThreadHandoff:
    """Carries events from one producing thread into an ``EventQueue``, waking the loop for each."""

    __slots__ = ("_closed", "_fd", "_loop", "queue")

    def __init__(self, queue: EventQueue, loop: asyncio.AbstractEventLoop) -> None:
        """Made on the loop's thread (it registers the eventfd with the loop)."""
        self.queue = queue
        self._loop = loop
        self._closed = False
        self._fd: int | None = None
        try:
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        except (AttributeError, OSError):  # not Linux: the loop's own thread-safe call
            return
        try:
            loop.add_reader(fd, self._woken)
        except NotImplementedError:  # a loop without file readers
            os.close(fd)
            return
        self._fd = fd

    @property
    def fileno(self) -> int | None:
        """The eventfd the loop watches; ``None`` without one, or once closed."""
        return self._fd

    def post(self, event: SamplerEvent) -> None:
        """Queue ``event`` and wake the loop (from the producing thread); ``RuntimeError`` once closed."""
        if self._closed:
            raise RuntimeError("the sampler hand-off is closed")
        fd = self._fd
        if fd is None:
            self._loop.call_soon_threadsafe(self.queue.put_nowait, event)
            return
        self.queue.append_from_thread(event)
        os.eventfd_write(fd, 1)

    def _woken(self) -> None:
        fd = self._fd
        if fd is None:
            return
        try:
            os.eventfd_read(fd)  # the count of every write since the last read: one wake-up for them all
        except BlockingIOError:
            return
        self.queue.release()

    def close(self) -> None:
        """Stop watching the eventfd and close it (on the loop, once the producing thread has ended)."""
        self._closed = True
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if not self._loop.is_closed():
            self._loop.remove_reader(fd)
        os.close(fd)
