"""The person's own tolerance kept in the state directory: only ever lower."""

from __future__ import annotations

from pathlib import Path

from config.plan import TherapyPlan
from config.profile import validate_profile
from config.units import kgf
from firmware.plans.personal_tolerance import PersonalToleranceStore, apply_stored
from tests.conftest import DEVICE_MAX_N

PLAN = TherapyPlan()
PROFILE = validate_profile({"name": "P", "screened_on": "2026-11-01"})


def test_nothing_stored_keeps_the_profile(tmp_path: Path) -> None:
    assert apply_stored(PROFILE, PersonalToleranceStore(tmp_path), PLAN, DEVICE_MAX_N) is PROFILE


def test_stored_lower_tolerance_applies_and_survives(tmp_path: Path) -> None:
    PersonalToleranceStore(tmp_path).save(kgf(3.6))
    person = apply_stored(PROFILE, PersonalToleranceStore(tmp_path), PLAN, DEVICE_MAX_N)
    assert person.personal_tolerance == kgf(3.6)


def test_a_stored_value_above_the_therapists_is_ignored(tmp_path: Path) -> None:
    PersonalToleranceStore(tmp_path).save(kgf(4.5))  # the plan's tolerance is 4 kgf
    assert apply_stored(PROFILE, PersonalToleranceStore(tmp_path), PLAN, DEVICE_MAX_N).personal_tolerance is None


def test_a_stored_value_inside_the_band_is_ignored(tmp_path: Path) -> None:
    PersonalToleranceStore(tmp_path).save(kgf(3.2))  # top of the band is 3.45 kgf
    assert apply_stored(PROFILE, PersonalToleranceStore(tmp_path), PLAN, DEVICE_MAX_N).personal_tolerance is None


def test_a_lower_profile_value_wins(tmp_path: Path) -> None:
    profile = validate_profile({"name": "P", "screened_on": "2026-11-01", "personal_tolerance": "3.5 kgf"})
    PersonalToleranceStore(tmp_path).save(kgf(3.8))
    assert apply_stored(profile, PersonalToleranceStore(tmp_path), PLAN, DEVICE_MAX_N).personal_tolerance == kgf(3.5)


def test_corrupt_file_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "personal_tolerance.json").write_text("{not json")
    assert PersonalToleranceStore(tmp_path).load() is None
