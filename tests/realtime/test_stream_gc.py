"""Starting the sampling thread takes the start-up objects out of the garbage collector's walks.

A full collection walks every tracked object while holding the GIL; over
the ~41,000 objects after start-up that took 70-190 ms on the loaded VM,
during which the sampling thread could not read.  Frozen objects are never
walked again: what a later collection costs no longer depends on them.
"""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from firmware.realtime.sampler import Sampler
from firmware.realtime.stream import SampleStream
from hal.clock import MonotonicClock
from hal.sensor import ForceSensor
from simulator.loadcell import SIMULATED_CALIBRATION


class WaitingSensor(ForceSensor):
    """Delivers nothing: each read waits (on an event, bounded) for its timeout."""

    sample_rate_hz = 80.0

    def __init__(self) -> None:
        self.stop = threading.Event()

    def read(self, timeout_s: float) -> int | None:
        self.stop.wait(timeout_s)
        return None


@pytest.mark.asyncio
async def test_objects_made_before_the_stream_starts_are_frozen() -> None:
    made_before = [object()]  # a list: tracked by the collector
    garbage: list[object] = []
    garbage.append(garbage)  # a cycle nobody refers to any more: collected, never frozen
    del garbage
    sensor = WaitingSensor()
    stream = SampleStream(Sampler(sensor, SIMULATED_CALIBRATION, MonotonicClock()), asyncio.get_running_loop())
    assert gc.is_tracked(made_before) and any(o is made_before for o in gc.get_objects())
    try:
        stream.start()
        assert gc.get_freeze_count() > 0
        assert not any(o is made_before for o in gc.get_objects())  # in the permanent generation now
        made_after = [object()]
        assert any(o is made_after for o in gc.get_objects())
    finally:
        sensor.stop.set()
        stream.stop()
        gc.unfreeze()
