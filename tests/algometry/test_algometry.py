"""Pressure pain threshold mode: rate cue, threshold, safety aborts, suggestions, payload."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable

import pytest

from config.plan import TherapyPlan
from config.units import kgf
from firmware.algometry.decisions import AlgometryDecision, PressIgnored, RateTooFast, TrialOutcome
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.suggestions import suggest_limits, suggested_plan
from firmware.algometry.trial import AlgometryTrial
from firmware.protocol.ppt import PptMeasurement, measurement, ppt_payload, ppt_topic
from firmware.protocol.topics import Topics
from firmware.session.decisions import AbortDecision, CueDecision, decision_to_event
from firmware.session.states import AbortReason, Cue

RATE = 80.0
DEVICE_MAX = kgf(9.0)
TOLERANCE = kgf(8.0)


def trial(**settings: object) -> AlgometryTrial:
    return AlgometryTrial(
        AlgometrySettings.model_validate(settings),
        tolerance_n=TOLERANCE,
        device_max_n=DEVICE_MAX,
        sample_rate_hz=RATE,
    )


def ramp(rate_kgf_s: float, *, start: float = 0.5, noise_n: float = 0.0, seed: int = 1) -> Callable[[float], float]:
    rng = random.Random(seed)
    return lambda t: max(0.0, t - start) * kgf(rate_kgf_s) + rng.gauss(0.0, noise_n)


def run(
    tr: AlgometryTrial, force: Callable[[float], float], *, press_at: float | None, until: float = 60.0
) -> list[AlgometryDecision]:
    decisions: list[AlgometryDecision] = []
    n = 0
    while not tr.finished and n / RATE <= until:
        t = n / RATE
        if press_at is not None and t >= press_at:
            decisions += tr.on_button(t)
            break
        decisions += tr.on_sample(t, force(t))
        n += 1
    return decisions


def cues(decisions: list[AlgometryDecision]) -> list[Cue]:
    return [d.cue for d in decisions if isinstance(d, CueDecision)]


def test_slow_noisy_ramp_records_threshold_without_cues() -> None:
    tr = trial()
    decisions = run(tr, ramp(0.8, noise_n=0.15), press_at=5.5)  # 4 kgf at 5.5 s
    result = tr.result()
    assert result.outcome is TrialOutcome.RECORDED
    assert cues(decisions) == [Cue.DONE]
    assert result.too_fast_cues == 0 and result.rate_ok is True
    # The threshold is the peak of the 0.1 s mean: it lags the ramp by about rate × 0.05 s.
    assert result.threshold_n == pytest.approx(kgf(4.0), abs=kgf(0.08))
    assert result.mean_rate_n_per_s == pytest.approx(kgf(0.8), rel=0.05)
    assert result.contact_at_s is not None and result.contact_at_s == pytest.approx(0.5 + 0.3 / 0.8, abs=0.1)


def test_fast_ramp_cues_with_hysteresis_and_is_flagged() -> None:
    tr = trial()
    decisions = run(tr, ramp(2.0, noise_n=0.1), press_at=3.0)
    fast = [d for d in decisions if isinstance(d, RateTooFast)]
    assert fast and all(d.rate_n_per_s > kgf(1.0) for d in fast)
    # First cue soon after the window fills, then once per cue_repeat_s while still too fast.
    assert fast[0].t < 0.5 + 0.3 / 2 + 0.6
    gaps = [b.t - a.t for a, b in itertools.pairwise(fast)]
    assert all(g >= 1.5 - 1e-9 for g in gaps)
    assert Cue.TOO_HARD in cues(decisions)
    result = tr.result()
    assert result.rate_ok is False and result.too_fast_cues == len(fast)
    assert result.max_rate_n_per_s == pytest.approx(kgf(2.0), rel=0.1)


def test_device_may_define_its_own_too_fast_cue() -> None:
    tr = trial(too_fast_cue="too_light")
    assert Cue.TOO_LIGHT in cues(run(tr, ramp(3.0), press_at=2.0))


def test_single_spike_does_not_cue() -> None:
    tr = trial()

    def force(t: float) -> float:
        base = ramp(0.8)(t)
        return base + (kgf(3.0) if abs(t - 3.0) < 1 / RATE / 2 else 0.0)

    decisions = run(tr, force, press_at=5.0)
    assert not [d for d in decisions if isinstance(d, RateTooFast)]
    result = tr.result()
    assert result.threshold_n is not None and result.threshold_n < kgf(3.7)  # the spike is not the threshold
    assert result.peak_force_n > kgf(3.0)  # but the raw peak saw it


def test_threshold_is_the_held_peak_when_the_person_eases_off_before_pressing() -> None:
    tr = trial()

    def force(t: float) -> float:
        return min(ramp(1.0)(t), kgf(3.0)) if t < 4.0 else kgf(2.0)  # peak 3 kgf, then eases off

    run(tr, force, press_at=4.5)
    result = tr.result()
    assert result.threshold_n == pytest.approx(kgf(3.0), rel=0.01)
    assert result.force_at_press_n == pytest.approx(kgf(2.0), rel=0.01)


def test_press_before_contact_is_ignored() -> None:
    tr = trial()
    decisions = tr.on_sample(0.0, 0.0) + tr.on_button(0.01)
    assert isinstance(decisions[0], PressIgnored) and not tr.finished


@pytest.mark.parametrize(
    ("force", "reason"),
    [
        (lambda t: min(ramp(1.0)(t), TOLERANCE + 1.0), AbortReason.OVER_TOLERANCE),
        (lambda t: 0.0 if t < 1 else DEVICE_MAX + 1.0, AbortReason.OVER_DEVICE_MAX),
        (lambda t: float("nan") if t > 1 else 0.0, AbortReason.SENSOR_FAULT),
    ],
)
def test_aborts_like_a_session(force: Callable[[float], float], reason: AbortReason) -> None:
    tr = trial()
    decisions = run(tr, force, press_at=None, until=20.0)
    result = tr.result()
    assert result.outcome is TrialOutcome.ABORTED and result.threshold_n is None
    assert result.abort is not None and result.abort.reason is reason
    assert Cue.ABORT in cues(decisions)
    assert tr.on_button(30.0) == []  # too late


def test_over_tolerance_is_debounced() -> None:
    tr = trial()
    tr.on_sample(0.0, kgf(1.0))
    assert tr.on_sample(1 / RATE, TOLERANCE + 1) == []  # one spike
    tr.on_sample(2 / RATE, kgf(1.0))
    assert not tr.finished


def test_silent_sensor_and_timeouts() -> None:
    tr = trial()
    tr.on_sample(0.0, kgf(1.0))
    assert any(isinstance(d, AbortDecision) for d in tr.on_gap(0.1))
    idle = trial()
    run(idle, lambda t: 0.0, press_at=None, until=40.0)
    assert idle.result().outcome is TrialOutcome.TIMED_OUT
    stopped = trial()
    stopped.on_sample(0.0, 0.0)
    stopped.on_stop(0.5)
    assert stopped.result().outcome is TrialOutcome.STOPPED


def test_suggestions_follow_the_documented_fractions_and_rules() -> None:
    s = suggest_limits(kgf(5.0))
    assert (s.target_n, s.tolerance_n, s.therapist_max_n) == pytest.approx((kgf(3.5), kgf(4.5), kgf(5.0)))
    plan = suggested_plan(TherapyPlan(), s, DEVICE_MAX)
    assert plan.target == pytest.approx(kgf(3.5)) and plan.tolerance == pytest.approx(kgf(4.5))
    capped = suggest_limits(kgf(12.0))
    assert capped.capped_by_device and capped.therapist_max_n == pytest.approx(DEVICE_MAX)
    assert (capped.tolerance_n, capped.target_n) == pytest.approx((0.9 * DEVICE_MAX, 0.7 * DEVICE_MAX))
    with pytest.raises(ValueError, match="not below the suggested tolerance"):
        suggest_limits(kgf(5.0), target_fraction=0.85)
    with pytest.raises(ValueError, match="suggested plan breaks a rule"):
        suggested_plan(TherapyPlan(), suggest_limits(kgf(0.4)), DEVICE_MAX)  # below the contact threshold


def test_measurement_payload_round_trip() -> None:
    tr = trial()
    run(tr, ramp(0.8), press_at=5.5)
    m = measurement(tr.result(), device_id="dev1", measurement_id="m1", measured_at="2026-11-30T10:00:00Z")
    data = json.loads(ppt_payload(m))
    assert data["schema"] == "presspoint.ppt/1" and data["outcome"] == "recorded"
    assert data["suggestion"]["target_n"] == pytest.approx(0.7 * data["threshold_n"])
    assert PptMeasurement.model_validate(data) == m
    assert ppt_topic(Topics("dev1")) == "presspoint/dev1/ppt"
    assert decision_to_event(RateTooFast(1.0, 12.0)) == {"t": 1.0, "rate_n_per_s": 12.0, "type": "rate_too_fast"}


def test_a_reported_sensor_fault_aborts_the_trial() -> None:
    t = trial()
    t.on_sample(0.0, 0.0)
    decisions = t.on_sensor_fault(0.5, "saturated reading 0x7fffff")
    assert t.abort is not None and t.abort.reason == "sensor_fault"
    assert t.abort.detail == "saturated reading 0x7fffff" and t.abort.t == 0.5
    assert t.on_sensor_fault(0.6, "again") == [] and decisions


def test_over_tolerance_detail_says_when() -> None:
    t = trial()
    for n in range(5):
        t.on_sample(n / 80, 0.0)
    for n in range(5, 10):
        t.on_sample(n / 80, TOLERANCE + 1.0)
    assert t.abort is not None
    assert t.abort.detail.endswith("for 25.0 ms before the button was pressed")
