"""A start waits at most ``ADMIT_TIMEOUT_S`` for the service's answer, then is refused.

The real-time side as ``rt_main`` builds it - the daemon with ``LinkHooks``,
``LinkPlans`` and ``LinkNotifier`` over a real pipe - with a service end that
is open but never answers (a stalled service).  Virtual time (looptime and a
``LockstepClock``): the bound is checked on the clock, not raced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from config.plan import TherapyPlan
from firmware.device.contracts import DaemonOptions
from firmware.device.daemon import DeviceDaemon
from firmware.device.link_hooks import ADMIT_TIMEOUT_S, LinkHooks, LinkNotifier, LinkPlans, admit_timeout_s
from firmware.device.link_messages import AdmitRequest
from firmware.realtime.link import Link, LoopLink
from firmware.realtime.sampler import Sampler
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N
from tests.lockstep import LockstepClock


@pytest.fixture
def pipes() -> Iterator[tuple[Link, Link]]:
    """The real-time end and a service end that is open and never answers."""
    to_rt_r, to_rt_w = os.pipe()
    from_rt_r, from_rt_w = os.pipe()
    realtime, service = Link(to_rt_r, from_rt_w), Link(from_rt_r, to_rt_w)
    yield realtime, service
    realtime.close()
    service.close()


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_stalled_service_gets_the_start_refused_after_the_bound(
    lockstep_clock: LockstepClock, pipes: tuple[Link, Link]
) -> None:
    realtime, service = pipes
    loop = asyncio.get_running_loop()
    channel = LoopLink(realtime, loop, on_message=lambda message: None, on_closed=lambda reason: None)
    sensor = SimulatedLoadCell(parse_trace_csv("time_s,force_n\n0,0\n", "rest"), lockstep_clock, sample_rate_hz=80)
    haptics = RecordingHaptics(lockstep_clock)
    daemon = DeviceDaemon(
        plans=LinkPlans(TherapyPlan(), channel),
        sampler=Sampler(sensor, SIMULATED_CALIBRATION, lockstep_clock),
        haptics=haptics,
        device_id="stalled",
        device_max_n=DEVICE_MAX_N,
        hooks=LinkHooks(channel),
        notifier=LinkNotifier(channel),
        options=DaemonOptions(sessions=1, auto_start=True),
    )
    lockstep_clock.start()
    started = loop.time()
    await daemon.run()
    channel.close()
    assert daemon.result.summaries == []
    [reason] = daemon.result.refusals
    assert reason == f"the service did not answer the start request within {ADMIT_TIMEOUT_S:g} s"
    # The request did go out; nothing came back.
    assert any(isinstance(message, AdmitRequest) for message in service.receive())
    # The refused cue began once the bound ran out - not before, and not much after.
    first_cue = next(t for t, level in haptics.changes if level > 0)
    assert ADMIT_TIMEOUT_S <= first_cue - started <= ADMIT_TIMEOUT_S + 0.1
    assert haptics.level == 0.0


@pytest.mark.parametrize(
    ("speed", "wall_lag_s", "on_the_hardware_clock"),
    [(1.0, 0.0, ADMIT_TIMEOUT_S), (50.0, 0.0, 50 * ADMIT_TIMEOUT_S), (50.0, 60.0, 3000.0), (20.0, 0.1, 60.0)],
)
def test_the_wait_for_a_start_answer_is_wall_time_at_any_speed_or_the_speed_lag_if_longer(
    speed: float, wall_lag_s: float, on_the_hardware_clock: float
) -> None:
    assert admit_timeout_s(speed, wall_lag_s) == pytest.approx(on_the_hardware_clock)
