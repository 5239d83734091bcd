"""The daemon with the therapist's pieces: plan updates between sessions, profile refusals.

In-process in virtual time: the loop runs under looptime and the sampling
thread sleeps on a ``LockstepClock`` (``tests/lockstep.py``), so a busy machine
changes nothing; sessions are stopped by a button press.  The ``presspoint run``
tests are real processes: at 10 samples/s, so that their gap rule (three
periods) leaves room for a loaded machine, and with bounds only a hang exceeds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from config.plan import TherapyPlan
from config.profile import PptProtocol, check_start, validate_profile
from firmware.cues.patterns import PATTERNS
from firmware.device.contracts import DaemonHooks, DaemonOptions, FixedPlan
from firmware.device.daemon import DeviceDaemon
from firmware.device.sdnotify import Notifier
from firmware.plans.service import PlanUpdateService
from firmware.plans.updater import PlanUpdater, UpdateResult, UpdateStatus
from firmware.protocol.plan_envelope import DeviceKey, sign_plan
from firmware.protocol.topics import Topics
from firmware.realtime.sampler import Sampler
from firmware.session.states import Cue
from simulator.armed_source import ArmedSource
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.cli_fork import presspoint
from tests.conftest import DEVICE_MAX_N, HANG_S, SPEED_LAG
from tests.lockstep import LockstepClock

KEY = DeviceKey(bytes(range(32)))
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")


class Hooks(DaemonHooks):
    """The simulated person starts pressing as the session starts; gate and gesture as given."""

    def __init__(
        self,
        source: ArmedSource,
        gate: Callable[[TherapyPlan], TherapyPlan | str] | None = None,
        on_hold: Callable[[], Cue] | None = None,
    ) -> None:
        self.source = source
        self._gate = gate
        self._on_hold = on_hold

    def gate(self, plan: TherapyPlan) -> TherapyPlan | str:
        return plan if self._gate is None else self._gate(plan)

    def starting(self) -> None:
        self.source.arm()

    def takes_hold_gesture(self) -> bool:
        return self._on_hold is not None

    async def hold_gesture(self) -> Cue | None:
        return None if self._on_hold is None else self._on_hold()


def daemon_for(  # type: ignore[no-untyped-def]
    clock: LockstepClock, plans: object, gate=None, *, on_hold=None, options: DaemonOptions | None = None
) -> tuple[DeviceDaemon, RecordingHaptics, ArmedSource]:
    source = ArmedSource(parse_trace_csv("time_s,force_n\n0,0\n0.2,29.4\n", "press"))
    sensor = SimulatedLoadCell(source, clock, sample_rate_hz=80)
    haptics = RecordingHaptics(clock)
    daemon = DeviceDaemon(
        plans=plans,  # type: ignore[arg-type]
        sampler=Sampler(sensor, SIMULATED_CALIBRATION, clock),
        haptics=haptics,
        device_id="dev1",
        device_max_n=DEVICE_MAX_N,
        notifier=Notifier(None),
        options=options or DaemonOptions(sessions=1, auto_start=True),
        hooks=Hooks(source, gate, on_hold),
    )
    return daemon, haptics, source


async def run_daemon(daemon: DeviceDaemon) -> None:
    """``daemon.run()`` with its lockstep clock started."""
    clock = daemon.unit.sampler.clock
    assert isinstance(clock, LockstepClock)
    clock.start()
    await daemon.run()


def in_a_thread(work: Callable[[], object]) -> object:
    """Run ``work`` on a thread of its own (as the MQTT thread would) and wait for it, holding the loop.

    The loop is blocked meanwhile, so its virtual time stands still (``asyncio.to_thread``
    would let looptime move it while the thread runs).
    """
    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(work()))
    thread.start()
    thread.join(60)
    assert box, "the thread did not finish within 60 s"
    return box[0]


def press(daemon: DeviceDaemon) -> None:
    """A short press on the real button path: down, then up a tenth of a second later."""
    daemon.button_down()
    daemon.button_up(0.1)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_plan_pushed_during_a_session_applies_only_after_it(
    tmp_path: Path, lockstep_clock: LockstepClock
) -> None:
    updater = PlanUpdater(
        device_id="dev1", device_max_n=DEVICE_MAX_N, key=KEY, state_dir=tmp_path, local_plan=TherapyPlan()
    )
    service = PlanUpdateService(updater, Topics("dev1"))
    daemon, haptics, _ = daemon_for(lockstep_clock, service)
    loop = asyncio.get_running_loop()
    run = asyncio.create_task(run_daemon(daemon))
    while daemon.phase != "hold":
        await asyncio.sleep(0.02)
    payload = sign_plan(GENTLE, device_id="dev1", version=2, key=KEY).to_json()
    result = in_a_thread(lambda: service.receive(payload))
    assert isinstance(result, UpdateResult)
    status, version, target = result.status, updater.version, updater.plan.target
    loop.call_later(0.2, press, daemon)  # stop the session
    await run
    assert status is UpdateStatus.QUEUED
    assert (version, target) == (0, TherapyPlan().target)  # unchanged while the session ran
    [summary] = daemon.result.summaries
    assert summary.outcome == "stopped"
    assert summary.plan.target_n == TherapyPlan().target  # the session kept its plan
    assert updater.version == 2 and updater.plan.target == GENTLE.target  # applied after it
    assert haptics.level == 0.0


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_uncleared_contraindication_refuses_with_the_refused_cue(lockstep_clock: LockstepClock) -> None:
    profile = validate_profile(
        {
            "name": "P-1",
            "screened_on": "2026-11-01",
            "contraindications": {"osteoporosis": {"cleared_by_clinician": False}},
        }
    )

    def gate(plan: TherapyPlan) -> TherapyPlan | str:
        decision = check_start(profile, plan, DEVICE_MAX_N)
        return decision.plan if decision.plan is not None else decision.describe()

    daemon, haptics, _ = daemon_for(lockstep_clock, FixedPlan(TherapyPlan()), gate)
    await run_daemon(daemon)
    assert daemon.result.summaries == []
    [reason] = daemon.result.refusals
    assert "osteoporosis" in reason.lower() and "not cleared" in reason
    levels = [level for _, level in haptics.changes]
    expected = [level for level, _ in PATTERNS[Cue.REFUSED]]
    assert levels == expected  # the refused pattern, exactly, ending off
    assert haptics.level == 0.0


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_personal_tolerance_is_the_one_the_session_uses(lockstep_clock: LockstepClock) -> None:
    profile = validate_profile({"name": "P-2", "screened_on": "2026-11-01", "personal_tolerance": "3.6 kgf"})

    def gate(plan: TherapyPlan) -> TherapyPlan | str:
        decision = check_start(profile, plan, DEVICE_MAX_N)
        return decision.plan if decision.plan is not None else decision.describe()

    daemon, _, _ = daemon_for(lockstep_clock, FixedPlan(TherapyPlan()), gate)
    run = asyncio.create_task(run_daemon(daemon))
    while daemon.phase != "hold":
        await asyncio.sleep(0.02)
    press(daemon)
    await run
    [summary] = daemon.result.summaries
    assert summary.plan.tolerance_n == profile.personal_tolerance
    assert summary.plan.therapist_max_n == TherapyPlan().therapist_max


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_tip_pressed_at_start_is_refused_not_tared(lockstep_clock: LockstepClock) -> None:
    daemon, _, source = daemon_for(lockstep_clock, FixedPlan(TherapyPlan()))
    source.idle_n = 10.0  # someone is pressing before the session starts
    await run_daemon(daemon)
    assert daemon.result.summaries == []
    assert daemon.result.refusals and "release it" in daemon.result.refusals[0]


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_button_semantics_down_stops_short_starts_long_is_the_gesture(lockstep_clock: LockstepClock) -> None:
    gestures: list[str] = []

    def on_hold() -> Cue:
        gestures.append("hold")
        return Cue.ENTERED_BAND

    daemon, haptics, _ = daemon_for(
        lockstep_clock, FixedPlan(TherapyPlan()), on_hold=on_hold, options=DaemonOptions(sessions=1, auto_start=False)
    )
    run = asyncio.create_task(run_daemon(daemon))
    while daemon.phase != "idle":
        await asyncio.sleep(0.02)
    daemon.button_down()
    daemon.button_up(2.5)  # a long hold while idle: the gesture, not a session
    await asyncio.sleep(0)  # its answer runs as a task (in the real-time process it takes a message)
    assert gestures == ["hold"] and daemon.phase == "idle"
    assert not daemon._start_requested.is_set()
    daemon.button_down()
    daemon.button_up(0.1)  # a short press: start
    while daemon.phase != "hold":
        await asyncio.sleep(0.02)
    daemon.button_down()  # stops at once, before the release
    await run
    daemon.button_up(0.1)  # the release of the stopping press starts nothing
    [summary] = daemon.result.summaries
    assert summary.outcome == "stopped" and summary.stop_source == "button"
    assert haptics.level == 0.0


def test_pain_threshold_measurement_through_the_daemon(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import json
    import subprocess

    from tests.conftest import PRESSPOINT

    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "ppt-1"\nsample_rate_hz = 10\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    result = subprocess.run(
        [PRESSPOINT, "run", "--simulate", "--config", str(config), "--mode", "ppt", "--speed", "20", *SPEED_LAG,
         "--json"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["schema"] == "presspoint.ppt/2" and measured["spot"] == "plan"
    # The default 'ppt' person: three ~50 kPa/s ramps marked at 72, 78 and 75 % of the 4 kgf tolerance.
    shares = [trial["threshold_n"] / 39.2266 for trial in measured["trials"]]
    assert all(abs(share - mark) < 0.03 for share, mark in zip(shares, (0.72, 0.78, 0.75), strict=True)), shares
    assert all(not trial["off_rate"] for trial in measured["trials"]) and measured["used_trials"] == [1, 2, 3]
    assert measured["suggested"]["tolerance_n"] < measured["mean_n"]
    # Stored for publishing, retained, on <prefix>/<device>/ppt.
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "presspoint.sqlite3") as db:
        topics = [row[0] for row in db.execute("SELECT topic FROM outbox")]
    assert "presspoint/ppt-1/ppt" in topics


def test_run_with_an_uncleared_profile_refuses_and_says_why(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import json
    import sqlite3

    from tests.conftest import ROOT

    profile = ROOT / "config" / "examples" / "profiles" / "profile-uncleared.toml"
    config = tmp_path / "device.toml"
    config.write_text(
        f'device_id = "ref-1"\nprofile_file = "{profile}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    result = presspoint("run", "--simulate", "--config", str(config), "--json", env=cli_env, timeout=HANG_S)
    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert "not cleared by a clinician" in result.stderr
    with sqlite3.connect(tmp_path / "state" / "presspoint.sqlite3") as db:
        rows = db.execute("SELECT topic, payload FROM outbox WHERE topic = 'presspoint/ref-1/event'").fetchall()
    [(_, payload)] = rows
    event = json.loads(payload)
    assert event["type"] == "session_refused"
    assert "osteoporosis" in event["reason"].lower()


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_threshold_trial_plays_each_cue_the_trial_decides_once(lockstep_clock: LockstepClock) -> None:
    """A recorded threshold is answered by the done pattern, once (it used to be queued twice)."""
    clock = lockstep_clock
    ramp = parse_trace_csv("time_s,force_n\n0,0\n0.2,0\n3.2,20\n", "slow ramp, ~0.7 kgf/s")
    source = ArmedSource(ramp)
    haptics = RecordingHaptics(clock)
    daemon = DeviceDaemon(
        plans=FixedPlan(TherapyPlan()),
        sampler=Sampler(SimulatedLoadCell(source, clock, sample_rate_hz=80), SIMULATED_CALIBRATION, clock),
        haptics=haptics,
        device_id="dev1",
        device_max_n=DEVICE_MAX_N,
        notifier=Notifier(None),
        # One trial at a target the ~67 kPa/s ramp is within 30 % of: no rate cue.
        options=DaemonOptions(
            sessions=1, auto_start=True, mode="ppt", ppt_protocol=PptProtocol(trials=1, rate_kpa_s=60.0)
        ),
        hooks=Hooks(source),
    )

    run = asyncio.create_task(run_daemon(daemon))
    while daemon.phase != "ppt":
        await asyncio.sleep(0.02)
    asyncio.get_running_loop().call_later(2.0, daemon.button_down)  # first discomfort
    await run
    [result] = daemon.result.trials
    [spot] = result.spots
    assert result.outcome == "completed" and spot.results[0].threshold_n is not None
    levels = [level for _, level in haptics.changes]
    done = [level for level, _ in PATTERNS[Cue.DONE]]
    assert levels == done, levels  # no too-fast cue on a slow ramp, and the done pattern exactly once
    assert haptics.level == 0.0
