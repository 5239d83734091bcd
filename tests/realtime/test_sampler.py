"""The sampler turns every failure to read or convert into an event; it never raises."""

from __future__ import annotations

import asyncio
import math

from config.plan import TherapyPlan
from firmware.realtime.sampler import Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.stream import SampleStream
from firmware.realtime.virtual import run_virtual_session
from firmware.session.states import AbortReason, Outcome
from hal.clock import VirtualClock
from hal.sensor import ForceSensor
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION
from tests.conftest import DEVICE_MAX_N

RATE = 80.0


class BrokenReadingSensor(ForceSensor):
    """A backend that hands over one reading no calibration can convert (NaN), then good ones."""

    sample_rate_hz = RATE

    def __init__(self, clock: VirtualClock, *, bad_at: int) -> None:
        self.clock = clock
        self.bad_at = bad_at
        self.n = 0

    def read(self, timeout_s: float) -> int | None:
        self.clock.sleep_until(self.n / RATE)
        self.n += 1
        if self.n - 1 == self.bad_at:
            return math.nan  # type: ignore[return-value]  # what a buggy backend could pass on
        return SIMULATED_CALIBRATION.to_counts(0.0)


def test_an_unconvertible_reading_is_a_sensor_fault_and_the_next_read_goes_on() -> None:
    clock = VirtualClock()
    sampler = Sampler(BrokenReadingSensor(clock, bad_at=1), SIMULATED_CALIBRATION, clock)
    first, bad, after = sampler.next(), sampler.next(), sampler.next()
    assert isinstance(first, Sample) and isinstance(after, Sample)
    assert isinstance(bad, SensorFault)
    assert bad.t == 1 / RATE and "non-finite force" in bad.detail


def test_the_sampling_thread_outlives_an_unconvertible_reading() -> None:
    async def main() -> tuple[list[SamplerEvent], bool]:
        clock = VirtualClock()
        stream = SampleStream(Sampler(BrokenReadingSensor(clock, bad_at=2), SIMULATED_CALIBRATION, clock),
                              asyncio.get_running_loop()).start()
        try:
            # The bound only turns a dead thread (no further events) into a failure, never a pass.
            async with asyncio.timeout(30):
                events = [await stream.queue.get() for _ in range(6)]
            return events, stream.alive
        finally:
            stream.stop()

    events, alive = asyncio.run(main())
    assert [type(e).__name__ for e in events] == ["Sample", "Sample", "SensorFault", "Sample", "Sample", "Sample"]
    assert alive and "sampling thread died" not in str(events[2])


def test_a_session_aborts_on_an_unconvertible_reading() -> None:
    clock = VirtualClock()
    plan = TherapyPlan(hold_s=30, repetitions=1, rest_s=5, max_wait_for_contact_s=5)
    summary = run_virtual_session(
        plan,
        sampler=Sampler(BrokenReadingSensor(clock, bad_at=40), SIMULATED_CALIBRATION, clock),
        haptics=RecordingHaptics(clock),
        clock=clock,
        device_id="test",
        device_max_n=DEVICE_MAX_N,
    )
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.SENSOR_FAULT
    assert summary.abort.at_s == 40 / RATE
    assert "unconvertible reading" in summary.abort.detail
