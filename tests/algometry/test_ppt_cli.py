"""``presspoint simulate --mode ppt``: a whole measurement in virtual time, its ``ppt/2`` JSON and its refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from firmware.cli.main import main
from firmware.storage.ppt_history import FILE_NAME
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "config" / "schema" / "mqtt-ppt-2.schema.json").read_text())
PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"


def device(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "ppt-sim"\n{extra}[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    return config


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["simulate", "--mode", "ppt", "--json", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_simulate_ppt_json_is_one_measurement_valid_against_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, printed, err = simulate(capsys, "--config", str(device(tmp_path)))
    assert code == 0, err
    [m] = printed
    jsonschema.validate(m, SCHEMA)
    assert m["schema"] == "presspoint.ppt/2" and m["device_id"] == "ppt-sim" and m["spot"] == "plan"
    assert len(m["trials"]) == 3 and m["used_trials"] == [1, 2, 3]
    for trial in m["trials"]:
        assert trial["off_rate"] is False and trial["rate_kpa_s"] == pytest.approx(50.0, rel=0.05)
        assert trial["threshold_kpa"] == pytest.approx(10 * trial["threshold_n"])  # 1 cm²
    assert m["mean_kpa"] == pytest.approx(sum(t["threshold_kpa"] for t in m["trials"]) / 3)
    assert m["change_kpa"] is None and m["real_change"] is None  # no history yet
    assert not (tmp_path / "state" / FILE_NAME).exists()  # a simulation keeps nothing


def test_a_trace_with_marks_and_a_fast_trial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three ramps marked by the ``button`` column; the second at 100 kPa/s is left out of the mean."""
    trace = tmp_path / "ppt.csv"
    trace.write_text(
        "time_s,force_n,button\n0,0,\n1,0,\n7,30,\n7,,mark\n7.5,0,\n"
        "20,0,\n23,30,\n23,,mark\n23.5,0,\n36,0,\n42,30,\n42,,mark\n42.5,0,\n50,0,\n"
    )
    code, [m], err = simulate(capsys, "--config", str(device(tmp_path)), "--trace", str(trace))
    assert code == 0, err
    jsonschema.validate(m, SCHEMA)
    assert [t["off_rate"] for t in m["trials"]] == [False, True, False]
    assert m["trials"][1]["rate_kpa_s"] == pytest.approx(100.0, rel=0.05)
    assert m["used_trials"] == [1, 3]
    assert m["mean_n"] == pytest.approx((m["trials"][0]["threshold_n"] + m["trials"][2]["threshold_n"]) / 2)
    assert all(29.0 < t["threshold_n"] <= 30.0 for t in m["trials"])


def test_a_measurement_at_each_spot_in_order_with_the_profiles_protocol(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = PROFILE.read_text().replace("[plan]\n", '[ppt]\ntrials = 2\ntrial_rest_s = 5\n\n[plan]\n')
    text += '\n[[plan.spots]]\nname = "left upper trapezius"\n\n[[plan.spots]]\nname = "right upper trapezius"\n'
    profile = tmp_path / "profile.toml"
    profile.write_text(text)
    config = device(tmp_path, f'profile_file = "{profile}"\n')
    code, printed, err = simulate(capsys, "--config", str(config))
    assert code == 0, err
    assert [(m["spot"], len(m["trials"])) for m in printed] == [
        ("left upper trapezius", 2),
        ("right upper trapezius", 2),
    ]
    for m in printed:
        jsonschema.validate(m, SCHEMA)


def test_the_change_is_against_the_stored_last_measurement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    state.mkdir()
    last = {"mean_kpa": 200.0, "measured_at": "2026-11-30T10:00:00Z", "measurement_id": "m0"}
    (state / FILE_NAME).write_text(json.dumps({"people": {"": {"plan": last}}}))
    code, [m], err = simulate(capsys, "--config", str(device(tmp_path)))
    assert code == 0, err
    assert m["change_kpa"] == pytest.approx(m["mean_kpa"] - 200.0) and m["real_change"] is True


def test_a_trace_whose_last_trial_is_never_marked_times_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "ppt.csv"
    trace.write_text("time_s,force_n,button\n0,0,\n1,0,\n7,30,\n7,,mark\n7.5,0,\n")
    code, printed, err = simulate(capsys, "--config", str(device(tmp_path)), "--trace", str(trace))
    assert code == 5 and printed == []
    assert err.count("\n") == 1 and "measurement timed_out" in err and "0 spot(s) measured in full" in err


@pytest.mark.parametrize(
    ("ppt", "field"),
    [
        ("trials = 6", "ppt.trials"),
        ("trials = 0", "ppt.trials"),
        ("trials = 2.0", "ppt.trials"),
        ("trial_rest_s = 4", "ppt.trial_rest_s"),
        ("trial_rest_s = 121", "ppt.trial_rest_s"),
        ('rate_kpa_s = "fast"', "ppt.rate_kpa_s"),
        ("rate_kpa_s = nan", "ppt.rate_kpa_s"),
        ("repeats = 3", "ppt.repeats"),
    ],
)
def test_bad_ppt_values_are_refused_in_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ppt: str, field: str
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace("[plan]\n", f"[ppt]\n{ppt}\n\n[plan]\n"))
    code, printed, err = simulate(capsys, "--config", str(device(tmp_path, f'profile_file = "{profile}"\n')))
    assert code == 2 and printed == []
    assert err.count("\n") == 1 and field in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    ("extra", "args", "says"),
    [
        ("probe_area_cm2 = 0\n", (), "probe_area_cm2"),
        ("probe_area_cm2 = 11.0\n", (), "probe_area_cm2"),
        ("", ("--realtime",), "--realtime: not with --mode ppt"),
    ],
)
def test_bad_device_values_and_options_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, args: tuple[str, ...], says: str
) -> None:
    code, printed, err = simulate(capsys, "--config", str(device(tmp_path, extra)), *args)
    assert code == 2 and printed == []
    assert err.count("\n") == 1 and says in err, err
