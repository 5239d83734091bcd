"""Light strokes in the rest, and timeouts that say which wait ran out (with their cues)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from config.units import kgf
from firmware.session.decisions import PhaseChange
from firmware.session.states import Outcome, Phase, Wait
from firmware.session.summary import build_summary
from tests.body.helpers import RATE, body_plan, cue_names, drive, of_type

CONTACT = kgf(0.3)


def with_rest(rest_force: float, *, from_s: float = 33.0, to_s: float = 35.0):
    """Hold 1 s … 32 s, ``rest_force`` during [from_s, to_s) of the rest (32 s … 37 s), hold 2 from 40 s."""

    def force(t: float) -> float:
        if 1 <= t < 32 or 40 <= t < 72:
            return kgf(3.0)
        if from_s <= t < to_s:
            return rest_force
        return 0.0

    return force


def test_light_contact_in_the_rest_is_counted_to_the_sample() -> None:
    plan = body_plan(repetitions=2)
    controller, decisions = drive(plan, with_rest(kgf(0.8)))
    rest = next(d for d in decisions if isinstance(d, PhaseChange) and d.phase is Phase.REST)
    stroked = sum(1 for n in range(int(rest.t * RATE), int((rest.t + 5) * RATE)) if 33 <= n / RATE < 35)
    assert controller.holds[0].rest_stroke_samples == stroked == 160
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert summary.holds[0].rest_stroke_s == pytest.approx(2.0)
    assert summary.holds[1].rest_stroke_s == 0.0
    assert "too_hard" not in cue_names(decisions)
    assert controller.outcome is Outcome.COMPLETED


def test_the_rest_lasts_rest_s_whatever_the_contact() -> None:
    plan = body_plan(repetitions=2)
    _, decisions = drive(plan, with_rest(kgf(0.8), from_s=32.5, to_s=38.0))
    phases = [(d.t, d.phase) for d in decisions if isinstance(d, PhaseChange)]
    rest_at = next(t for t, p in phases if p is Phase.REST)
    waiting_at = [t for t, p in phases if p is Phase.WAITING_CONTACT][1]
    assert waiting_at == pytest.approx(rest_at + 5.0)


def test_pressing_harder_than_stroke_max_in_the_rest_gets_too_hard_once() -> None:
    plan = body_plan(repetitions=2, stroke_max="0.6 kgf")
    controller, decisions = drive(plan, with_rest(kgf(0.8)))
    assert [d.t for d in decisions if d.type == "cue" and d.cue == "too_hard"] == [33.0]
    assert controller.holds[0].rest_stroke_samples == 0


def test_stroke_max_must_be_below_every_band_and_above_contact() -> None:
    with pytest.raises(ValidationError, match="stroke_max: must be below target"):
        body_plan(stroke_max="2.6 kgf")
    with pytest.raises(ValidationError, match=r"stroke_max: must be below target.*spot 2"):
        body_plan(stroke_max="1.5 kgf", spots=[{"name": "a"}, {"name": "b", "target": "1.7 kgf"}])
    with pytest.raises(ValidationError, match="stroke_max: must be above contact_threshold"):
        body_plan(stroke_max="0.2 kgf")


def test_the_default_stroke_max_stays_below_a_low_band() -> None:
    plan = body_plan(target="1 kgf", tolerance="1.5 kgf")
    assert CONTACT < plan.stroke_max_n < plan.band_low_n
    assert body_plan().stroke_max_n == kgf(1.0)


def test_no_contact_times_out_waiting_for_contact_with_a_cue() -> None:
    controller, decisions = drive(body_plan(), lambda t: 0.0)
    assert controller.outcome is Outcome.TIMED_OUT
    timeouts = of_type(decisions, "timeout")
    assert [(d.wait, d.t) for d in timeouts] == [(Wait.CONTACT, 30.0)]
    assert cue_names(decisions) == ["timed_out"]
    summary = build_summary(controller, session_id="s", device_id="d", started_at=datetime.now(UTC))
    assert summary.timeout is not None and (summary.timeout.wait, summary.timeout.at_s) == (Wait.CONTACT, 30.0)


def test_a_ramp_that_never_reaches_the_band_times_out_on_band() -> None:
    controller, _ = drive(body_plan(), lambda t: kgf(1.0) if t >= 2 else 0.0)
    assert controller.timeout is not None
    assert (controller.timeout.wait, controller.timeout.t) == (Wait.BAND, pytest.approx(32.0))


def test_never_letting_go_gets_release_now_halfway_then_times_out_on_release() -> None:
    controller, decisions = drive(body_plan(), lambda t: kgf(3.0) if t >= 1 else 0.0)
    release = next(d for d in decisions if isinstance(d, PhaseChange) and d.phase is Phase.RELEASE)
    reminders = [d.t for d in decisions if d.type == "cue" and d.cue == "release_now"]
    assert reminders == [pytest.approx(release.t + 15.0)]
    assert controller.timeout is not None
    assert (controller.timeout.wait, controller.timeout.t) == (Wait.RELEASE, pytest.approx(release.t + 30.0))
    names = cue_names(decisions)
    assert names.index("release") < names.index("release_now") < names.index("timed_out") == len(names) - 1


def test_a_completed_session_has_no_timeout() -> None:
    controller, _ = drive(body_plan(), lambda t: kgf(3.0) if 1 <= t < 32 else 0.0)
    assert controller.outcome is Outcome.COMPLETED and controller.timeout is None
