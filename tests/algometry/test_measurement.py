"""The standard measurement's state machine: trials, rests, spots, rate cues, and safety in every phase."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from config.plan import TherapyPlan
from config.profile import PptProtocol
from config.spots import Spot
from firmware.algometry.decisions import PressIgnored, RateOff
from firmware.algometry.measurement import (
    MeasuredSpot,
    MeasurementDecision,
    MeasurementEnded,
    MeasurementOutcome,
    RestStarted,
    SpotMeasured,
    StandardMeasurement,
    TrialStarted,
)
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.standard import RateCue, rate_off
from firmware.protocol.ppt import spot_measurement
from firmware.session.decisions import AbortDecision, CueDecision
from firmware.session.states import AbortReason, Cue
from simulator.scenarios_ppt import ppt_keyframes
from simulator.trace import ForceTrace, Keyframe

HZ = 80
TOLERANCE_N = 39.2
DEVICE_MAX_N = 88.0


def measurement(spots: Sequence[str] = ("spot",), **protocol: float) -> StandardMeasurement:
    return StandardMeasurement(
        [MeasuredSpot(name, TOLERANCE_N) for name in spots],
        protocol=PptProtocol.model_validate(protocol),
        probe_area_cm2=1.0,
        settings=AlgometrySettings(),
        device_max_n=DEVICE_MAX_N,
        sample_rate_hz=HZ,
    )


def run(
    m: StandardMeasurement, frames: list[Keyframe], marks: Sequence[float], *, until_s: float = 600.0
) -> list[MeasurementDecision]:
    """Samples at 80 Hz from the keyframes, each mark before the first sample at or after it."""
    trace = ForceTrace(frames)
    pending = list(marks)
    out: list[MeasurementDecision] = []
    n = 0
    while not m.finished and n / HZ <= until_s:
        t = n / HZ
        while pending and pending[0] <= t + 1e-9:
            out += m.on_button(pending.pop(0))
        force = trace.force_at(t)
        out += m.on_gap(t) if force is None else m.on_sample(t, force)
        n += 1
    return out


def ramps(*ramps: tuple[float, float, float]) -> tuple[list[Keyframe], list[float]]:
    """Ramps ``(start s, N/s, mark force)`` from rest, each let go over 0.5 s after its mark."""
    frames = [Keyframe(0.0, 0.0)]
    marks = []
    for start, rate, force in ramps:
        mark = start + force / rate
        frames += [Keyframe(start, 0.0), Keyframe(mark, force), Keyframe(mark + 0.5, 0.0)]
        marks.append(mark)
    return frames, marks


def test_trial_rest_next_trial_then_next_spot_in_order() -> None:
    m = measurement(("left", "right"), trials=2, trial_rest_s=5.0)
    plan = TherapyPlan(spots=(Spot(name="left"), Spot(name="right")))
    frames, presses = ppt_keyframes(plan, PptProtocol(trials=2, trial_rest_s=5.0))
    out = run(m, frames, [p.time_s for p in presses])
    steps = [
        d
        for d in out
        if isinstance(d, TrialStarted | RestStarted | SpotMeasured | MeasurementEnded)
        or (isinstance(d, CueDecision) and d.cue in (Cue.CHECK_IN, Cue.NEXT_SPOT))
    ]
    described = [
        f"trial {d.spot} {d.trial}"
        if isinstance(d, TrialStarted)
        else f"rest{' to the next spot' if d.next_spot else ''}"
        if isinstance(d, RestStarted)
        else f"measured {d.spot.spot}"
        if isinstance(d, SpotMeasured)
        else f"ended {d.outcome}"
        if isinstance(d, MeasurementEnded)
        else f"cue {d.cue}"
        for d in steps
    ]
    assert described == [
        "trial left 1",
        "rest",
        "cue check_in",
        "trial left 2",
        "measured left",
        "cue next_spot",
        "rest to the next spot",
        "cue check_in",
        "trial right 1",
        "rest",
        "cue check_in",
        "trial right 2",
        "measured right",
        "ended completed",
    ]
    rests = [d for d in out if isinstance(d, RestStarted)]
    starts = [d for d in out if isinstance(d, TrialStarted)][1:]
    assert all(rest.until_s == pytest.approx(rest.t + 5.0) for rest in rests)
    assert all(start.t >= rest.until_s - 1e-9 for rest, start in zip(rests, starts, strict=True))
    result = m.result()
    assert result.outcome is MeasurementOutcome.COMPLETED
    assert [(s.index, s.spot, len(s.trials)) for s in result.spots] == [(1, "left", 2), (2, "right", 2)]


@pytest.mark.parametrize(
    ("rate_n_per_s", "cue", "motor_cue", "off_rate"),
    [
        (10.0, RateCue.TOO_FAST, Cue.TOO_HARD, True),
        (2.5, RateCue.TOO_SLOW, Cue.TOO_LIGHT, True),
        (5.0, None, None, False),
    ],
)
def test_rate_cues_and_off_rate_trials(
    rate_n_per_s: float, cue: RateCue | None, motor_cue: Cue | None, off_rate: bool
) -> None:
    """On 1 cm², 10 N/s is 100 kPa/s (too fast), 2.5 N/s 25 kPa/s (too slow), 5 N/s the protocol's 50."""
    m = measurement(trials=1)
    frames, marks = ramps((1.0, rate_n_per_s, 30.0))
    out = run(m, frames, marks)
    rate_offs = [d for d in out if isinstance(d, RateOff)]
    assert {d.cue for d in rate_offs} == (set() if cue is None else {cue})
    assert all(rate_off(d.rate_kpa_s, 50.0) is d.cue for d in rate_offs)  # over the last 0.5 s
    motor = [d.cue for d in out if isinstance(d, CueDecision) and d.cue in (Cue.TOO_HARD, Cue.TOO_LIGHT)]
    assert motor == ([] if motor_cue is None else [motor_cue] * len(rate_offs)) and (cue is None or motor)
    [spot] = m.result().spots
    [trial] = spot.trials
    assert trial.off_rate is off_rate
    assert trial.rate_kpa_s == pytest.approx(10 * rate_n_per_s, rel=0.03)
    assert trial.threshold_kpa == pytest.approx(10 * trial.threshold_n)


def test_the_rate_cue_is_over_the_last_half_second() -> None:
    """A slow start is cued; once the ramp is on rate for half a second nothing more is."""
    m = measurement(trials=1)
    frames = [Keyframe(0.0, 0.0), Keyframe(1.0, 0.0), Keyframe(3.0, 4.0), Keyframe(8.0, 29.0)]
    out = run(m, frames, [8.0])
    slow = [d.t for d in out if isinstance(d, RateOff)]
    assert slow and all(t < 3.5 for t in slow)
    assert {d.cue for d in out if isinstance(d, RateOff)} == {RateCue.TOO_SLOW}


def test_an_off_rate_trial_is_left_out_of_the_mean_when_two_are_on_rate() -> None:
    m = measurement(trials=3, trial_rest_s=5.0)
    frames, marks = ramps((1.0, 5.0, 28.0), (14.0, 10.0, 34.0), (26.0, 5.0, 30.0))
    run(m, frames, marks)
    [spot] = m.result().spots
    assert [trial.off_rate for trial in spot.trials] == [False, True, False]
    payload = spot_measurement(spot, device_id="d", previous_kpa=None, mdc_kpa=40.0, device_max_n=DEVICE_MAX_N)
    assert payload.used_trials == [1, 3]
    assert payload.mean_n == pytest.approx((spot.trials[0].threshold_n + spot.trials[2].threshold_n) / 2)
    assert payload.mean_kpa == pytest.approx(10 * payload.mean_n)


def test_a_press_in_the_rest_is_ignored_and_the_next_trial_waits_for_release() -> None:
    m = measurement(trials=2, trial_rest_s=5.0)
    # Marked at ~5 s, then still pressing lightly until 14 s (past the rest's end at ~10 s).
    frames = [Keyframe(0.0, 0.0), Keyframe(1.0, 0.0), Keyframe(5.0, 20.0), Keyframe(5.5, 5.0)]
    frames += [Keyframe(14.0, 5.0), Keyframe(14.2, 0.0), Keyframe(16.0, 0.0), Keyframe(20.0, 20.0)]
    out = run(m, frames, [5.0, 7.0, 20.0])
    assert any(isinstance(d, PressIgnored) and d.t == 7.0 for d in out)
    second = [d for d in out if isinstance(d, TrialStarted)][1]
    assert 14.0 <= second.t <= 14.3  # at the release, not at the rest's end
    assert m.result().outcome is MeasurementOutcome.COMPLETED


def test_never_letting_go_after_the_rest_times_out() -> None:
    m = measurement(trials=2, trial_rest_s=5.0)
    frames = [Keyframe(0.0, 0.0), Keyframe(1.0, 0.0), Keyframe(5.0, 20.0), Keyframe(5.5, 5.0)]
    run(m, frames, [5.0])
    result = m.result()
    assert result.outcome is MeasurementOutcome.TIMED_OUT and result.spots == ()
    assert result.duration_s == pytest.approx(5.0 + 5.0 + AlgometrySettings().max_wait_for_contact_s, abs=0.05)


def test_the_safety_rules_hold_in_the_rest_between_trials() -> None:
    m = measurement(trials=2, trial_rest_s=10.0)
    frames = [Keyframe(0.0, 0.0), Keyframe(1.0, 0.0), Keyframe(5.0, 20.0), Keyframe(5.5, 0.0)]
    frames += [Keyframe(7.0, 0.0), Keyframe(7.5, 45.0)]  # a slam over the tolerance mid-rest
    out = run(m, frames, [5.0])
    [abort] = [d for d in out if isinstance(d, AbortDecision)]
    assert abort.reason is AbortReason.OVER_TOLERANCE and 7.4 < abort.t < 7.5
    assert "in the rest between trials" in abort.detail
    assert CueDecision(abort.t, Cue.ABORT) in out
    assert m.result().outcome is MeasurementOutcome.ABORTED and m.result().abort == abort


def test_a_silent_sensor_in_the_rest_is_a_fault() -> None:
    m = measurement(trials=2, trial_rest_s=10.0)
    frames = [Keyframe(0.0, 0.0), Keyframe(1.0, 0.0), Keyframe(5.0, 20.0), Keyframe(5.5, 0.0)]
    frames += [Keyframe(8.0, 0.0), Keyframe(8.0, float("nan"))]
    run(m, frames, [5.0])
    result = m.result()
    assert result.outcome is MeasurementOutcome.ABORTED
    assert result.abort is not None and result.abort.reason is AbortReason.SENSOR_FAULT
    assert 8.0 < result.abort.t < 8.1


def test_an_abort_in_a_later_trial_keeps_the_spots_measured_before() -> None:
    m = measurement(("left", "right"), trials=1, trial_rest_s=5.0)
    frames, marks = ramps((1.0, 5.0, 28.0), (13.0, 5.0, 45.0))  # the second ramp passes the tolerance
    run(m, frames, marks)
    result = m.result()
    assert result.outcome is MeasurementOutcome.ABORTED
    assert result.abort is not None and result.abort.reason is AbortReason.OVER_TOLERANCE
    assert 13.0 + TOLERANCE_N / 5.0 < result.abort.t < 13.0 + TOLERANCE_N / 5.0 + 0.1  # on the measurement's clock
    assert [s.spot for s in result.spots] == ["left"]


def test_a_stop_in_the_rest_ends_the_measurement() -> None:
    m = measurement(("left", "right"), trials=1, trial_rest_s=5.0)
    frames, marks = ramps((1.0, 5.0, 28.0))
    run(m, frames, marks, until_s=8.0)
    assert m.on_stop(8.0) == [MeasurementEnded(8.0, MeasurementOutcome.STOPPED)]
    assert [s.spot for s in m.result().spots] == ["left"]
