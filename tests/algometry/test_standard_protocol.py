"""The standard PPT protocol's maths: kPa, rate cues at ±30 %, off-rate trials, the mean, cv, real change."""

from __future__ import annotations

import statistics

import pytest

from firmware.algometry.standard import (
    RateCue,
    RateCueTimer,
    TrialPressure,
    combine,
    kpa,
    rate_off,
    trial_pressure,
)


def test_pressure_is_force_over_the_probe_area() -> None:
    assert kpa(5.0, 1.0) == pytest.approx(50.0)
    assert kpa(5.0, 0.5) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("rate", "cue"), [(50, None), (65, None), (65.1, RateCue.TOO_FAST), (35, None), (34.9, RateCue.TOO_SLOW)]
)
def test_the_rate_is_off_beyond_thirty_percent(rate: float, cue: RateCue | None) -> None:
    assert rate_off(rate, 50.0) is cue


def test_rate_cues_come_on_entering_and_repeat_while_it_lasts() -> None:
    timer = RateCueTimer(50.0, repeat_s=1.5)
    got = [(t, timer.due(t, r)) for t, r in [(0.5, 50), (0.6, 80), (0.7, 80), (2.1, 80), (2.2, 20), (2.3, 50)]]
    assert [(t, c) for t, c in got if c is not None] == [
        (0.6, RateCue.TOO_FAST),
        (2.1, RateCue.TOO_FAST),
        (2.2, RateCue.TOO_SLOW),
    ]


def test_a_trial_off_rate_is_left_out_when_two_are_on_rate() -> None:
    trials = [
        trial_pressure(30.0, 5.0, probe_area_cm2=1.0, target_kpa_s=50),  # 50 kPa/s
        trial_pressure(40.0, 9.0, probe_area_cm2=1.0, target_kpa_s=50),  # 90 kPa/s: too fast
        trial_pressure(34.0, 4.0, probe_area_cm2=1.0, target_kpa_s=50),  # 40 kPa/s
    ]
    assert [t.off_rate for t in trials] == [False, True, False]
    m = combine(trials, previous_mean_kpa=280.0, mdc_kpa=40.0)
    assert m.used_trials == (1, 3)
    assert m.mean_n == pytest.approx(32.0) and m.mean_kpa == pytest.approx(320.0)
    assert m.cv == pytest.approx(statistics.stdev([30.0, 34.0]) / 32.0)
    assert m.change_kpa == pytest.approx(40.0) and m.real_change is False  # equal to the MDC is not beyond it
    assert combine(trials, previous_mean_kpa=279.0, mdc_kpa=40.0).real_change is True


def test_with_fewer_than_two_on_rate_every_trial_counts() -> None:
    trials = [TrialPressure(30.0, 300.0, 90.0, True), TrialPressure(36.0, 360.0, 50.0, False)]
    m = combine(trials, previous_mean_kpa=None, mdc_kpa=40.0)
    assert m.used_trials == (1, 2) and m.mean_kpa == pytest.approx(330.0)
    assert m.change_kpa is None and m.real_change is None
    assert combine([trials[1]], previous_mean_kpa=None, mdc_kpa=40.0).cv is None
