"""The session core, outcome by outcome and cue by cue, at exact sample times."""

from __future__ import annotations

import math

import pytest

from config.plan import TherapyPlan
from firmware.session.controller import SessionController
from firmware.session.decisions import AbortDecision, HoldEnded, HoldStarted, PhaseChange, SessionEnded
from firmware.session.states import AbortReason, Cue, HoldOutcome, Outcome, Phase
from tests.conftest import DEVICE_MAX_N
from tests.helpers import RATE, cues, press_profile, run_forces, run_samples


def test_completed_session_with_exact_hold_times(plan: TherapyPlan) -> None:
    controller, decisions = run_forces(plan, press_profile(plan))
    assert controller.outcome is Outcome.COMPLETED
    assert [h.outcome for h in controller.holds] == [HoldOutcome.COMPLETED] * 3
    first = controller.holds[0]
    assert first.started_at == 1.0
    assert first.ended_at == 61.0
    # The last hold's release ends the session: force drops at 1 + 62 s into the cycle.
    cycle = 1.0 + 60 + 2 + 20 + 3
    assert controller.ended_at == pytest.approx(2 * cycle + 63.0)
    assert isinstance(decisions[-1], SessionEnded)
    assert decisions[-1].outcome is Outcome.COMPLETED
    assert cues(decisions, Cue.DONE)[-1].t == controller.ended_at


def test_hold_starts_at_first_sample_inside_the_band(plan: TherapyPlan) -> None:
    # Linear ramp from 0 N at t=1 s to the target at t=3 s.
    def ramp(t: float) -> float:
        return 0.0 if t < 1 else min(plan.target, plan.target * (t - 1) / 2)

    controller, decisions = run_forces(plan, ramp)
    expected = next(n / RATE for n in range(10_000) if ramp(n / RATE) >= plan.band_low_n)
    started = [d for d in decisions if isinstance(d, HoldStarted)]
    assert started[0].t == expected
    contact = next(n / RATE for n in range(10_000) if ramp(n / RATE) >= plan.contact_threshold)
    phases = [(d.t, d.phase) for d in decisions if isinstance(d, PhaseChange)]
    assert (contact, Phase.RAMP) in phases
    assert controller.holds[0].ended_at == pytest.approx(expected + 60.0)


@pytest.mark.parametrize(("hold_s", "bpm", "expected"), [(60, 6, 6), (30, 12, 6), (45, 5, 4), (90, 3, 5), (61, 6, 7)])
def test_breath_cues_at_start_and_every_period(hold_s: float, bpm: float, expected: int) -> None:
    plan = TherapyPlan(hold_s=hold_s, breaths_per_min=bpm, repetitions=1)
    controller, decisions = run_forces(plan, press_profile(plan))
    breaths = cues(decisions, Cue.BREATH)
    assert len(breaths) == expected == controller.holds[0].breath_cues
    start = controller.holds[0].started_at
    assert [b.t for b in breaths] == pytest.approx([start + i * 60 / bpm for i in range(expected)])


def test_released_early_after_grace_then_next_repetition(plan: TherapyPlan) -> None:
    # Press at 1 s, let go at 21 s (20 s into hold 1), press again later.
    def force(t: float) -> float:
        if 1 <= t < 21:
            return plan.target
        if 50 <= t < 113:
            return plan.target
        if 140 <= t < 203:
            return plan.target
        return 0.0

    controller, decisions = run_forces(plan, force)
    first = controller.holds[0]
    assert first.outcome is HoldOutcome.RELEASED_EARLY
    # Below contact from 21.0; "longer than 2 s" → first sample after 23.0.
    assert first.ended_at == pytest.approx(23.0 + 1 / RATE)
    rests = [d.t for d in decisions if isinstance(d, PhaseChange) and d.phase is Phase.REST]
    assert rests[0] == first.ended_at
    assert [h.outcome for h in controller.holds] == [
        HoldOutcome.RELEASED_EARLY,
        HoldOutcome.COMPLETED,
        HoldOutcome.COMPLETED,
    ]
    assert controller.outcome is Outcome.COMPLETED


def test_short_lift_within_grace_keeps_the_hold(plan: TherapyPlan) -> None:
    def force(t: float) -> float:
        if 10 <= t < 11.9:  # 1.9 s below contact, grace is 2 s
            return 0.0
        return plan.target if 1 <= t < 63 else 0.0

    one = plan.model_copy(update={"repetitions": 1})
    controller, _ = run_forces(one, force)
    assert controller.holds[0].outcome is HoldOutcome.COMPLETED


def test_over_tolerance_aborts_after_debounce_exactly(plan: TherapyPlan) -> None:
    over = plan.tolerance + 1
    forces = [plan.target] * 100 + [over] * 10
    controller, decisions = run_samples(plan, forces)
    assert controller.outcome is Outcome.ABORTED
    abort = controller.abort
    assert abort is not None and abort.reason is AbortReason.OVER_TOLERANCE
    # First over sample at 100/80 s; 25 ms later is sample 102.
    assert abort.t == 102 / RATE
    assert abort.force_n == over
    assert controller.holds[0].outcome is HoldOutcome.ABORTED
    assert cues(decisions, Cue.ABORT)[0].t == abort.t


@pytest.mark.parametrize("spike_samples", [1, 2])
def test_spike_shorter_than_debounce_does_not_abort(plan: TherapyPlan, spike_samples: int) -> None:
    forces = [plan.target] * 100 + [plan.tolerance + 5] * spike_samples + [plan.target] * 100
    controller, _ = run_samples(plan, forces)
    assert controller.outcome is None


def test_force_equal_to_tolerance_is_not_over(plan: TherapyPlan) -> None:
    controller, _ = run_samples(plan, [plan.tolerance] * 200)
    assert controller.outcome is None


def test_zero_debounce_aborts_on_first_sample() -> None:
    plan = TherapyPlan(abort_debounce_ms=0)
    controller, _ = run_samples(plan, [0.0] * 5 + [plan.tolerance + 0.01])
    assert controller.abort is not None and controller.abort.t == 5 / RATE


def test_debounce_at_10_hz() -> None:
    plan = TherapyPlan()
    controller, _ = run_samples(plan, [0.0, plan.tolerance + 1, plan.tolerance + 1], rate=10)
    assert controller.abort is not None and controller.abort.t == pytest.approx(0.2)


def test_single_sample_over_device_max_aborts_at_once(plan: TherapyPlan) -> None:
    controller, _ = run_samples(plan, [plan.target] * 50 + [DEVICE_MAX_N + 0.1])
    abort = controller.abort
    assert abort is not None and abort.reason is AbortReason.OVER_DEVICE_MAX and abort.t == 50 / RATE


@pytest.mark.parametrize("phase_at", [0.5, 2.0, 40.0, 63.5, 70.0])
def test_over_tolerance_aborts_in_every_phase(plan: TherapyPlan, phase_at: float) -> None:
    base = press_profile(plan)

    def force(t: float) -> float:
        return plan.tolerance + 2 if phase_at <= t < phase_at + 0.1 else base(t)

    controller, _ = run_forces(plan, force)
    assert controller.abort is not None
    assert controller.abort.reason is AbortReason.OVER_TOLERANCE
    assert controller.abort.t == pytest.approx(phase_at + 0.025)


def test_gap_longer_than_three_periods_is_a_sensor_fault(plan: TherapyPlan) -> None:
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    controller.on_sample(0.0, 0.0)
    assert not controller.on_gap(3 / RATE)  # exactly three periods: still fine
    decisions = controller.on_gap(4 / RATE)
    abort = next(d for d in decisions if isinstance(d, AbortDecision))
    assert abort.reason is AbortReason.SENSOR_FAULT and abort.t == 4 / RATE
    assert controller.outcome is Outcome.ABORTED


def test_late_sample_after_long_gap_is_a_sensor_fault(plan: TherapyPlan) -> None:
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    controller.on_sample(0.0, 0.0)
    controller.on_sample(5 / RATE, 0.0)
    assert controller.abort is not None and controller.abort.reason is AbortReason.SENSOR_FAULT


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -30.0])
def test_implausible_reading_is_a_sensor_fault(plan: TherapyPlan, value: float) -> None:
    controller, _ = run_samples(plan, [1.0, 1.0, value])
    assert controller.abort is not None and controller.abort.reason is AbortReason.SENSOR_FAULT
    assert controller.abort.force_n == 1.0  # the last good reading


def test_reported_sensor_fault_aborts(plan: TherapyPlan) -> None:
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    controller.on_sample(0.0, 0.0)
    controller.on_sensor_fault(0.5, "saturated reading 0x7fffff")
    assert controller.abort is not None and controller.abort.detail == "saturated reading 0x7fffff"


def test_no_contact_times_out(plan: TherapyPlan) -> None:
    controller, decisions = run_forces(plan, lambda t: 0.5)
    assert controller.outcome is Outcome.TIMED_OUT
    assert controller.ended_at == 30.0
    assert not cues(decisions, Cue.DONE)


def test_contact_just_in_time_does_not_time_out(plan: TherapyPlan) -> None:
    one = plan.model_copy(update={"repetitions": 1})
    controller, _ = run_forces(one, lambda t: one.target if 29.9875 <= t < 92 else 0.0)
    assert controller.outcome is Outcome.COMPLETED


def test_waiting_for_contact_after_rest_also_times_out(plan: TherapyPlan) -> None:
    controller, _ = run_forces(plan, lambda t: plan.target if 1 <= t < 63 else 0.0)
    assert controller.outcome is Outcome.TIMED_OUT
    assert len(controller.holds) == 1
    # Released at 63, rest 20 s → waiting from 83 s, timed out 30 s later.
    assert controller.ended_at == pytest.approx(113.0)


def test_never_releasing_after_the_last_hold_times_out() -> None:
    plan = TherapyPlan(repetitions=1)
    controller, _ = run_forces(plan, lambda t: plan.target if t >= 1 else 0.0)
    assert controller.outcome is Outcome.TIMED_OUT
    assert controller.holds[0].outcome is HoldOutcome.COMPLETED


@pytest.mark.parametrize(
    ("stop_at", "phase"), [(0.5, "waiting_contact"), (30.0, "hold"), (62.5, "release"), (70, "rest")]
)
def test_stop_ends_the_session_in_every_phase(plan: TherapyPlan, stop_at: float, phase: str) -> None:
    profile = press_profile(plan, hold_extra=2.0)
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    n = 0
    while n / RATE < stop_at:
        controller.on_sample(n / RATE, profile(n / RATE))
        n += 1
    assert controller.phase == phase
    decisions = controller.on_stop(n / RATE, "button")
    assert controller.outcome is Outcome.STOPPED
    assert isinstance(decisions[-1], SessionEnded)
    assert controller.on_sample((n + 1) / RATE, 100.0) == ()  # nothing after the end
    if phase == "hold":
        assert controller.holds[-1].outcome is HoldOutcome.STOPPED


def test_stop_during_ramp() -> None:
    plan = TherapyPlan()
    controller, _ = run_samples(plan, [0.0, 5.0, 10.0])
    assert controller.phase is Phase.RAMP
    controller.on_stop(0.05)
    assert controller.outcome is Outcome.STOPPED


def test_band_cues_during_hold(plan: TherapyPlan) -> None:
    light = plan.band_low_n - 1
    hard = plan.band_high_n + 1

    def force(t: float) -> float:
        if 10 <= t < 12:
            return light
        if 20 <= t < 21:
            return hard
        return plan.target if 1 <= t < 63 else 0.0

    one = plan.model_copy(update={"repetitions": 1})
    controller, decisions = run_forces(one, force)
    too_light = cues(decisions, Cue.TOO_LIGHT)
    assert [c.t for c in too_light] == [pytest.approx(11.0 + 1 / RATE)]  # below band "> 1 s"
    assert [c.t for c in cues(decisions, Cue.TOO_HARD)] == [20.0]
    assert [c.t for c in cues(decisions, Cue.ENTERED_BAND)] == [1.0, 12.0, 21.0]
    hold = controller.holds[0]
    assert hold.in_band_fraction == pytest.approx((60 - 3) / 60, abs=1 / 4800)
    assert hold.peak_force_n == hard
    assert cues(decisions, Cue.RELEASE)[0].t == 61.0


def test_brief_dip_below_band_gives_no_too_light_cue(plan: TherapyPlan) -> None:
    one = plan.model_copy(update={"repetitions": 1})

    def force(t: float) -> float:
        if 10 <= t < 11:  # exactly 1 s: not "more than 1 s"
            return plan.band_low_n - 1
        return plan.target if 1 <= t < 63 else 0.0

    _, decisions = run_forces(one, force)
    assert not cues(decisions, Cue.TOO_LIGHT)


def test_hold_mean_and_peak(plan: TherapyPlan) -> None:
    one = plan.model_copy(update={"repetitions": 1})
    controller, _ = run_forces(one, lambda t: (plan.target + (1.0 if int(t) % 2 else -1.0)) if 1 <= t < 63 else 0.0)
    hold = controller.holds[0]
    assert hold.mean_force_n == pytest.approx(plan.target, abs=0.02)
    assert hold.peak_force_n == plan.target + 1.0


def test_interrupt_closes_an_open_hold(plan: TherapyPlan) -> None:
    controller, _ = run_samples(plan, [plan.target] * 400)
    controller.interrupt(5.0)
    assert controller.outcome is Outcome.INTERRUPTED
    assert controller.holds[0].outcome is HoldOutcome.INTERRUPTED


def test_hold_ended_decisions_carry_outcomes(plan: TherapyPlan) -> None:
    _, decisions = run_forces(plan, press_profile(plan))
    ended = [d for d in decisions if isinstance(d, HoldEnded)]
    assert [(d.index, d.outcome) for d in ended] == [(i, HoldOutcome.COMPLETED) for i in (1, 2, 3)]


def test_plan_beyond_device_range_is_refused() -> None:
    with pytest.raises(ValueError, match="safe range"):
        SessionController(TherapyPlan(), sample_rate_hz=80, device_max_n=40.0)
