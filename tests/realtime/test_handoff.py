"""The hand-off from the sampling thread to the loop: in order, nothing lost, and no await when events wait."""

from __future__ import annotations

import asyncio
import threading

import pytest

from firmware.realtime.feed import SampleFeed
from firmware.realtime.handoff import EventQueue
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.stream import SampleStream
from hal.clock import VirtualClock
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime]


def from_a_thread(queue: EventQueue, events: list[SamplerEvent]) -> None:
    """What the sampling thread does: each event onto the loop with ``call_soon_threadsafe``."""
    loop = asyncio.get_running_loop()

    def hand_over() -> None:
        for event in events:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    thread = threading.Thread(target=hand_over)
    thread.start()
    thread.join()


async def test_events_come_out_in_order_and_none_is_lost() -> None:
    queue = EventQueue()
    events: list[SamplerEvent] = [Sample(i / 80, float(i), i) for i in range(200)]
    events.insert(100, SensorFault(1.25, "x"))
    from_a_thread(queue, events)
    got = [await queue.get() for _ in range(len(events))]
    assert got == events and queue.empty()
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()


async def test_a_wait_ends_on_an_event_a_wake_up_or_its_timeout_and_says_which() -> None:
    loop = asyncio.get_running_loop()
    queue = EventQueue()
    loop.call_later(0.005, queue.put_nowait, NoSample(0.0))
    assert await queue.wait(1.0) is True and loop.time() == pytest.approx(0.005)
    queue.get_nowait()
    wake: asyncio.Future[object] = loop.create_future()
    loop.call_later(0.002, wake.set_result, None)
    assert await queue.wait(1.0, wake) is True and queue.empty()
    started = loop.time()
    assert await queue.wait(0.02) is False and loop.time() - started == pytest.approx(0.02)
    assert await queue.wait(0.0, wake) is True  # the wake-up is there already: no wait at all


async def test_a_queue_has_one_reader() -> None:
    queue = EventQueue()
    first = asyncio.ensure_future(queue.wait(1.0))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one reader"):
        await queue.wait(1.0)
    queue.put_nowait(NoSample(0.0))
    assert await first is True


async def test_the_feed_hands_out_a_queued_event_without_waiting_on_the_loop() -> None:
    """Events that are there already cost no loop iteration: the coroutine finishes in its first step."""
    clock = VirtualClock(10.0)
    sensor = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "rest"), clock, sample_rate_hz=80)
    stream = SampleStream(Sampler(sensor, SIMULATED_CALIBRATION, clock), asyncio.get_running_loop())
    seen: list[SamplerEvent] = []
    feed = SampleFeed(stream, on_event=seen.append)
    first, second = Sample(10.0, 1.0, 50_000), Sample(10.0125, 2.0, 100_000)
    stream.queue.put_nowait(first)
    stream.queue.put_nowait(second)
    for expected in (first, second):
        step = feed.next(1.0, wake=None)
        with pytest.raises(StopIteration) as done:
            step.send(None)
        assert done.value.value == expected
    assert seen == [first, second]
    tick = await feed.next(0.02)  # nothing queued: a gap tick after the timeout, on the loop's clock
    assert isinstance(tick, NoSample)
    await feed.close()
