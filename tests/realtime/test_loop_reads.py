"""Reads on the loop from one timer per conversion: every reading in order, at once, and deaths heard.

Virtual time throughout (``tests/realtime/virtual_loop.py``): the chip
emulator behind its SPI front, the real SPI driver, the sampler and the
loop's timers share one ``VirtualClock``, so nothing here depends on how
busy the machine is.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.feed import SampleFeed
from firmware.realtime.loop_reads import PreciseTimerLoop, reads_on_loop
from firmware.realtime.runtime import run_session
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.stats import LostReads, ReadGrid
from firmware.realtime.stream import SampleStream
from firmware.session.states import AbortReason, Outcome
from hal.clock import MonotonicClock, VirtualClock
from hal.hx711_spi import HX711SpiSensor
from hal.sensor import Calibration, ForceSensor, ReadStep, SensorError
from simulator.fast_time import FastClock, FastClockLoop
from simulator.haptics import RecordingHaptics
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N
from tests.realtime.virtual_loop import run_on

RATE = 80.0
PERIOD = 1 / RATE


def resting_cell(clock: VirtualClock | MonotonicClock) -> SimulatedLoadCell:
    return SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,5\n", "rest"), clock, sample_rate_hz=RATE)


class BlockingSensor(ForceSensor):
    """Reads that block (as the GPIO backend's): only a thread can read it."""

    sample_rate_hz = RATE

    def read(self, timeout_s: float) -> int | None:
        return None


def test_the_loop_reads_a_stepped_sensor_on_its_own_clock_with_precise_timers_and_nothing_else() -> None:
    monotonic = MonotonicClock()
    loop = PreciseTimerLoop()
    stock_loop = asyncio.new_event_loop()
    fast_clock = FastClock(10.0)
    fast_loop = FastClockLoop(fast_clock)
    try:
        assert reads_on_loop(Sampler(resting_cell(monotonic), SIMULATED_CALIBRATION, monotonic), loop)
        assert not reads_on_loop(Sampler(BlockingSensor(), SIMULATED_CALIBRATION, monotonic), loop)
        # epoll's timeouts are whole milliseconds: the pacer could not lock on the chip's phase
        assert not reads_on_loop(Sampler(resting_cell(monotonic), SIMULATED_CALIBRATION, monotonic), stock_loop)
        # --speed: time is led by the sensor's sleeps, which a loop timer cannot make
        fast_cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,5\n", "rest"), fast_clock)
        assert not reads_on_loop(Sampler(fast_cell, SIMULATED_CALIBRATION, fast_clock), fast_loop)
        virtual = VirtualClock()
        assert not reads_on_loop(Sampler(resting_cell(virtual), SIMULATED_CALIBRATION, virtual), loop)
    finally:
        loop.close()
        stock_loop.close()
        fast_loop.close()


async def events(feed: SampleFeed, count: int) -> list[SamplerEvent]:
    got: list[SamplerEvent] = []
    while len(got) < count:
        event = await feed.next(1.0)
        assert event is not None and not isinstance(event, NoSample), f"the reads stalled: {event}"
        got.append(event)
    return got


class CountingCell(SimulatedLoadCell):
    """A simulated load cell that counts the steps the loop made."""

    steps = 0

    def step_read(self) -> ReadStep:
        self.steps += 1
        return super().step_read()


def test_the_simulated_load_cell_is_read_by_one_timer_per_conversion_with_no_thread() -> None:
    clock = VirtualClock(5.0)
    cell = CountingCell(parse_trace_csv("time_s,force_n\n0,5\n10,5\n", "rest"), clock, sample_rate_hz=RATE)

    async def main() -> list[SamplerEvent]:
        threads = threading.active_count()
        stream = SampleStream(Sampler(cell, SIMULATED_CALIBRATION, clock), asyncio.get_running_loop(), on_loop=True)
        stream.start()
        assert stream.on_loop and stream.handoff is None and threading.active_count() == threads
        feed = SampleFeed(stream)
        got = await events(feed, 200)
        stream.stop()
        assert not stream.alive and stream.error is None
        await feed.close()
        return got

    got = run_on(clock, main)
    assert all(isinstance(e, Sample) and e.force_n == pytest.approx(5.0) for e in got)
    # Each reading stamped at its conversion slot: none late, none skipped, in order.
    assert [e.t for e in got] == pytest.approx([5.0 + i * PERIOD for i in range(200)], abs=1e-9)
    assert cell.steps <= 201  # one step a conversion (the 201st is the one under way)


def spi_rig(clock: VirtualClock) -> tuple[HX711Chip, HX711SpiFront, Sampler]:
    chip = HX711Chip(clock=clock, force_source=lambda t: 1000, sample_rate_hz=RATE)
    front = HX711SpiFront(chip)
    sensor = HX711SpiSensor(front, clock=clock, sample_rate_hz=RATE)  # settles on the clock, before the loop
    return chip, front, Sampler(sensor, Calibration(0.0, 100.0), clock)


HELD_UP = [(0.0, 0), (0.6, 0), (1.5, 0), (1.8, 0), (2.5, 1), (4.2, 3)]


@pytest.mark.parametrize(("held_up_periods", "overwritten"), HELD_UP)
def test_spi_reads_on_a_loop_held_up_lose_only_what_the_chip_overwrote(
    held_up_periods: float, overwritten: int
) -> None:
    clock = VirtualClock()
    chip, front, sampler = spi_rig(clock)
    transfers_before = front.transfers

    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        stream = SampleStream(sampler, loop, on_loop=True).start()
        feed = SampleFeed(stream)
        lost = LostReads()
        grid = ReadGrid(lost, PERIOD)
        conversions: list[float] = []
        for i in range(400):
            if i == 200:  # the loop is busy (handling something else) for a while, once
                loop.call_soon(clock.advance, held_up_periods * PERIOD)
            event = await feed.next(1.0)
            assert isinstance(event, Sample), event
            assert chip.last_ready_at is not None
            conversions.append(chip.last_ready_at)
            grid.sample(event.t)
        stream.stop()
        await feed.close()
        assert lost.count == overwritten
        return conversions

    conversions = run_on(clock, main)
    skipped = sum(round((b - a) / PERIOD) - 1 for a, b in itertools.pairwise(conversions))
    assert skipped == overwritten  # the chip's own record agrees
    assert chip.errors == []
    # Locked on the chip's phase: about one data-ready look and the read a conversion.
    assert (front.transfers - transfers_before) / 400 < 2.4


class DyingCell(SimulatedLoadCell):
    """Its driver raises an unexpected error after ``fine`` readings; or a ``SensorError`` once, at ``flaky``."""

    def __init__(self, clock: VirtualClock, *, fine: int = 10**9, flaky: int | None = None) -> None:
        super().__init__(parse_trace_csv("time_s,force_n\n0,0\n", "m"), clock, sample_rate_hz=RATE)
        self.fine, self.flaky = fine, flaky

    def step_read(self) -> ReadStep:
        if self.conversions == self.flaky:
            self.flaky = None
            raise SensorError("bus glitch")
        if self.conversions >= self.fine:
            raise RuntimeError("bus exploded")
        return super().step_read()


def read_on_the_loop(cell: DyingCell, clock: VirtualClock, count: int) -> tuple[list[SamplerEvent], SampleStream, bool]:
    """The first ``count`` events, the stream, and whether it was alive then; then one more wait (a gap tick or not)."""

    async def main() -> tuple[list[SamplerEvent], SampleStream, bool, SamplerEvent | None]:
        stream = SampleStream(Sampler(cell, SIMULATED_CALIBRATION, clock), asyncio.get_running_loop(), on_loop=True)
        feed = SampleFeed(stream.start())
        got = await events(feed, count)
        alive = stream.alive
        after = await feed.next(PERIOD * 1.5)
        stream.stop()
        await feed.close()
        return got, stream, alive, after

    got, stream, alive, after = run_on(clock, main)
    return [*got, *([] if after is None else [after])], stream, alive


def test_an_exception_in_a_read_on_the_loop_is_a_sensor_fault_at_once_and_the_reads_end() -> None:
    clock = VirtualClock()
    got, stream, alive = read_on_the_loop(DyingCell(clock, fine=10), clock, 11)
    # Nothing after the death but the feed's gap tick.
    assert [type(e) for e in got] == [Sample] * 10 + [SensorFault, NoSample]
    fault = got[10]
    assert isinstance(fault, SensorFault) and fault.detail == "sampler died: bus exploded"
    assert fault.t == pytest.approx(got[9].t + PERIOD)  # heard at the read that failed, not later
    assert not alive and isinstance(stream.error, RuntimeError)


def test_a_sensor_error_on_the_loop_is_one_fault_event_and_reading_goes_on() -> None:
    clock = VirtualClock()
    got, stream, alive = read_on_the_loop(DyingCell(clock, flaky=3), clock, 8)
    assert [type(e) for e in got] == [Sample] * 3 + [SensorFault] + [Sample] * 5
    assert isinstance(got[3], SensorFault) and got[3].detail == "sensor error: bus glitch"
    assert alive and stream.error is None


def session_on_the_loop(plan: TherapyPlan, clock: VirtualClock, sampler: Sampler) -> tuple[Outcome, object, float]:
    haptics = RecordingHaptics(clock)

    async def main() -> tuple[Outcome, object, float]:
        loop = asyncio.get_running_loop()
        stream = SampleStream(sampler, loop, on_loop=True).start()
        feed = SampleFeed(stream)
        engine = SessionEngine.reading(plan, sampler, device_id="rt", device_max_n=DEVICE_MAX_N, armed_at=loop.time())
        try:
            summary = await run_session(engine, feed, haptics)
        finally:
            await feed.close()
            stream.stop()
        assert summary.abort is not None
        return summary.outcome, summary.abort.reason, summary.abort.at_s

    result = run_on(clock, main)
    assert haptics.level == 0.0  # the motor ends off
    return result


def test_a_session_read_on_the_loop_aborts_on_a_dead_sampler(plan: TherapyPlan) -> None:
    clock = VirtualClock()
    sampler = Sampler(DyingCell(clock, fine=10), SIMULATED_CALIBRATION, clock)
    outcome, reason, at_s = session_on_the_loop(plan, clock, sampler)
    assert (outcome, reason) == (Outcome.ABORTED, AbortReason.SENSOR_FAULT)
    assert at_s == pytest.approx(10 * PERIOD, abs=PERIOD)


def test_a_silent_sensor_read_on_the_loop_aborts_by_the_gap_rule(plan: TherapyPlan) -> None:
    clock = VirtualClock()
    cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n0.3,nan\n", "gone"), clock, sample_rate_hz=RATE)
    outcome, reason, at_s = session_on_the_loop(plan, clock, Sampler(cell, SIMULATED_CALIBRATION, clock))
    assert (outcome, reason) == (Outcome.ABORTED, AbortReason.SENSOR_FAULT)
    assert 0.3 < at_s < 0.3 + 5 * PERIOD  # "no sample for 3 periods", from the last reading
