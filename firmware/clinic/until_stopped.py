"""One MQTT connection's work, cut short by a stop: shared by the collector and the live feed."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_stopped(work: Coroutine[Any, Any, None], stopping: asyncio.Event, name: str) -> None:
    """Run ``work`` until it ends or ``stopping`` is set (then cancel it); re-raise what it raised."""
    task = asyncio.create_task(work, name=name)
    stop_wait = asyncio.create_task(stopping.wait(), name=f"{name}-stop")
    try:
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
        if not task.done():
            task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
    if isinstance(outcome, BaseException) and not isinstance(outcome, asyncio.CancelledError):
        raise outcome
