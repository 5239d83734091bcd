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

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
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
        super().__init__(_AdvancingSelector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now()


def run_on(clock: VirtualClock, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(clock)) as runner:
        return runner.run(main())
