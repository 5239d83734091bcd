"""The real-time asyncio runtime with simulated hardware (real time, short runs)."""

from __future__ import annotations

import asyncio

import pytest

from config.plan import TherapyPlan
from firmware.realtime.runtime import StopRequest, run_realtime_session
from firmware.realtime.sampler import Sampler
from firmware.realtime.sinks import MemorySink
from firmware.session.states import AbortReason, Outcome
from hal.clock import MonotonicClock
from hal.sensor import ForceSensor
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N


def rig(csv: str) -> tuple[Sampler, RecordingHaptics]:
    clock = MonotonicClock()
    sensor = SimulatedLoadCell(parse_trace_csv(csv, "mem"), clock, sample_rate_hz=80)
    return Sampler(sensor, SIMULATED_CALIBRATION, clock), RecordingHaptics(clock)


async def run(plan: TherapyPlan, sampler: Sampler, haptics: RecordingHaptics, stop: StopRequest | None = None):
    memory = MemorySink()
    summary = await run_realtime_session(
        plan, sampler=sampler, haptics=haptics, device_id="rt", device_max_n=DEVICE_MAX_N, sinks=[memory], stop=stop
    )
    return summary, memory


def test_stop_request_ends_the_session_and_motor_is_off(plan: TherapyPlan) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.2,29.4\n")

    async def main():
        stop = StopRequest()
        asyncio.get_running_loop().call_later(0.6, stop.request, "button")
        return await run(plan, sampler, haptics, stop)

    summary, memory = asyncio.run(main())
    assert summary.outcome is Outcome.STOPPED
    assert summary.stop_source == "button"
    assert summary.holds and summary.holds[0].outcome == "stopped"
    # The entered-band cue drove the motor, and it is off now.
    assert any(level > 0 for _, level in haptics.changes)
    assert haptics.level == 0.0
    assert memory.summary is summary
    assert 0.3 < summary.duration_s < 1.0


def test_over_tolerance_aborts_in_real_time(plan: TherapyPlan) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.2,29.4\n0.4,29.4\n0.5,45\n")
    summary, memory = asyncio.run(run(plan, sampler, haptics))
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.OVER_TOLERANCE
    assert summary.abort.at_s == pytest.approx(0.4875 + 0.025, abs=0.013)
    assert haptics.level == 0.0
    # The abort buzz was played before the motor was switched off.
    assert 1.0 in [level for _, level in haptics.changes]
    assert any(e["type"] == "abort" for e in memory.events)


class DyingSensor(ForceSensor):
    """A sensor whose driver raises an unexpected error after a few reads."""

    sample_rate_hz = 80.0

    def __init__(self) -> None:
        self.clock = MonotonicClock()
        self.reads = 0
        self.cell = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "m"), self.clock, sample_rate_hz=80)

    def read(self, timeout_s: float) -> int | None:
        self.reads += 1
        if self.reads > 10:
            raise RuntimeError("bus exploded")
        return self.cell.read(timeout_s)


def test_dead_sampling_thread_becomes_a_sensor_fault(plan: TherapyPlan) -> None:
    sensor = DyingSensor()
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, sensor.clock)
    haptics = RecordingHaptics(sensor.clock)
    summary, _ = asyncio.run(run(plan, sampler, haptics))
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.SENSOR_FAULT
    assert "sampling thread died" in summary.abort.detail
    assert haptics.level == 0.0


class SilentSensor(ForceSensor):
    """A sensor that hangs far longer than its timeout (a wedged driver)."""

    sample_rate_hz = 80.0

    def __init__(self) -> None:
        self.clock = MonotonicClock()
        self.first = True

    def read(self, timeout_s: float) -> int | None:
        if self.first:
            self.first = False
            return 0
        import time

        time.sleep(1.0)  # simulates a driver stuck in I/O, not test timing
        return None


def test_wedged_sensor_thread_is_caught_by_the_loop(plan: TherapyPlan) -> None:
    sensor = SilentSensor()
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, sensor.clock)
    summary, _ = asyncio.run(run(plan, sampler, RecordingHaptics(sensor.clock)))
    assert summary.abort is not None and summary.abort.reason is AbortReason.SENSOR_FAULT
    # Decided by the control loop's own ticks, within a few periods of the last sample.
    assert summary.abort.at_s < 0.2


def test_cancellation_turns_the_motor_off(plan: TherapyPlan) -> None:
    sampler, haptics = rig("time_s,force_n\n0,0\n0.1,29.4\n")

    async def main() -> None:
        task = asyncio.create_task(run(plan, sampler, haptics))
        await asyncio.sleep(0.3)
        assert haptics.level > 0 or haptics.changes  # the band cue started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert haptics.level == 0.0
