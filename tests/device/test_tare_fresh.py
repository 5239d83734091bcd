"""The tare before a session rests on readings taken after the previous session ended.

In-process in virtual time (looptime and a ``LockstepClock``, as in
``test_daemon_plans``): two sessions in a row, each stopped by a button press;
between them the reading at rest moves by 2 N (the tip set down differently,
a warmer cell).  The second tare must see the new rest, not the idle readings
from before the first session.
"""

from __future__ import annotations

import asyncio

import pytest

from config.plan import TherapyPlan
from firmware.device.contracts import DaemonOptions, FixedPlan
from firmware.device.daemon import DeviceDaemon
from simulator.loadcell import SIMULATED_CALIBRATION
from tests.device.test_daemon_plans import daemon_for, press, run_daemon
from tests.lockstep import LockstepClock

REST_AFTER_N = 2.0  # under the plan's 0.3 kgf contact threshold: still "no contact"


async def until_phase(daemon: DeviceDaemon, phase: str) -> None:
    while daemon.phase != phase:
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_second_tare_uses_the_rest_reading_after_the_first_session(lockstep_clock: LockstepClock) -> None:
    daemon, haptics, source = daemon_for(
        lockstep_clock, FixedPlan(TherapyPlan()), options=DaemonOptions(sessions=2, auto_start=True)
    )
    run = asyncio.create_task(run_daemon(daemon))
    await until_phase(daemon, "hold")
    source.idle_n = REST_AFTER_N
    source.rest()  # the person lets go; the tip now rests 2 N higher
    press(daemon)  # stop the first session
    while len(daemon.result.summaries) < 1:
        await asyncio.sleep(0.02)
    await until_phase(daemon, "hold")  # the second session was tared and is under way
    tared = daemon.unit.sampler.calibration
    press(daemon)
    await run
    assert [s.outcome for s in daemon.result.summaries] == ["stopped", "stopped"]
    counts_per_newton = SIMULATED_CALIBRATION.counts_per_newton
    assert tared.offset_counts == pytest.approx(REST_AFTER_N * counts_per_newton, abs=0.05 * counts_per_newton)
    assert haptics.level == 0.0
