"""The sampling thread wakes the loop through an eventfd: every event at once, none lost, on the daemon's loops.

Real loops and real threads (no looptime): each test waits for events, never
for an amount of time; a long timeout only bounds a broken hand-off.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from firmware.realtime.feed import SampleFeed
from firmware.realtime.handoff import EventQueue, ThreadHandoff
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent
from firmware.realtime.stream import SampleStream
from hal.clock import MonotonicClock
from simulator.fast_time import FastClock, FastClockLoop
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv

#: Only a broken hand-off waits this long.
BOUND_S = 30.0

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "default": asyncio.new_event_loop,  # rt_main's asyncio.Runner without a loop factory
    "fast-clock": lambda: FastClockLoop(FastClock(1.0)),  # run --simulate --speed N
}


def on(loop_name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        runner.run(main())


def fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_an_event_from_the_thread_wakes_the_waiting_reader_through_an_eventfd(loop_name: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        queue = EventQueue()
        handoff = ThreadHandoff(queue, loop)
        assert handoff.fileno is not None
        waiting = asyncio.ensure_future(queue.wait(BOUND_S))
        await asyncio.sleep(0)  # the reader waits on its future now
        event = Sample(1.0, 2.0, 3)
        thread = threading.Thread(target=handoff.post, args=(event,))
        thread.start()
        assert await waiting is True  # woken by the event, not by the bound
        assert queue.get_nowait() == event
        thread.join()
        # The reader's own timeout and a wake-up future still end a wait with nothing posted.
        assert await queue.wait(0.001) is False
        wake: asyncio.Future[object] = loop.create_future()
        loop.call_soon(wake.set_result, None)
        assert await queue.wait(BOUND_S, wake) is True and queue.empty()
        handoff.close()

    on(loop_name, main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_many_events_at_once_all_arrive_in_order(loop_name: str) -> None:
    events: list[SamplerEvent] = [Sample(i / 80, float(i), i) for i in range(20_000)]

    async def main() -> None:
        queue = EventQueue()
        handoff = ThreadHandoff(queue, asyncio.get_running_loop())
        thread = threading.Thread(target=lambda: [handoff.post(event) for event in events])
        thread.start()
        got: list[SamplerEvent] = []
        while len(got) < len(events):
            assert await queue.wait(BOUND_S) is True
            while not queue.empty():
                got.append(queue.get_nowait())
        thread.join()
        assert got == events
        handoff.close()

    on(loop_name, main)


def test_a_closed_handoff_refuses_posts_and_releases_its_eventfd() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        handoff = ThreadHandoff(EventQueue(), loop)
        fd = handoff.fileno
        assert fd is not None and fd_is_open(fd)
        handoff.close()
        assert not fd_is_open(fd)
        with pytest.raises(RuntimeError, match="closed"):
            handoff.post(NoSample(0.0))

    on("default", main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_the_sampling_stream_delivers_each_reading_on_the_daemons_loop_and_closes_its_eventfd(
    loop_name: str,
) -> None:
    async def main() -> None:
        clock = MonotonicClock()
        sensor = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,5\n", "rest"), clock, sample_rate_hz=80)
        # A sampling thread even where the loop could read this sensor itself (``reads_on_loop``).
        stream = SampleStream(Sampler(sensor, SIMULATED_CALIBRATION, clock), asyncio.get_running_loop(), on_loop=False)
        stream.start()
        feed = SampleFeed(stream)
        handoff = stream.handoff
        assert handoff is not None and handoff.fileno is not None
        readings = []
        while len(readings) < 10:
            event = await feed.next(BOUND_S)
            if isinstance(event, Sample):
                readings.append(event)
        assert [r.t for r in readings] == sorted(r.t for r in readings)
        await feed.close()
        stream.stop()
        assert not stream.alive and handoff.fileno is None

    on(loop_name, main)
