"""Check-ins: each rule of ``less`` and ``more``, the floor, refusals, the band that follows, check-in cues."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from config.units import kgf
from firmware.session.decisions import Adjusted, AdjustRefused
from firmware.session.states import Gesture, Outcome
from firmware.session.summary import build_summary
from tests.body.helpers import RATE, body_plan, cue_names, drive, of_type

LESS, MORE = Gesture.LESS, Gesture.MORE
HOLD_AT = int(5 * RATE)  # sample 400: 4 s into the hold that starts at 1 s


def pressing(t: float) -> float:
    return kgf(3.0) if 1 <= t < 32 else 0.0


def adjusted(decisions: list) -> list[float]:
    return [d.target_n for d in decisions if isinstance(d, Adjusted)]


def test_less_lowers_the_target_by_the_step_from_the_next_sample() -> None:
    plan = body_plan(adjust_step=0.2)
    controller, decisions = drive(plan, pressing, gestures={HOLD_AT: LESS})
    applied = of_type(decisions, "adjustment")
    assert len(applied) == 1 and applied[0].t == HOLD_AT / RATE
    assert adjusted(decisions) == [pytest.approx(kgf(3.0) * 0.8)]
    hold = controller.holds[0]
    assert [(a.at_s, a.kind) for a in hold.adjustments] == [(HOLD_AT / RATE, LESS)]
    # 3 kgf is above the new band's top (2.4 kgf × 1.15): too hard on that very sample.
    too_hard = [d.t for d in decisions if d.type == "cue" and d.cue == "too_hard"]
    assert too_hard == [HOLD_AT / RATE]
    assert hold.ended_at == pytest.approx(hold.started_at + 30.0)  # the hold timer ran on
    assert controller.outcome is Outcome.COMPLETED


def test_less_stops_at_half_the_planned_target_then_is_refused() -> None:
    plan = body_plan(adjust_step=0.25)
    gestures = {HOLD_AT + i: LESS for i in range(4)}
    _, decisions = drive(plan, pressing, gestures=gestures)
    planned = kgf(3.0)
    assert adjusted(decisions) == [pytest.approx(planned * 0.75), pytest.approx(planned * 0.5625), planned * 0.5]
    refused = [d for d in decisions if isinstance(d, AdjustRefused)]
    assert [(r.kind, r.target_n) for r in refused] == [(LESS, planned * 0.5)]


def test_less_floor_is_one_and_a_half_contact_thresholds_when_that_is_higher() -> None:
    plan = body_plan(contact_threshold="1.2 kgf", band=0.1, adjust_step=0.25)
    _, decisions = drive(plan, pressing, gestures={HOLD_AT: LESS, HOLD_AT + 1: LESS, HOLD_AT + 2: LESS})
    assert adjusted(decisions) == [pytest.approx(kgf(3.0) * 0.75), kgf(1.2) * 1.5]  # not 50 %: 1.5 kgf
    assert len(of_type(decisions, "adjust_refused")) == 1


def test_more_raises_only_while_the_band_top_stays_below_the_tolerance() -> None:
    # 3 kgf × 1.1 × 1.15 = 3.795 < 4; × 1.1 again: 4.17 ≥ 4 → refused.
    plan = body_plan()
    controller, decisions = drive(plan, pressing, gestures={HOLD_AT: MORE, HOLD_AT + 1: MORE})
    assert adjusted(decisions) == [pytest.approx(kgf(3.3))]
    refused = [d for d in decisions if isinstance(d, AdjustRefused)]
    assert len(refused) == 1 and refused[0].kind is MORE and "tolerance" in refused[0].reason
    assert refused[0].t == (HOLD_AT + 1) / RATE
    assert "adjust_refused" in cue_names(decisions)
    assert controller.plan.tolerance == kgf(4.0) and controller._safety.tolerance_n == kgf(4.0)


def test_more_at_most_max_increments_per_spot() -> None:
    plan = body_plan(target="2 kgf", adjust_step=0.05, max_increments=2)
    gestures = {HOLD_AT + i: MORE for i in range(3)}
    _, decisions = drive(plan, lambda t: kgf(2.0) if 1 <= t < 32 else 0.0, gestures=gestures)
    assert adjusted(decisions) == [pytest.approx(kgf(2.0) * 1.05), pytest.approx(kgf(2.0) * 1.05**2)]
    refused = [d for d in decisions if isinstance(d, AdjustRefused)]
    assert len(refused) == 1 and "2 times" in refused[0].reason


def test_max_increments_zero_refuses_every_more() -> None:
    _, decisions = drive(body_plan(max_increments=0), pressing, gestures={HOLD_AT: MORE})
    assert adjusted(decisions) == [] and len(of_type(decisions, "adjust_refused")) == 1


def test_a_check_in_during_the_ramp_moves_the_band_the_hold_starts_in() -> None:
    plan = body_plan()
    # Ramp from 1 s at 1 kgf/s; 'less' at 1.5 s: the band starts at 2.7 kgf × 0.85.
    ramp_at = int(1.5 * RATE)

    def ramp(t: float) -> float:
        return 0.0 if t < 1 else min(kgf(3.0), kgf(1.0) * (t - 1)) if t < 40 else 0.0

    controller, _ = drive(plan, ramp, gestures={ramp_at: LESS})
    hold = controller.holds[0]
    assert hold.start_target_n == pytest.approx(kgf(2.7))
    first_in_band = next(n for n in range(10_000) if ramp(n / RATE) >= kgf(2.7) * 0.85)
    assert hold.started_at == first_in_band / RATE
    assert [a.at_s for a in hold.adjustments] == [ramp_at / RATE]


def test_check_ins_outside_ramp_and_hold_are_ignored() -> None:
    plan = body_plan(repetitions=2)

    def force(t: float) -> float:
        return kgf(3.0) if 1 <= t < 32 or 40 <= t < 72 else 0.0

    gestures = {int(0.5 * RATE): LESS, int(34 * RATE): MORE}  # waiting for contact, rest
    controller, decisions = drive(plan, force, gestures=gestures)
    assert of_type(decisions, "adjustment") == [] and of_type(decisions, "adjust_refused") == []
    assert controller.target.target_n == kgf(3.0)


def test_the_target_resets_at_the_next_spot_and_the_summary_keeps_both() -> None:
    plan = body_plan(spots=[{"name": "a"}, {"name": "b"}])

    def force(t: float) -> float:
        return kgf(3.0) if 1 <= t < 32 or 40 <= t < 72 else 0.0

    controller, _ = drive(plan, force, gestures={HOLD_AT: LESS, int(45 * RATE): MORE})
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [(s.target_n, s.final_target_n) for s in summary.spots] == [
        (kgf(3.0), pytest.approx(kgf(2.7))),
        (kgf(3.0), pytest.approx(kgf(3.3))),
    ]
    assert controller.holds[1].start_target_n == kgf(3.0)
    assert [[(a.kind, a.target_n) for a in h.adjustments] for h in summary.holds] == [
        [(LESS, pytest.approx(kgf(2.7)))],
        [(MORE, pytest.approx(kgf(3.3)))],
    ]


def test_check_in_cues_every_interval_strictly_before_the_hold_ends() -> None:
    plan = body_plan(check_in_s=10)
    controller, decisions = drive(plan, pressing)
    start = controller.holds[0].started_at
    check_ins = [d.t for d in decisions if d.type == "cue" and d.cue == "check_in"]
    assert check_ins == [pytest.approx(start + 10), pytest.approx(start + 20)]
    assert controller.holds[0].check_in_cues == 2


def test_no_check_in_cues_by_default() -> None:
    _, decisions = drive(body_plan(), pressing)
    assert "check_in" not in cue_names(decisions)


@pytest.mark.parametrize(("field", "bad"), [("check_in_s", 5.0), ("check_in_s", 61.0), ("adjust_step", 0.3),
                                            ("adjust_step", 0.04), ("max_increments", 6)])
def test_check_in_keys_are_bounded(field: str, bad: float) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        body_plan(**{field: bad})
