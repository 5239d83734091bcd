"""Every plan rule: field bounds, units, cross-field order, and file errors."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.errors import InputFileError
from config.loader import load_device_config, load_plan
from config.plan import TherapyPlan, validate_plan
from config.units import kgf
from tests.cli_fork import presspoint


def plan_input(**fields: object) -> dict[str, object]:
    """A plan as a file or remote payload gives it: the required keys, then ``fields``."""
    return {"target": "3 kgf", "tolerance": "4 kgf", **fields}


def test_defaults_match_the_product_brief() -> None:
    plan = TherapyPlan()
    assert plan.target == kgf(3.0)
    assert plan.band == 0.15
    assert plan.hold_s == 60
    assert plan.repetitions == 3
    assert plan.rest_s == 20
    assert plan.breaths_per_min == 6
    assert plan.tolerance == kgf(4.0)
    assert plan.therapist_max == kgf(5.0)
    assert plan.contact_threshold == kgf(0.3)
    assert plan.release_grace_s == 2.0
    assert plan.abort_debounce_ms == 25
    assert plan.max_wait_for_contact_s == 30


@pytest.mark.parametrize(
    ("field", "bad", "good"),
    [
        ("hold_s", 29.9, 30),
        ("hold_s", 90.1, 90),
        ("repetitions", 0, 1),
        ("repetitions", 11, 10),
        ("rest_s", 4.9, 5),
        ("rest_s", 120.1, 120),
        ("breaths_per_min", 2.9, 3),
        ("breaths_per_min", 12.1, 12),
        ("band", 0.0, 0.05),
        ("abort_debounce_ms", -1, 0),
        ("release_grace_s", 0.1, 0.5),
        ("max_wait_for_contact_s", 4, 5),
    ],
)
def test_each_bound_is_enforced(field: str, bad: float, good: float) -> None:
    validate_plan(plan_input(**{field: good}))
    with pytest.raises(ValidationError) as info:
        validate_plan(plan_input(**{field: bad}))
    assert info.value.errors()[0]["loc"] == (field,)


def test_forces_accept_units() -> None:
    plan = validate_plan({"target": "29.4 N", "tolerance": "8.8 lbf", "therapist_max": 45})
    assert plan.target == 29.4
    assert plan.therapist_max == 45.0


def test_tolerance_must_clear_the_top_of_the_band() -> None:
    # target 3 kgf, band 15 %: top of band is 3.45 kgf.
    with pytest.raises(ValidationError, match=r"tolerance: must be above target\*\(1\+band\)"):
        validate_plan(plan_input(tolerance="3.45 kgf"))
    validate_plan(plan_input(tolerance="3.46 kgf"))


def test_tolerance_may_not_exceed_therapist_max() -> None:
    with pytest.raises(ValidationError, match="tolerance: must be <= therapist_max"):
        validate_plan(plan_input(tolerance="5.1 kgf"))
    validate_plan(plan_input(tolerance="5 kgf"))  # equal is allowed


def test_therapist_max_may_not_exceed_device_max() -> None:
    with pytest.raises(ValidationError, match="therapist_max: must be <= device_max"):
        validate_plan(plan_input(therapist_max="9.5 kgf", tolerance="4 kgf"))
    validate_plan(plan_input(therapist_max="9 kgf"))
    with pytest.raises(ValidationError, match="device_max"):
        validate_plan(plan_input(therapist_max="6 kgf"), device_max_n=kgf(5.5))


def test_contact_threshold_must_be_below_the_band() -> None:
    with pytest.raises(ValidationError, match="contact_threshold: must be below"):
        validate_plan(plan_input(contact_threshold="2.6 kgf"))


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        validate_plan(plan_input(targett="3 kgf"))


def test_plan_file_error_names_file_field_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('target = "3 kgf"\ntolerance = "3.2 kgf"\n')
    with pytest.raises(InputFileError) as info:
        load_plan(path)
    message = str(info.value)
    assert str(path) in message
    assert "'tolerance'" in message
    assert "must be above target*(1+band)" in message
    assert "\n" not in message


def test_plan_file_field_bound_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("hold_s = 120\n")
    with pytest.raises(InputFileError, match=r"bad.toml: field 'hold_s': Input should be less than or equal to 90"):
        load_plan(path)


def test_plan_under_plan_table(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[plan]\ntarget = "2 kgf"\ntolerance = "3 kgf"\n')
    assert load_plan(path).target == kgf(2)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("target = ", "not valid TOML"),
        (b"\xff\xfe", "not UTF-8"),
        ('target = "3 stones"', "unknown force unit"),
    ],
)
def test_malformed_plan_files(tmp_path: Path, content: str | bytes, problem: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputFileError, match=problem):
        load_plan(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        load_plan(tmp_path / "nope.toml")


def test_device_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("sample_rate_hz = 20\n")
    with pytest.raises(InputFileError, match="field 'sample_rate_hz'"):
        load_device_config(path)
    path.write_text("[hardware.pins]\nmotor = 5\n")
    with pytest.raises(InputFileError, match="pins must be distinct"):
        load_device_config(path)


def test_plan_checked_against_configured_device_max(tmp_path: Path) -> None:
    device = tmp_path / "device.toml"
    device.write_text('device_max = "4.5 kgf"\n')
    config = load_device_config(device)
    with pytest.raises(InputFileError, match="therapist_max"):
        load_plan(None, config.device_max)


def test_shipped_files_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    for path in [*sorted((root / "examples").glob("*.toml")), root / "defaults" / "plan.toml"]:
        load_plan(path)
    load_device_config(root / "defaults" / "device.toml")


def test_config_check_cli_exit_codes(tmp_path: Path, cli_env: dict[str, str]) -> None:
    good = Path(__file__).resolve().parents[2] / "config" / "examples" / "gentle-neck.toml"
    result = presspoint("config", "check", str(good), env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "valid plan" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('tolerance = "9 kgf"\n')
    result = presspoint("config", "check", str(bad), env=cli_env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "bad.toml: field 'tolerance': must be <= therapist_max" in result.stderr
    device = tmp_path / "device.toml"
    device.write_text("sample_rate_hz = 80\n[mqtt]\nport = 0\n")
    result = presspoint("config", "check", str(device), env=cli_env)
    assert result.returncode == 2
    assert "field 'mqtt.port'" in result.stderr
