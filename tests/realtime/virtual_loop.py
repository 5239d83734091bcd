"""An asyncio loop on a ``VirtualClock``: its timers move the clock instead of waiting for it.

For the reads the loop makes itself (``realtime/loop_reads.py``): the
sensor, the emulated chip, the sampler's stamps and the loop's timers all
read one virtual clock, so a run is the same run however busy the machine
is.  A wait with nothing scheduled would wait for ever: it fails instead.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hal.clock import VirtualClock

T = TypeVar("T")


class _AdvancingSelector(selectors.DefaultSelector):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self._clock = clock
        #: The loop's iterations so far (one ``select`` each).
        self.selects = 0

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.selects += 1
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:
            raise RuntimeError("the virtual-time loop has nothing scheduled: it would wait for ever")
        self._clock.advance(max(0.0, timeout))
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A loop whose ``time()`` is ``clock`` and whose waits advance it."""

    def __init__(self, clock: VirtualClock) -> None:
        self._advancing = _AdvancingSelector(clock)
        super().__init__(self._advancing)
        self.clock = clock

    @property
    def iterations(self) -> int:
        """How many times the loop has run its ready callbacks (looked at its timers and files)."""
        return self._advancing.selects

    def time(self) -> float:
        return self.clock.now()


def run_on(clock: VirtualClock, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(main())
