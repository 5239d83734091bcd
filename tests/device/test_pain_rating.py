"""Pain ratings through the device daemon: the prompt, the presses, the count-back, the answer; never a delayed stop.

In-process in virtual time (looptime and a ``LockstepClock``, as in
``test_daemon_plans``): the button is pressed on its real path
(``button_down``/``button_up``) and each answer reaches the daemon's hooks as
it would reach the service over the link.
"""

from __future__ import annotations

import asyncio

import pytest

from config.plan import TherapyPlan
from firmware.cues.patterns import PATTERNS
from firmware.device.contracts import DaemonHooks, DaemonOptions, FixedPlan
from firmware.device.daemon import DeviceDaemon
from firmware.device.rating import SKIP_HOLD_S
from firmware.device.sdnotify import Notifier
from firmware.realtime.sampler import Sampler
from firmware.session.states import Cue
from simulator.armed_source import ArmedSource
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv
from tests.conftest import DEVICE_MAX_N
from tests.lockstep import LockstepClock

ONE = PATTERNS[Cue.COUNT_ONE][0][0]
PROMPT = PATTERNS[Cue.RATE_PAIN][-2][0]


class Hooks(DaemonHooks):
    def __init__(self, source: ArmedSource) -> None:
        self.source = source
        self.rated: list[tuple[str, int | None, float]] = []

    def starting(self) -> None:
        self.source.arm()

    def pain_rated(self, moment: str, rating: int | None) -> None:
        self.rated.append((moment, rating, asyncio.get_running_loop().time()))


def rating_daemon(clock: LockstepClock, *, rate_pain: bool = True) -> tuple[DeviceDaemon, RecordingHaptics, Hooks]:
    source = ArmedSource(parse_trace_csv("time_s,force_n\n0,0\n0.2,29.4\n", "press"))
    haptics = RecordingHaptics(clock)
    hooks = Hooks(source)
    daemon = DeviceDaemon(
        plans=FixedPlan(TherapyPlan()),
        sampler=Sampler(SimulatedLoadCell(source, clock, sample_rate_hz=80), SIMULATED_CALIBRATION, clock),
        haptics=haptics,
        device_id="rate-1",
        device_max_n=DEVICE_MAX_N,
        notifier=Notifier(None),
        options=DaemonOptions(sessions=1, rate_pain=rate_pain),
        hooks=hooks,
    )
    return daemon, haptics, hooks


def press(daemon: DeviceDaemon, held_s: float = 0.1) -> None:
    daemon.button_down()
    daemon.button_up(held_s)


async def until(condition, step: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    while not condition():
        await asyncio.sleep(step)


def pulses(haptics: RecordingHaptics, level: float, since: float) -> int:
    return sum(1 for t, value in haptics.changes if value == level and t >= since)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_rating_before_and_after_with_count_back_and_an_immediate_stop(lockstep_clock: LockstepClock) -> None:
    daemon, haptics, hooks = rating_daemon(lockstep_clock)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    loop = asyncio.get_running_loop()
    asked = loop.time()
    press(daemon)  # the gate admits, then the device asks for the rating first: no session yet
    await until(lambda: daemon.gestures.ratings is not None and daemon.gestures.ratings.active)
    assert daemon.gestures.ratings is not None and daemon.gestures.ratings.moment == "before"
    await asyncio.sleep(0.5)
    assert pulses(haptics, PROMPT, asked) == 1 and daemon.phase == "idle"
    for _ in range(6):
        press(daemon)  # each short press adds one (and starts nothing)
        await asyncio.sleep(0.3)
    last_press = loop.time()
    await until(lambda: daemon.phase == "hold")
    [(moment, rating, at)] = hooks.rated
    assert (moment, rating) == ("before", 6)
    assert at >= last_press + 2.5 + 6 * 0.4 + 4.0 - 0.3  # pause, count-back, quiet: then accepted
    assert pulses(haptics, ONE, last_press) == 6  # felt back: six short pulses
    stop = daemon.gestures.running
    daemon.button_down()  # during the session the button stops it, on the way down: no rating in the way
    assert stop is not None and stop.requested
    daemon.button_up(0.1)  # the release of the stopping press belongs to the stop
    await until(lambda: daemon.gestures.ratings is not None and daemon.gestures.ratings.moment == "after")
    [summary] = daemon.result.summaries
    assert summary.outcome == "stopped" and summary.stop_source == "button"
    press(daemon)
    await asyncio.sleep(0.3)
    press(daemon)
    await run
    assert [(m, r) for m, r, _ in hooks.rated] == [("before", 6), ("after", 2)]
    assert haptics.level == 0.0


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_skip_gesture_and_no_answer_skip_and_the_session_still_starts(lockstep_clock: LockstepClock) -> None:
    daemon, _, hooks = rating_daemon(lockstep_clock)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    press(daemon)
    await asyncio.sleep(1.0)
    press(daemon, held_s=SKIP_HOLD_S)  # the skip gesture: a 5 s hold
    await until(lambda: daemon.phase == "hold")
    daemon.button_down()
    daemon.button_up(0.1)
    await run  # after the session nobody answers: skipped after 10 s, then the daemon is done
    assert [(m, r) for m, r, _ in hooks.rated] == [("before", None), ("after", None)]
    assert hooks.rated[1][2] - daemon.result.summaries[0].duration_s >= 10.0 - 1e-6


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_without_rate_pain_a_press_starts_at_once(lockstep_clock: LockstepClock) -> None:
    daemon, _, hooks = rating_daemon(lockstep_clock, rate_pain=False)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    press(daemon)
    await until(lambda: daemon.phase == "hold")
    press(daemon)
    await run
    assert hooks.rated == []


class FollowUpHooks(Hooks):
    def __init__(self, source: ArmedSource) -> None:
        super().__init__(source)
        self.answers: list[tuple[str, str]] = []

    def follow_up_answered(self, session_id: str, answer: str) -> None:
        self.answers.append((session_id, answer))


def follow_up_daemon(clock: LockstepClock) -> tuple[DeviceDaemon, RecordingHaptics, FollowUpHooks]:
    daemon, haptics, hooks = rating_daemon(clock, rate_pain=False)
    daemon.hooks = FollowUpHooks(hooks.source)
    return daemon, haptics, daemon.hooks  # type: ignore[return-value]


@pytest.mark.asyncio
@pytest.mark.looptime
@pytest.mark.parametrize(("press_at", "asked"), [(19.9, False), (20.0, True), (48.0, True), (48.1, False)])
async def test_the_first_press_inside_the_window_asks_the_follow_up(
    lockstep_clock: LockstepClock, press_at: float, asked: bool
) -> None:
    """Window edges in the daemon's own time: here one "hour" is one second of loop time."""
    daemon, haptics, hooks = follow_up_daemon(lockstep_clock)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    loop = asyncio.get_running_loop()
    daemon.follow_up_due("s1", 20.0 - 1.0, 48.0 - 1.0)  # the session ended an "hour" ago
    told = loop.time()
    await asyncio.sleep(press_at - 1.0)
    assert loop.time() == told + press_at - 1.0
    press(daemon)
    assert daemon.gestures.ratings is not None
    if asked:
        assert daemon.gestures.ratings.moment == "follow_up" and not daemon._start_requested.is_set()
        await asyncio.sleep(2.0)
        assert pulses(haptics, PATTERNS[Cue.FOLLOW_UP][0][0], told) == 3  # three slow soft nudges
        press(daemon)  # one press: better
        await until(lambda: hooks.answers != [])
        assert hooks.answers == [("s1", "better")] and daemon.phase == "idle"  # the press started nothing
        press(daemon)  # asked once: now a press starts the session
    await until(lambda: daemon.phase == "hold")
    press(daemon)
    await run
    assert len(daemon.result.summaries) == 1
    assert hooks.answers == ([("s1", "better")] if asked else [])


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_two_presses_answer_not_better_and_a_long_hold_skips(lockstep_clock: LockstepClock) -> None:
    daemon, _, hooks = follow_up_daemon(lockstep_clock)
    daemon.options.sessions = None
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    daemon.follow_up_due("s1", 0.0, 100.0)
    press(daemon)
    press(daemon)
    press(daemon)  # the question, then two presses
    await until(lambda: len(hooks.answers) == 1)
    daemon.follow_up_due("s2", 0.0, 100.0)  # the service names the next one
    press(daemon)
    press(daemon, held_s=SKIP_HOLD_S)
    await until(lambda: len(hooks.answers) == 2)
    daemon.request_shutdown("test")
    await run
    assert hooks.answers == [("s1", "not_better"), ("s2", "skipped")]
    assert daemon.result.summaries == []
