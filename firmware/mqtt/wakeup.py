"""An asyncio event that other threads set: the writer's "new data", a status change, a stop."""

from __future__ import annotations

import asyncio
import contextlib


class ThreadSafeEvent:
    """An ``asyncio.Event`` made by ``bind`` on the loop that waits for it; ``set`` works from any thread.

    Before ``bind``, and once that loop is closed, ``set`` does nothing: no one waits then.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> asyncio.Event:
        event = self.event = asyncio.Event()
        self._loop = loop
        return event

    def set(self) -> None:
        loop, event = self._loop, self.event
        if loop is not None and event is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(event.set)
