"""Person profiles: contraindications refuse a session, the person may only lower the tolerance."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from config.errors import InputFileError
from config.plan import TherapyPlan
from config.profile import (
    LABELS,
    Contraindication,
    Profile,
    check_start,
    clear_personal_tolerance,
    load_profile,
    save_profile,
    set_personal_tolerance,
    step_down_tolerance,
    validate_profile,
)
from config.units import kgf

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "config" / "examples" / "profiles"


def profile(**fields: object) -> Profile:
    data: dict[str, object] = {"name": "P-1", "screened_on": date(2026, 11, 1), "plan": {}}
    data.update(fields)
    return validate_profile(data)


def test_every_listed_contraindication_exists_with_a_label() -> None:
    assert {c.value for c in Contraindication} == {
        "recent_surgery_or_injury", "recent_illness", "blood_thinners", "cortisone_treatment", "osteoporosis",
        "rheumatoid_arthritis", "advanced_degenerative_joint_disease", "blood_clots_dvt", "advanced_diabetes",
        "other",
    }
    assert set(LABELS) == set(Contraindication)


def test_shipped_examples_load_and_decide() -> None:
    cleared = load_profile(EXAMPLES / "profile-cleared.toml")
    decision = check_start(cleared)
    assert decision.allowed and decision.plan is not None
    assert decision.plan.tolerance == pytest.approx(kgf(3.6))  # the personal, lower tolerance is in force
    uncleared = load_profile(EXAMPLES / "profile-uncleared.toml")
    refused = check_start(uncleared)
    assert not refused.allowed and refused.plan is None
    assert [r.code for r in refused.reasons] == ["uncleared:recent_surgery_or_injury", "uncleared:osteoporosis"]
    assert "shoulder surgery three weeks ago" in refused.describe()
    event = refused.as_event()
    assert event["type"] == "session_refused" and len(event["reasons"]) == 2


def test_no_contraindications_and_screened_may_start() -> None:
    decision = check_start(profile())
    assert decision.allowed
    assert decision.plan == TherapyPlan()
    assert decision.describe() == "session may start"


def test_every_uncleared_condition_is_a_reason_and_cleared_ones_are_not() -> None:
    conditions = {kind.value: {"cleared_by_clinician": False, "note": "x"} for kind in Contraindication}
    conditions["blood_thinners"] = {"cleared_by_clinician": True, "cleared_by": "Dr. X"}
    decision = check_start(profile(contraindications=conditions))
    codes = [r.code for r in decision.reasons]
    assert len(codes) == len(Contraindication) - 1
    assert "uncleared:blood_thinners" not in codes
    assert all(r.text.endswith("not cleared by a clinician (x)") for r in decision.reasons)


def test_missing_screening_refuses() -> None:
    decision = check_start(profile(screened_on=None))
    assert not decision.allowed
    assert decision.reasons[0].code == "not_screened"


def test_other_needs_a_note() -> None:
    with pytest.raises(ValueError, match="needs a note"):
        profile(contraindications={"other": {"cleared_by_clinician": True}})


def test_personal_tolerance_only_lowers() -> None:
    p = profile()
    lowered = set_personal_tolerance(p, kgf(3.7))
    assert lowered.ok and lowered.profile.personal_tolerance == pytest.approx(kgf(3.7))
    higher = set_personal_tolerance(p, kgf(4.5))  # above the therapist's 4 kgf, below therapist_max
    assert not higher.ok and higher.profile is p
    assert "may only lower the tolerance" in higher.reason
    into_band = set_personal_tolerance(p, kgf(3.4))  # target 3 kgf * 1.15 = 3.45 kgf
    assert not into_band.ok and "target*(1+band)" in into_band.reason
    with pytest.raises(ValueError, match="personal_tolerance"):
        profile(personal_tolerance="4.2 kgf")


def test_button_gesture_steps_down_until_the_band_and_clear_goes_back() -> None:
    p = profile()
    steps = []
    while (change := step_down_tolerance(p)).ok:
        p = change.profile
        steps.append(p.personal_tolerance)
    assert steps == pytest.approx([kgf(3.75), kgf(3.5)])
    assert "target*(1+band)" in change.reason
    assert check_start(p).plan is not None and check_start(p).plan.tolerance == pytest.approx(kgf(3.5))  # type: ignore[union-attr]
    assert clear_personal_tolerance(p).personal_tolerance is None


def test_personal_tolerance_is_rechecked_against_a_new_plan() -> None:
    p = profile(personal_tolerance="3.8 kgf")
    lower_cap = TherapyPlan(target="2 kgf", tolerance="3 kgf", therapist_max="4 kgf")
    capped = check_start(p, lower_cap)
    assert capped.allowed and capped.plan is not None
    assert capped.plan.tolerance == pytest.approx(kgf(3.0))  # the therapist's new, lower value wins
    higher_target = TherapyPlan(target="3.4 kgf", tolerance="4.5 kgf")
    refused = check_start(p, higher_target)
    assert not refused.allowed
    assert refused.reasons[0].code == "personal_tolerance"
    assert "ask your therapist" in refused.reasons[0].text


def test_plan_rules_apply_inside_a_profile(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('name = "P"\n[plan]\ntolerance = "6 kgf"\n')
    with pytest.raises(InputFileError, match=r"p.toml: field 'plan.tolerance': must be <= therapist_max"):
        load_profile(path)
    path.write_text('name = "P"\n[contraindications.bogus]\ncleared_by_clinician = true\n')
    with pytest.raises(InputFileError, match=r"contraindications\.bogus"):
        load_profile(path)
    path.write_text('name = "P"\npersonal_tolerance = "4.5 kgf"\n')
    with pytest.raises(InputFileError, match="field 'personal_tolerance': may only lower"):
        load_profile(path)
    with pytest.raises(InputFileError, match="therapist_max"):
        load_profile(EXAMPLES / "profile-cleared.toml", device_max_n=kgf(4.5))


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    original = load_profile(EXAMPLES / "profile-cleared.toml")
    changed = step_down_tolerance(original, kgf(0.1)).profile
    path = tmp_path / "profile.toml"
    save_profile(path, changed)
    assert load_profile(path) == changed
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["profile.toml"]  # no temp files left
