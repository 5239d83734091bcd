"""Several sore spots in one session: the plan's rules per spot, their order, cues and summary."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.units import kgf
from firmware.session.decisions import PhaseChange
from firmware.session.states import Outcome, Phase, SpotOutcome, Wait
from firmware.session.summary import build_summary
from tests.body.helpers import RATE, body_plan, cue_names, drive
from tests.cli_fork import presspoint

TWO_SPOTS = [{"name": "left upper trapezius"}, {"name": "right upper trapezius", "target": "2.5 kgf", "rest_s": 8}]


def two_holds(t: float) -> float:
    """Hold 1 from 1 s to 32 s, rest, hold 2 from 45 s to 77 s (2.5 kgf)."""
    if 1 <= t < 32:
        return kgf(3.0)
    if 45 <= t < 77:
        return kgf(2.5)
    return 0.0


def test_a_spot_breaking_the_band_rule_refuses_the_whole_plan_naming_spot_and_field() -> None:
    spots = [{"name": "neck"}, {"name": "glute", "target": "3.6 kgf"}]
    with pytest.raises(ValidationError, match=r"spots\.1\.tolerance: must be above target\*\(1\+band\).*'glute'"):
        body_plan(spots=spots)


def test_a_spot_band_below_contact_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"spots\.0\.target"):
        body_plan(spots=[{"name": "x", "target": "0.3 kgf"}])


def test_the_cli_refuses_a_bad_spot_with_one_line_exit_2(tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text('target = "3 kgf"\ntolerance = "4 kgf"\n[[spots]]\nname = "a"\nhold_s = 20\n')
    result = presspoint("config", "check", str(plan))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "spots.0.hold_s" in result.stderr


def test_a_spot_tolerance_never_exceeds_the_plans() -> None:
    plan = body_plan(spots=[{"name": "a", "tolerance": "6 kgf"}, {"name": "b", "tolerance": "3.8 kgf"}])
    assert [s.tolerance for s in plan.spot_plans()] == [kgf(4.0), kgf(3.8)]


def test_without_spots_a_plan_is_one_spot() -> None:
    plan = body_plan(repetitions=2)
    controller, _ = drive(plan, lambda t: kgf(3.0) if 1 <= t < 32 or 40 <= t < 72 else 0.0)
    assert controller.outcome is Outcome.COMPLETED
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [(s.name, s.outcome, s.holds) for s in summary.spots] == [("plan", SpotOutcome.COMPLETED, [1, 2])]
    assert [h.spot for h in summary.holds] == [1, 1]


def test_spots_run_in_order_with_rest_then_next_spot_cue_then_waiting() -> None:
    plan = body_plan(spots=TWO_SPOTS)
    controller, decisions = drive(plan, two_holds)
    assert controller.outcome is Outcome.COMPLETED
    phases = [(d.phase, d.spot, d.repetition) for d in decisions if isinstance(d, PhaseChange)]
    assert phases == [
        (Phase.WAITING_CONTACT, 1, 1),
        (Phase.RAMP, 1, 1),
        (Phase.HOLD, 1, 1),
        (Phase.RELEASE, 1, 1),
        (Phase.REST, 1, 1),
        (Phase.WAITING_CONTACT, 2, 1),
        (Phase.RAMP, 2, 1),
        (Phase.HOLD, 2, 1),
        (Phase.RELEASE, 2, 1),
        (Phase.ENDED, 2, 1),
    ]
    rest = next(d for d in decisions if isinstance(d, PhaseChange) and d.phase is Phase.REST)
    waiting = [d for d in decisions if isinstance(d, PhaseChange) and d.phase is Phase.WAITING_CONTACT][1]
    assert waiting.t == pytest.approx(rest.t + 5.0)  # the first spot's rest_s
    names = cue_names(decisions)
    assert names.index("next_spot") == names.index("release") + 1
    assert names.count("next_spot") == 1 and names[-1] == "done"
    hold2 = controller.holds[1]
    assert (hold2.spot, hold2.start_target_n) == (2, kgf(2.5))
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [(s.index, s.name, s.outcome, s.holds) for s in summary.spots] == [
        (1, "left upper trapezius", SpotOutcome.COMPLETED, [1]),
        (2, "right upper trapezius", SpotOutcome.COMPLETED, [2]),
    ]
    assert [h.index for h in summary.holds] == [1, 2] and [h.spot for h in summary.holds] == [1, 2]


def test_each_spot_runs_its_own_repetitions() -> None:
    plan = body_plan(spots=[{"name": "a", "repetitions": 2}, {"name": "b"}])

    def force(t: float) -> float:
        return kgf(3.0) if any(s <= t < s + 32 for s in (1, 40, 80)) else 0.0

    controller, _ = drive(plan, force)
    assert controller.outcome is Outcome.COMPLETED
    assert [h.spot for h in controller.holds] == [1, 1, 2]


def test_stopped_in_the_first_spot_leaves_the_second_not_reached() -> None:
    plan = body_plan(spots=TWO_SPOTS)
    controller, _ = drive(plan, two_holds, stop_at_sample=int(10 * RATE))
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [s.outcome for s in summary.spots] == [SpotOutcome.STOPPED, SpotOutcome.NOT_REACHED]


def test_stopped_in_the_rest_between_spots_keeps_the_first_completed() -> None:
    plan = body_plan(spots=TWO_SPOTS)
    controller, _ = drive(plan, two_holds, stop_at_sample=int(34 * RATE))
    assert controller.phase is Phase.ENDED
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [s.outcome for s in summary.spots] == [SpotOutcome.COMPLETED, SpotOutcome.NOT_REACHED]


def test_no_contact_at_the_next_spot_times_out_there() -> None:
    plan = body_plan(spots=TWO_SPOTS)
    controller, _ = drive(plan, lambda t: kgf(3.0) if 1 <= t < 32 else 0.0)
    assert controller.outcome is Outcome.TIMED_OUT
    assert controller.timeout is not None and controller.timeout.wait is Wait.CONTACT
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert [s.outcome for s in summary.spots] == [SpotOutcome.COMPLETED, SpotOutcome.TIMED_OUT]


def test_a_summary_gives_back_a_plan_that_runs_the_same_spots() -> None:
    from firmware.session.summary import plan_from_resolved, resolve_plan

    plan = body_plan(spots=TWO_SPOTS, check_in_s=20, stroke_max="0.8 kgf", adjust_step=0.2)
    again = plan_from_resolved(resolve_plan(plan, 120.0))
    assert again.spot_plans() == plan.spot_plans()
    assert (again.check_in_s, again.stroke_max_n, again.adjust_step) == (20.0, kgf(0.8), 0.2)
    assert plan_from_resolved(resolve_plan(body_plan(), 120.0)).stroke_max is None
