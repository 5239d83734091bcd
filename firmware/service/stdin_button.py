"""``run --simulate --press-on-stdin``: each line on standard input is a press of the simulated button.

Simulated hardware has no button to press; a person at the terminal presses
Enter instead (a script writes newlines).  A thread reads the lines, so any
standard input works (a terminal, a pipe, a file), and hands each press to
the loop; at end of input it stops reading and the device runs on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import BinaryIO

log = logging.getLogger(__name__)


def forward_line_presses(stream: BinaryIO, loop: asyncio.AbstractEventLoop, press: Callable[[], None]) -> None:
    """Call ``press`` on ``loop`` for every line read from ``stream``, until its end."""

    def read() -> None:
        for _ in stream:
            try:
                loop.call_soon_threadsafe(press)
            except RuntimeError:  # the loop is closed: the service is leaving
                return
        log.info("end of standard input: no more simulated button presses")

    threading.Thread(target=read, name="presspoint-stdin-button", daemon=True).start()
    log.info("simulated button: press Enter (each line on standard input is one press)")
