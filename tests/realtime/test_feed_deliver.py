"""A session's reader is handed each event in the loop iteration that queued it, as ``next`` would hand it.

``SampleFeed.deliver`` calls the session's handler from the read itself (the
loop's timer, or the sampling thread's wake-up) instead of resuming an
awaiting reader one iteration later.  Virtual time throughout
(``tests/realtime/virtual_loop.py``), so nothing here depends on how busy
the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.feed import SampleFeed
from firmware.realtime.runtime import run_session
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.stop import StopRequest
from firmware.realtime.stream import SampleStream
from hal.clock import VirtualClock
from hal.sensor import ReadStep
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N
from tests.realtime.virtual_loop import VirtualTimeLoop

RATE = 80.0
PERIOD = 1 / RATE
GAP_S = 0.0183  # off the whole-millisecond grid the scripted events below are queued on


def run_virtual(clock: VirtualClock, main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, Any]]) -> Any:
    loop = VirtualTimeLoop(clock)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(main(loop))


class IterationCell(SimulatedLoadCell):
    """A simulated load cell that notes the loop iteration of each conversion it reads."""

    def __init__(self, clock: VirtualClock, loop: VirtualTimeLoop) -> None:
        super().__init__(parse_trace_csv("time_s,force_n\n0,5\n30,5\n", "rest"), clock, sample_rate_hz=RATE)
        self.loop = loop
        self.read_in: dict[float, int] = {}

    def step_read(self) -> ReadStep:
        step = super().step_read()
        if isinstance(step, int):  # a conversion read (not "look again later")
            self.read_in[self.clock.now()] = self.loop.iterations
        return step


def test_each_reading_read_on_the_loop_is_handled_in_the_iteration_that_read_it() -> None:
    clock = VirtualClock(5.0)

    async def main(loop: VirtualTimeLoop) -> tuple[list[tuple[float, int]], dict[float, int], int]:
        cell = IterationCell(clock, loop)
        stream = SampleStream(Sampler(cell, SIMULATED_CALIBRATION, clock), loop, on_loop=True).start()
        feed = SampleFeed(stream)
        handled: list[tuple[float, int]] = []

        def handle(event: SamplerEvent) -> bool:
            assert isinstance(event, Sample), event
            handled.append((event.t, loop.iterations))
            return len(handled) < 200

        first = loop.iterations
        assert await feed.deliver(handle, 1.0)
        iterations = loop.iterations - first
        stream.stop()
        await feed.close()
        return handled, cell.read_in, iterations

    handled, read_in, iterations = run_virtual(clock, main)
    assert [t for t, _ in handled] == pytest.approx([5.0 + i * PERIOD for i in range(200)], abs=1e-9)
    assert all(iteration == read_in[t] for t, iteration in handled)  # not one iteration later
    assert iterations <= 202  # one loop iteration a conversion (an awaiting reader needs two)


def test_a_session_on_the_loop_decides_each_sample_in_the_iteration_that_read_it(plan: TherapyPlan) -> None:
    clock = VirtualClock()

    async def main(loop: VirtualTimeLoop) -> tuple[list[tuple[float, int]], dict[float, int]]:
        cell = IterationCell(clock, loop)
        sampler = Sampler(cell, SIMULATED_CALIBRATION, clock)
        stream = SampleStream(sampler, loop, on_loop=True).start()
        feed = SampleFeed(stream)
        decided: list[tuple[float, int]] = []

        class IterationSink:
            def session_started(self, info: object) -> None: ...
            def decisions(self, decisions: object) -> None: ...
            def session_ended(self, summary: object) -> None: ...

            def sample(self, t: float, force_n: float, raw: int) -> None:
                decided.append((t, loop.iterations))

        stop = StopRequest()
        loop.call_at(loop.time() + 2.0, stop.request, "button")
        engine = SessionEngine.reading(
            plan, sampler, device_id="rt", device_max_n=DEVICE_MAX_N, armed_at=loop.time(), sinks=[IterationSink()]
        )
        try:
            summary = await run_session(engine, feed, RecordingHaptics(clock), stop=stop)
        finally:
            await feed.close()
            stream.stop()
        assert summary.stop_source == "button"
        return decided, cell.read_in

    decided, read_in = run_virtual(clock, main)
    assert len(decided) >= 150
    # Each sample's stamp is session time; the read it came from ran in the same loop iteration.
    iterations_of_reads = sorted(read_in.values())
    assert [iteration for _, iteration in decided] == iterations_of_reads[: len(decided)]


# -- the same events as ``next`` would hand, whatever comes when ------------------------------

Step = tuple[int, str, int]  # (whole ms after the last step, kind, stamp lag in ms)
STEPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60),
        st.sampled_from(["sample", "sample", "sample", "fault", "drain"]),
        st.integers(min_value=0, max_value=30),
    ),
    min_size=1,
    max_size=30,
)


def scripted_feed(loop: VirtualTimeLoop, clock: VirtualClock, steps: list[Step]) -> tuple[SampleFeed, list[object]]:
    """A feed whose queue gets the scripted events at their moments (a drain drops what is stamped before it)."""
    cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "rest"), clock, sample_rate_hz=RATE)
    stream = SampleStream(Sampler(cell, SIMULATED_CALIBRATION, clock), loop)  # not started: the script feeds it
    arrivals: list[object] = []
    feed = SampleFeed(stream, on_event=arrivals.append)
    at = loop.time()
    previous = ""
    for number, (after_ms, kind, lag_ms) in enumerate(steps):
        # A drain never shares a moment with an event being queued: on the device the
        # session drains before its reader starts, so the two never race.
        at += (max(1, after_ms) if "drain" in (kind, previous) else after_ms) / 1000
        previous = kind
        stamp = at - lag_ms / 1000
        if kind == "drain":
            loop.call_at(at, feed.drain)
        elif kind == "fault":
            loop.call_at(at, stream.queue.put_nowait, SensorFault(stamp, f"fault {number}"))
        else:
            loop.call_at(at, stream.queue.put_nowait, Sample(stamp, float(number), number))
    return feed, arrivals


def handed_by_next(steps: list[Step], count: int) -> tuple[list[tuple[float, SamplerEvent]], list[object]]:
    clock = VirtualClock(100.0)

    async def main(loop: VirtualTimeLoop) -> tuple[list[tuple[float, SamplerEvent]], list[object]]:
        feed, arrivals = scripted_feed(loop, clock, steps)
        got: list[tuple[float, SamplerEvent]] = []
        while len(got) < count:
            event = await feed.next(GAP_S)
            assert event is not None
            got.append((loop.time(), event))
        return got, arrivals

    result: tuple[list[tuple[float, SamplerEvent]], list[object]] = run_virtual(clock, main)
    return result


def handed_by_deliver(steps: list[Step], count: int) -> tuple[list[tuple[float, SamplerEvent]], list[object]]:
    clock = VirtualClock(100.0)

    async def main(loop: VirtualTimeLoop) -> tuple[list[tuple[float, SamplerEvent]], list[object]]:
        feed, arrivals = scripted_feed(loop, clock, steps)
        got: list[tuple[float, SamplerEvent]] = []

        def handle(event: SamplerEvent) -> bool:
            got.append((loop.time(), event))
            return len(got) < count

        assert await feed.deliver(handle, GAP_S)
        return got, arrivals

    result: tuple[list[tuple[float, SamplerEvent]], list[object]] = run_virtual(clock, main)
    return result


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, extra=st.integers(min_value=0, max_value=5))
def test_deliver_hands_the_same_events_gap_ticks_and_arrivals_as_next(steps: list[Step], extra: int) -> None:
    count = 1 + sum(kind != "drain" for _, kind, _ in steps) + extra  # the script, then gap ticks
    by_next, arrivals_next = handed_by_next(steps, count)
    by_deliver, arrivals_deliver = handed_by_deliver(steps, count)
    assert by_deliver == by_next  # the same events, in order, at the same moments (gap ticks included)
    assert arrivals_deliver == arrivals_next  # the watchdog hears of the same arrivals, stale ones too


# -- the reader's own failure, and a wake-up ---------------------------------------------------


def test_an_exception_in_the_handler_comes_out_of_deliver_and_the_reads_go_on() -> None:
    clock = VirtualClock(5.0)

    async def main(loop: VirtualTimeLoop) -> None:
        cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,5\n", "rest"), clock, sample_rate_hz=RATE)
        stream = SampleStream(Sampler(cell, SIMULATED_CALIBRATION, clock), loop, on_loop=True).start()
        feed = SampleFeed(stream)
        handled: list[SamplerEvent] = []

        def handle(event: SamplerEvent) -> bool:
            handled.append(event)
            if len(handled) == 3:
                raise ZeroDivisionError("the reader's own bug")
            return True

        with pytest.raises(ZeroDivisionError, match="the reader's own bug"):
            await feed.deliver(handle, 1.0)
        assert stream.alive and stream.error is None  # not a death of the reads
        after = await feed.next(1.0)  # the next reader gets the next reading, not a fault
        assert isinstance(after, Sample) and after.t == pytest.approx(handled[-1].t + PERIOD)
        stream.stop()
        await feed.close()

    run_virtual(clock, main)


def test_a_wake_up_ends_deliver_after_what_was_queued_and_leaves_the_rest_queued() -> None:
    clock = VirtualClock(5.0)

    async def main(loop: VirtualTimeLoop) -> None:
        feed, _ = scripted_feed(loop, clock, [(1, "sample", 0), (1, "sample", 0), (30, "sample", 0)])
        stop = StopRequest()
        loop.call_at(loop.time() + 0.002, stop.request, "button")
        handled: list[SamplerEvent] = []

        def handle(event: SamplerEvent) -> bool:
            handled.append(event)
            return True

        assert not await feed.deliver(handle, 1.0, wake=stop)
        assert [e.t for e in handled] == pytest.approx([5.001, 5.002])
        assert loop.time() == pytest.approx(5.002)  # at once, not at the next reading or gap tick
        later = await feed.next(1.0)
        assert isinstance(later, Sample) and later.t == pytest.approx(5.032)
        await feed.close()

    run_virtual(clock, main)


def test_events_queued_before_deliver_are_handed_at_once_even_with_the_wake_up_already_done() -> None:
    clock = VirtualClock(5.0)

    async def main(loop: VirtualTimeLoop) -> None:
        feed, _ = scripted_feed(loop, clock, [])
        queued = [Sample(4.99, 1.0, 1), NoSample(4.995), SensorFault(4.998, "x")]
        for event in queued:
            feed.stream.queue.put_nowait(event)
        stop = StopRequest()
        stop.request("signal")
        handled: list[SamplerEvent] = []
        assert not await feed.deliver(lambda e: handled.append(e) is None, 1.0, wake=stop)
        assert handled == queued and loop.time() == 5.0
        await feed.close()

    run_virtual(clock, main)
