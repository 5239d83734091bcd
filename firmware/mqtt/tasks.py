"""Cancel asyncio tasks for sure, bounded: a stop must not hang on one swallowed cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

#: A cancelled task still running after this is cancelled again (it swallowed the cancel).
RECANCEL_EVERY_S = 0.05


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]], timeout_s: float) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait until they are done, at most ``timeout_s``; returns those left running.

    A task still running after a cancel is cancelled again: a cancel can be
    swallowed (``asyncio.wait_for`` on Python 3.11, used inside aiomqtt, returns
    the result when both arrive in the same loop iteration), and a plain
    ``cancel(); gather()`` then waits for ever.  Exceptions are retrieved.
    """
    tasks = list(tasks)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_EVERY_S, remaining))
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" at exit
    return pending
