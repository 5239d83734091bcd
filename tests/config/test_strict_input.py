"""Input is taken literally: no coercion of numbers and flags, no silent default plan, no odd files."""

from __future__ import annotations

import json
import os
import socket
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.errors import InputFileError
from config.loader import MAX_TOML_BYTES, check_file, load_device_config, load_plan, read_toml
from config.mqtt import MqttConfigError, MqttSettings
from config.plan import TherapyPlan, validate_plan
from config.profile import validate_profile
from config.reading import read_regular
from config.toml_limits import MAX_KEY_PARTS, MAX_NESTING, shape_problem
from config.units import kgf

REQUIRED = {"target": "3 kgf", "tolerance": "4 kgf"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("repetitions", True),
        ("repetitions", 2.0),
        ("repetitions", "3"),
        ("abort_debounce_ms", True),
        ("release_grace_s", True),
        ("hold_s", "60"),
        ("band", False),
    ],
)
def test_plan_numbers_are_not_coerced(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_plan({**REQUIRED, field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_plan_floats_accept_whole_numbers_and_json_round_trips() -> None:
    plan = validate_plan({**REQUIRED, "hold_s": 45, "abort_debounce_ms": 0})
    assert plan.hold_s == 45.0
    again = validate_plan(json.loads(json.dumps(plan.model_dump(mode="json"))))
    assert again == plan


def test_a_remote_style_plan_with_a_bool_count_is_refused() -> None:
    payload = json.loads(json.dumps({**TherapyPlan().model_dump(mode="json"), "repetitions": True}))
    with pytest.raises(ValidationError, match="valid integer"):
        validate_plan(payload)


@pytest.mark.parametrize("data", [{}, {"target": "3 kgf"}, {"tolerance": "4 kgf"}])
def test_plan_input_must_name_target_and_tolerance(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="required"):
        validate_plan(data)
    assert TherapyPlan().tolerance == kgf(4.0)  # defaults stay for code


@pytest.mark.parametrize("text", ["", "# nothing\n", "[plan]\n"])
def test_empty_plan_files_are_not_the_default_plan(tmp_path: Path, text: str) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    with pytest.raises(InputFileError, match="field 'target': required"):
        load_plan(path)


def test_config_check_names_what_it_judged_and_refuses_empty(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    assert check_file(root / "examples" / "gentle-neck.toml") == "plan"
    assert check_file(root / "defaults" / "device.toml") == "device config"
    assert check_file(root / "examples" / "profiles" / "profile-cleared.toml") == "profile"
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(InputFileError, match="empty file"):
        check_file(empty)


@pytest.mark.parametrize("value", ["yes", 1, 0])
def test_profile_flags_are_bools(value: object) -> None:
    data = {"name": "P", "contraindications": {"osteoporosis": {"cleared_by_clinician": value}}}
    with pytest.raises(ValidationError, match="valid boolean"):
        validate_profile(data)


def test_profile_dates_are_not_numbers() -> None:
    with pytest.raises(ValidationError, match="not a number"):
        validate_profile({"name": "P", "screened_on": 0})
    assert validate_profile({"name": "P", "screened_on": "2026-11-02"}).screened_on == date(2026, 11, 2)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"port": True}, "port"),
        ({"port": "1883"}, "port"),
        ({"tls": 1}, "tls"),
        ({"keepalive_s": 30.0}, "keepalive_s"),
        ({"enabled": True, "host": ""}, "host"),
        ({"host": "a b"}, "host"),
        ({"host": "h/x"}, "host"),
    ],
)
def test_mqtt_settings_are_strict(fields: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError) as info:
        MqttSettings.model_validate(fields)
    assert info.value.errors()[0]["loc"] == (where,)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mqtt://127.0.0.1:0", "port: Input should be greater than or equal to 1"),
        ("mqtt://h?keepalive_s=abc", "keepalive_s: must be a whole number"),
        ("mqtt://h?keepalive_s=1", "option keepalive_s"),
        ("mqtt://h?protocol=4", "option protocol"),
        ("mqtt://h?client_id=", "client_id must be 1..128"),
        ("mqtt://h?cert_file=/x", "cert_file and key_file go together"),
    ],
)
def test_bad_broker_urls_are_one_config_error(url: str, fragment: str) -> None:
    with pytest.raises(MqttConfigError) as info:
        MqttSettings().with_broker_url(url)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_url_keepalive_is_parsed_to_a_number() -> None:
    assert MqttSettings().with_broker_url("mqtt://h?keepalive_s=45").keepalive_s == 45


def test_device_config_mqtt_port_bool_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text("[mqtt]\nport = true\n")
    with pytest.raises(InputFileError, match=r"field 'mqtt\.port'"):
        load_device_config(path)


# ---------------------------------------------------------------- files


def test_symlink_loop_and_path_through_a_file(tmp_path: Path) -> None:
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    with pytest.raises(InputFileError, match="symbolic link loop"):
        read_toml(loop)
    plain = tmp_path / "plain.toml"
    plain.write_text("")
    with pytest.raises(InputFileError, match="is a file, not a directory"):
        read_toml(plain / "x.toml")


def test_fifo_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="FIFO"):
        read_regular(fifo, 100)
    with pytest.raises(InputFileError, match="is a device"):
        read_regular(Path("/dev/zero"), 100)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "s"))
        with pytest.raises(InputFileError, match="socket"):
            read_regular(tmp_path / "s", 100)


def test_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_bytes(b"#" * (MAX_TOML_BYTES + 1))
    with pytest.raises(InputFileError, match="the limit is 1 MiB"):
        read_toml(path)


def test_bom_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbftarget = 1\n")
    with pytest.raises(InputFileError, match="byte-order mark"):
        read_toml(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a = " + "[" * 5000 + "]" * 5000, "nested more than"),
        ("a = " + "{b = " * 5000, "nested more than"),
        ("a" + ".a" * 20_000 + " = 1", "dotted key of 20001 parts"),
        ("[" + ".".join(["t"] * 100) + "]", "dotted key of 100 parts"),
    ],
)
def test_absurd_nesting_is_refused_before_parsing(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(InputFileError, match=problem):
        read_toml(path)


def test_the_prescan_ignores_strings_comments_and_floats() -> None:
    inner = "[" * (MAX_NESTING + 5)
    dots = ".".join(["x"] * (MAX_KEY_PARTS + 5))
    text = f'note = "{inner} {dots}"\n# {inner} {dots}\nvalues = [1.5, 2.5, 3.5]\nlit = \'{inner}\'\n'
    assert shape_problem(text) is None
    assert shape_problem("a = " + "[" * MAX_NESTING + "]" * MAX_NESTING) is None


def test_long_values_are_cut_in_error_lines(tmp_path: Path) -> None:
    path = tmp_path / "long.toml"
    path.write_text(f'target = "{"9" * 500_000} kgf"\ntolerance = "4 kgf"\n')
    with pytest.raises(InputFileError) as info:
        load_plan(path)
    assert len(str(info.value)) < 300
    path.write_text("x" * 100_000 + " = 1\n")
    with pytest.raises(InputFileError) as info:
        load_device_config(path)
    assert len(str(info.value)) < 300


def test_a_huge_force_prints_a_short_number() -> None:
    with pytest.raises(ValidationError) as info:
        validate_plan({**REQUIRED, "therapist_max": "1e308 N"})
    assert len(str(info.value.errors()[0]["msg"])) < 120
