"""The band around a target is one rule: the plan's, each spot's and a check-in's target all use it."""

import pytest

from config.plan import TherapyPlan
from config.spots import Spot, band_edges
from firmware.session.states import Gesture
from firmware.session.targets import SpotTarget


def test_band_edges_are_band_times_the_target_either_side() -> None:
    assert band_edges(30.0, 0.2) == pytest.approx((24.0, 36.0))


def test_plan_spot_and_moved_target_bands_follow_the_one_rule() -> None:
    plan = TherapyPlan(target=30.0, band=0.2, tolerance=40.0, therapist_max=45.0, spots=(Spot(name="neck", band=0.1),))
    spot = plan.spot_plans()[0]
    assert (plan.band_low_n, plan.band_high_n) == band_edges(30.0, 0.2)
    assert (spot.band_low_n, spot.band_high_n) == band_edges(30.0, 0.1)
    target = SpotTarget(spot, step=0.1, max_increments=3, contact_threshold_n=3.0)
    assert target.adjust(Gesture.LESS).refused is None
    assert (target.band_low_n, target.band_high_n) == band_edges(target.target_n, 0.1)
    assert target.band_high_n == pytest.approx(27.0 * 1.1)
