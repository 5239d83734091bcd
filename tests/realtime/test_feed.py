"""The sample feed hands a new session only readings taken after it started.

The sampling thread hands each event to the loop with ``call_soon_threadsafe``:
a reading taken just before a session starts may still be on its way - handed
over, not yet in the queue - when the session drains the queue.  These tests
put events on the loop exactly as the thread does, at chosen moments of a
virtual clock, so the order of events is fixed, not raced.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from firmware.realtime.feed import SampleFeed
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.stream import SampleStream
from hal.clock import VirtualClock
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv

pytestmark = pytest.mark.asyncio


def feed_on(clock: VirtualClock) -> tuple[SampleFeed, list[SamplerEvent]]:
    sensor = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "rest"), clock, sample_rate_hz=80)
    stream = SampleStream(Sampler(sensor, SIMULATED_CALIBRATION, clock), asyncio.get_running_loop())
    seen: list[SamplerEvent] = []
    return SampleFeed(stream, on_event=seen.append), seen


def hand_over(feed: SampleFeed, event: SamplerEvent) -> None:
    """What the sampling thread does with an event: from its own thread, onto the loop."""
    loop, queue = asyncio.get_running_loop(), feed.stream.queue
    thread = threading.Thread(target=loop.call_soon_threadsafe, args=(queue.put_nowait, event))
    thread.start()
    thread.join()


async def test_a_reading_on_its_way_at_the_drain_is_not_handed_to_the_new_session() -> None:
    clock = VirtualClock(10.0)
    feed, seen = feed_on(clock)
    queued, on_its_way = Sample(9.9, 29.0, 290_000), Sample(9.95, 29.0, 290_000)
    hand_over(feed, queued)
    await asyncio.sleep(0)  # in the queue now
    hand_over(feed, on_its_way)  # handed to the loop, not yet in the queue
    feed.drain()  # the session starts at 10.0
    fresh = Sample(10.0125, 0.1, 1_000)
    hand_over(feed, fresh)
    assert await feed.next(1.0) == fresh
    assert on_its_way in seen  # the watchdog still heard of it: the sampler is alive
    await feed.close()


async def test_a_fault_from_before_the_drain_is_never_dropped_nor_a_timeout_tick() -> None:
    clock = VirtualClock(10.0)
    feed, _ = feed_on(clock)
    fault = SensorFault(9.95, "sampling thread died: boom")
    hand_over(feed, NoSample(9.9))
    hand_over(feed, fault)
    feed.drain()
    assert await feed.next(1.0) == fault
    # Silence after the drain: the gap tick comes on the loop's clock, never judged stale.
    tick = await feed.next(0.01)
    assert isinstance(tick, NoSample)
    await feed.close()
