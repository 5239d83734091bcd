"""The start gate comes before the pain rating; every admitted start asks it, by the button or by itself.

The real daemon in virtual time (looptime and a ``LockstepClock``, as in
``test_pain_rating``).  The refusals are the real gate's sentences: an
uncleared profile (``start_gate``), soreness not improving and reevaluate
with ``stop_on_reevaluate`` (``PersonOutcomes.refusal`` on a real outcome
store).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from config.plan import TherapyPlan
from config.profile import load_profile
from firmware.cues.patterns import PATTERNS
from firmware.device.daemon import DeviceDaemon
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.follow_up import answer
from firmware.outcomes.records import FollowUpAnswer
from firmware.outcomes.store import OutcomeStore
from firmware.plans.personal_tolerance import PersonalToleranceStore
from firmware.protocol.topics import Topics
from firmware.service.hooks import start_gate
from firmware.service.person_outcomes import PersonOutcomes
from firmware.session.states import Cue
from simulator.armed_source import ArmedSource
from simulator.haptics import RecordingHaptics
from tests.conftest import DEVICE_MAX_N, ROOT
from tests.device.test_pain_rating import PROMPT, Hooks, press, pulses, rating_daemon, until
from tests.lockstep import LockstepClock

PROFILES = ROOT / "config" / "examples" / "profiles"
ENDED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class GateHooks(Hooks):
    """Answers the gate as told, and notes the order of gate, ratings and starts."""

    def __init__(self, source: ArmedSource, refusal: str | None) -> None:
        super().__init__(source)
        self.refusal = refusal
        self.order: list[str] = []

    def gate(self, plan: TherapyPlan) -> TherapyPlan | str:
        self.order.append("gate")
        return plan if self.refusal is None else self.refusal

    def pain_rated(self, moment: str, rating: int | None) -> None:
        super().pain_rated(moment, rating)
        self.order.append(f"rated {moment}")

    def starting(self) -> None:
        super().starting()
        self.order.append("start")

    def refused(self, reason: str) -> None:
        self.order.append("refused")


def gated_daemon(
    clock: LockstepClock, refusal: str | None, **options: object
) -> tuple[DeviceDaemon, RecordingHaptics, GateHooks]:
    daemon, haptics, hooks = rating_daemon(clock)
    gate_hooks = daemon.hooks = GateHooks(hooks.source, refusal)
    for name, value in options.items():
        setattr(daemon.options, name, value)
    return daemon, haptics, gate_hooks


def uncleared_profile(state: Path) -> str:
    profile = load_profile(PROFILES / "profile-uncleared.toml", DEVICE_MAX_N)
    tolerances = PersonalToleranceStore(state)
    refused = start_gate(TherapyPlan(), profile=profile, tolerances=tolerances, device_max_n=DEVICE_MAX_N)
    assert isinstance(refused, str)
    return refused


def outcomes_refusal(state: Path, profile_text: str, pains: list[int], *, not_better: bool) -> str:
    profile_file = state / "profile.toml"
    profile_file.write_text(profile_text)
    profile = load_profile(profile_file, DEVICE_MAX_N)
    store = OutcomeStore(state)
    for n, pain in enumerate(pains):
        finished = FinishedSession(f"s{n}", ENDED + timedelta(days=n), had_hold=True, pain_before=pain)
        record = partial(record_session, person="P-017", plan_version=0, reevaluate_after=2, new_course_id="c1")
        store.change(partial(record, finished=finished))
    if not_better:
        last = f"s{len(pains) - 1}"
        at = ENDED + timedelta(days=len(pains) - 1, hours=21)
        store.change(lambda r: answer(r, last, FollowUpAnswer.NOT_BETTER, now=at, by="cli"))
    outcomes = PersonOutcomes(
        store=store,
        profile=profile,
        device_id="rate-1",
        topics=Topics("rate-1"),
        enqueue=None,
        plan_version=lambda: 0,
    )
    refused = outcomes.refusal()
    assert refused is not None
    return refused


CLEARED = (PROFILES / "profile-cleared.toml").read_text()
REFUSALS: dict[str, Callable[[Path], str]] = {
    "uncleared profile": uncleared_profile,
    "soreness not improving": lambda state: outcomes_refusal(state, CLEARED, [5], not_better=True),
    "reevaluate, stop_on_reevaluate": lambda state: outcomes_refusal(
        state,
        CLEARED.replace('name = "P-017"', 'name = "P-017"\nreevaluate_after = 2\nstop_on_reevaluate = true'),
        [5, 5],
        not_better=False,
    ),
}


@pytest.mark.asyncio
@pytest.mark.looptime
@pytest.mark.parametrize("why", sorted(REFUSALS))
@pytest.mark.parametrize("auto_start", [False, True])
async def test_a_refused_start_asks_nothing(
    lockstep_clock: LockstepClock, tmp_path: Path, why: str, auto_start: bool
) -> None:
    refusal = REFUSALS[why](tmp_path)
    daemon, haptics, hooks = gated_daemon(lockstep_clock, refusal, auto_start=auto_start)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    loop = asyncio.get_running_loop()
    since = loop.time()
    if not auto_start:
        press(daemon)
    await run  # one attempt: the refusal
    assert daemon.result.refusals == [refusal]
    assert hooks.order == ["gate", "refused"]  # no rating asked, none reported
    assert hooks.rated == [] and daemon.result.summaries == []
    assert pulses(haptics, PROMPT, since) == 0
    assert pulses(haptics, PATTERNS[Cue.REFUSED][0][0], since) >= 1


@pytest.mark.asyncio
@pytest.mark.looptime
@pytest.mark.parametrize("auto_start", [False, True])
async def test_an_admitted_start_asks_after_the_gate_and_before_the_session(
    lockstep_clock: LockstepClock, auto_start: bool
) -> None:
    daemon, _, hooks = gated_daemon(lockstep_clock, None, auto_start=auto_start)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.gestures.ratings is not None and daemon.phase == "idle")
    if not auto_start:
        press(daemon)
    ratings = daemon.gestures.ratings
    await until(lambda: ratings is not None and ratings.active)
    assert ratings is not None and ratings.moment == "before"
    assert hooks.order == ["gate"] and daemon.phase == "idle"  # asked once admitted; nothing started yet
    for _ in range(4):
        press(daemon)  # the presses are the rating's, not a start or a stop
        await asyncio.sleep(0.3)
    await until(lambda: daemon.phase == "hold")
    assert hooks.order == ["gate", "rated before", "start"]
    assert [(m, r) for m, r, _ in hooks.rated] == [("before", 4)]
    stop = daemon.gestures.running
    daemon.button_down()  # the stop, on the way down
    assert stop is not None and stop.requested
    daemon.button_up(0.1)
    await run  # nobody rates after: skipped after 10 s
    assert [(m, r) for m, r, _ in hooks.rated] == [("before", 4), ("after", None)]
    [summary] = daemon.result.summaries
    assert summary.stop_source == "button"


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_an_auto_start_nobody_rates_is_skipped_and_a_shutdown_while_asking_starts_nothing(
    lockstep_clock: LockstepClock,
) -> None:
    daemon, _, hooks = gated_daemon(lockstep_clock, None, auto_start=True, sessions=2)
    lockstep_clock.start()
    run = asyncio.create_task(daemon.run())
    await until(lambda: daemon.phase == "hold")  # nobody answered: skipped after 10 s, then the session
    assert [(m, r) for m, r, _ in hooks.rated] == [("before", None)]
    assert hooks.rated[0][2] >= 10.0
    daemon.button_down()
    daemon.button_up(0.1)
    ratings = daemon.gestures.ratings
    assert ratings is not None
    await until(lambda: ratings.moment == "after")
    press(daemon, held_s=5.0)  # the skip gesture
    await until(lambda: ratings.moment == "before")  # the second auto-start: admitted, asking
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    daemon.request_shutdown("SIGTERM")
    await run
    assert [(m, r) for m, r, _ in hooks.rated][-1] == ("before", None)
    assert hooks.rated[-1][2] - asked_at < 0.3  # at the next tick, not after the 10 s
    assert len(daemon.result.summaries) == 1 and hooks.order.count("start") == 1
