"""The real-time asyncio runtime with simulated hardware, its sampling thread and all.

Virtual time: the loop runs under looptime and the sampling thread sleeps on a
``LockstepClock``, so the thread and the loop take turns and a busy machine
changes nothing (see ``tests/lockstep.py``).
"""

from __future__ import annotations

import asyncio

import pytest

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.feed import SampleFeed
from firmware.realtime.runtime import StopRequest, run_realtime_session, run_session
from firmware.realtime.sampler import Sampler
from firmware.realtime.sinks import MemorySink
from firmware.realtime.stats import LATENCY_BATCH, DecisionLatency, LatencyHistogram, LostReads, ReadGrid
from firmware.realtime.stream import SampleStream
from firmware.session.states import AbortReason, Outcome
from hal.sensor import ForceSensor
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N
from tests.lockstep import LockstepClock

pytestmark = [pytest.mark.asyncio, pytest.mark.looptime]


def rig(csv: str, clock: LockstepClock) -> tuple[Sampler, RecordingHaptics]:
    sensor = SimulatedLoadCell(parse_trace_csv(csv, "mem"), clock, sample_rate_hz=80)
    return Sampler(sensor, SIMULATED_CALIBRATION, clock), RecordingHaptics(clock)


async def run(
    plan: TherapyPlan, sampler: Sampler, haptics: RecordingHaptics, stop: StopRequest | None = None
):
    """One session on the runtime; the lockstep clock starts with it."""
    assert isinstance(sampler.clock, LockstepClock)
    sampler.clock.start()
    memory = MemorySink()
    summary = await run_realtime_session(
        plan, sampler=sampler, haptics=haptics, device_id="rt", device_max_n=DEVICE_MAX_N, sinks=[memory], stop=stop
    )
    return summary, memory


async def test_stop_request_ends_the_session_and_motor_is_off(
    plan: TherapyPlan, lockstep_clock: LockstepClock
) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.2,29.4\n", lockstep_clock)
    stop = StopRequest()
    asyncio.get_running_loop().call_later(0.6, stop.request, "button")
    summary, memory = await run(plan, sampler, haptics, stop)
    assert summary.outcome is Outcome.STOPPED
    assert summary.stop_source == "button"
    assert summary.holds and summary.holds[0].outcome == "stopped"
    # The entered-band cue drove the motor, and it is off now.
    assert any(level > 0 for _, level in haptics.changes)
    assert haptics.level == 0.0
    assert memory.summary is summary
    assert 0.3 < summary.duration_s < 1.0


async def test_over_tolerance_aborts_in_real_time(plan: TherapyPlan, lockstep_clock: LockstepClock) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.2,29.4\n0.4,29.4\n0.5,45\n", lockstep_clock)
    summary, memory = await run(plan, sampler, haptics)
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.OVER_TOLERANCE
    assert summary.abort.at_s == pytest.approx(0.4875 + 0.025, abs=0.013)
    assert haptics.level == 0.0
    # The abort buzz was played before the motor was switched off.
    assert 1.0 in [level for _, level in haptics.changes]
    assert any(e["type"] == "abort" for e in memory.events)


async def test_every_sample_of_a_session_is_in_the_latency_figures_when_it_ends(
    plan: TherapyPlan, lockstep_clock: LockstepClock
) -> None:
    """Latencies are binned in batches; the session's last, part batch is binned as it ends."""
    sampler, haptics = rig("time_s,force_n\n0,0\n0.2,29.4\n", lockstep_clock)
    lockstep_clock.start()
    loop = asyncio.get_running_loop()
    histogram, lost, memory, stop = LatencyHistogram(), LostReads(), MemorySink(), StopRequest()
    latency = DecisionLatency(histogram, sampler.clock, grid=ReadGrid(lost, sampler.period_s))
    stream = SampleStream(sampler, loop).start()
    feed = SampleFeed(stream)
    try:
        engine = SessionEngine.reading(
            plan, sampler, device_id="rt", device_max_n=DEVICE_MAX_N, armed_at=loop.time(), sinks=[memory]
        )
        loop.call_later(4.0, stop.request, "button")
        await run_session(engine, feed, haptics, stop=stop, latency=latency)
    finally:
        await feed.close()
        stream.stop()
    assert len(memory.samples) > LATENCY_BATCH  # a full batch and a part one
    assert histogram.count == len(memory.samples) and lost.count == 0


class DyingSensor(ForceSensor):
    """A sensor whose driver raises an unexpected error after a few reads."""

    sample_rate_hz = 80.0

    def __init__(self, clock: LockstepClock) -> None:
        self.clock = clock
        self.reads = 0
        self.cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "m"), self.clock, sample_rate_hz=80)

    def read(self, timeout_s: float) -> int | None:
        self.reads += 1
        if self.reads > 10:
            raise RuntimeError("bus exploded")
        return self.cell.read(timeout_s)


async def test_dead_sampling_thread_becomes_a_sensor_fault(plan: TherapyPlan, lockstep_clock: LockstepClock) -> None:
    sensor = DyingSensor(lockstep_clock)
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, sensor.clock)
    haptics = RecordingHaptics(sensor.clock)
    summary, _ = await run(plan, sampler, haptics)
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.SENSOR_FAULT
    assert "sampling thread died" in summary.abort.detail
    assert haptics.level == 0.0


class SilentSensor(ForceSensor):
    """A sensor that hangs far longer than its timeout (a wedged driver)."""

    sample_rate_hz = 80.0

    def __init__(self, clock: LockstepClock) -> None:
        self.clock = clock
        self.first = True

    def read(self, timeout_s: float) -> int | None:
        if self.first:
            self.first = False
            return 0
        self.clock.sleep_until(self.clock.now() + 1.0)  # a driver stuck in I/O for a second
        return None


async def test_wedged_sensor_thread_is_caught_by_the_loop(plan: TherapyPlan, lockstep_clock: LockstepClock) -> None:
    sensor = SilentSensor(lockstep_clock)
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, sensor.clock)
    summary, _ = await run(plan, sampler, RecordingHaptics(sensor.clock))
    assert summary.abort is not None and summary.abort.reason is AbortReason.SENSOR_FAULT
    # Decided by the control loop's own ticks, within a few periods of the last sample.
    assert summary.abort.at_s < 0.2


async def test_cancellation_turns_the_motor_off(plan: TherapyPlan, lockstep_clock: LockstepClock) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.1,29.4\n", lockstep_clock)
    task = asyncio.create_task(run(plan, sampler, haptics))
    await asyncio.sleep(0.3)
    assert haptics.level > 0 or haptics.changes  # the band cue started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert haptics.level == 0.0
