"""`presspoint simulate` and `presspoint run --simulate` end to end.

Most of these run in virtual time.  The few that must watch a real process
run in real time (``--realtime``, ``run --simulate``): at 10 samples/s, so the
gap rule (no sample for three periods) leaves 300 ms for a loaded machine, and
every wait is bounded by ``HANG_S``, which only a hang exceeds.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest

from firmware.cli.main import main
from simulator.profiles import SCENARIOS
from tests.cli_fork import presspoint
from tests.conftest import PRESSPOINT, ROOT

SUMMARY_KEYS = {
    "schema",
    "session_id",
    "device_id",
    "started_at",
    "outcome",
    "abort",
    "plan",
    "holds",
    "peak_force_n",
    "duration_s",
    "samples",
}
HOLD_KEYS = {
    "index",
    "started_at_s",
    "ended_at_s",
    "duration_s",
    "outcome",
    "in_band_fraction",
    "mean_force_n",
    "peak_force_n",
    "breath_cues",
}


#: ``simulate``'s documented exit code for each outcome.
EXIT_FOR = {"completed": 0, "stopped": 0, "aborted": 4, "timed_out": 5}

#: Real seconds a real process gets for anything before the test calls it hung.
HANG_S = 60.0


def slow_device(tmp_path: Path) -> Path:
    """A device config at 10 samples/s, for the real-time runs, with a store of the test's own."""
    config = tmp_path / "device-10hz.toml"
    config.write_text(f'sample_rate_hz = 10\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    return config


def read_until(stream: IO[str], text: str, within_s: float = HANG_S) -> str:
    """Read ``stream`` until ``text`` shows up; fails if it ends first or nothing comes for ``within_s``."""
    seen = ""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + within_s
        while text not in seen:
            assert selector.select(max(0.0, deadline - time.monotonic())), f"no {text!r} within {within_s} s"
            chunk = os.read(stream.fileno(), 4096).decode(errors="replace")  # what is there, unbuffered
            assert chunk, f"the stream ended before {text!r}: {seen[-300:]!r}"
            seen = seen[-300:] + chunk
    return seen


def run_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return presspoint(*args, env=env, timeout=timeout, cwd=ROOT)


def test_simulate_json_prints_exactly_one_summary_object(cli_env: dict[str, str]) -> None:
    result = run_cli("simulate", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1
    summary = json.loads(result.stdout)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["schema"] == "presspoint.session/1"
    assert summary["outcome"] == "completed"
    assert summary["abort"] is None
    assert len(summary["holds"]) == 3
    for hold in summary["holds"]:
        assert set(hold) >= HOLD_KEYS
        assert hold["outcome"] == "completed"
        assert hold["duration_s"] == pytest.approx(60.0)
        assert hold["breath_cues"] == 6
    assert summary["plan"]["target_n"] == pytest.approx(29.41995)
    assert summary["samples"] == pytest.approx(summary["duration_s"] * 80, abs=2)
    assert summary["started_at"].endswith(("Z", "+00:00"))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_each_scenario_ends_as_described(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--scenario", name, "--json", "--noise", "0.05"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["outcome"] == SCENARIOS[name].expected_outcome
    assert code == EXIT_FOR[summary["outcome"]]


def test_scenario_details(capsys: pytest.CaptureFixture[str]) -> None:
    main(["simulate", "--scenario", "overshoot", "--json"])
    overshoot = json.loads(capsys.readouterr().out)
    assert overshoot["abort"]["reason"] == "over_tolerance"
    assert overshoot["abort"]["force_n"] > overshoot["plan"]["tolerance_n"]
    main(["simulate", "--scenario", "device-max", "--json"])
    assert json.loads(capsys.readouterr().out)["abort"]["reason"] == "over_device_max"
    main(["simulate", "--scenario", "sensor-dropout", "--json"])
    assert json.loads(capsys.readouterr().out)["abort"]["reason"] == "sensor_fault"
    main(["simulate", "--scenario", "early-release", "--json"])
    early = json.loads(capsys.readouterr().out)
    assert [h["outcome"] for h in early["holds"]] == ["completed", "released_early", "completed"]
    main(["simulate", "--scenario", "stop", "--json"])
    assert json.loads(capsys.readouterr().out)["stop_source"] == "button"


def test_trace_file_drives_the_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,force_n\n0,0\n1,0\n2,29.4\n20,29.4\n20.0125,45\n")
    assert main(["simulate", "--trace", str(trace), "--json"]) == 4
    summary = json.loads(capsys.readouterr().out)
    assert summary["outcome"] == "aborted"
    assert summary["abort"]["reason"] == "over_tolerance"
    assert summary["abort"]["at_s"] == pytest.approx(20.0125 + 0.025)


def test_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "too-light"]) == 0
    out = capsys.readouterr().out
    assert "outcome   COMPLETED" in out
    assert "too_light ×1" in out
    assert "hold             rep 1" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("time,force\n0,1\n", "bad.csv: line 1: header must be 'time_s,force_n'"),
        ("time_s,force_n\n0,1\n1,heavy\n", "bad.csv: line 3: force_n is not a number: 'heavy'"),
        ("time_s,force_n\n0,1\n2,1\n1,1\n", "bad.csv: line 4: time goes backwards"),
    ],
)
def test_malformed_trace_exits_2_with_one_line(
    tmp_path: Path, cli_env: dict[str, str], content: str, expected: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    result = run_cli("simulate", "--trace", str(bad), "--json", env=cli_env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert expected in result.stderr


def test_missing_files_and_bad_plan_exit_2(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run_cli("simulate", "--trace", str(tmp_path / "none.csv"), env=cli_env)
    assert (result.returncode, result.stderr.strip()) == (2, f"presspoint: {tmp_path / 'none.csv'}: file not found")
    plan = tmp_path / "plan.toml"
    plan.write_text("repetitions = 0\n")
    result = run_cli("simulate", "--plan", str(plan), env=cli_env)
    assert result.returncode == 2
    assert "plan.toml: field 'repetitions'" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("simulate", "--config", str(tmp_path / "nope.toml"), env=cli_env)
    assert result.returncode == 2 and "nope.toml: file not found" in result.stderr


def test_plan_and_config_files_are_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = tmp_path / "device.toml"
    device.write_text('device_id = "bench-7"\nsample_rate_hz = 10\n')
    plan = ROOT / "config" / "examples" / "gentle-neck.toml"
    assert main(["simulate", "--config", str(device), "--plan", str(plan), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["device_id"] == "bench-7"
    assert summary["sample_rate_hz"] == 10
    assert summary["outcome"] == "completed"
    assert len(summary["holds"]) == 4
    assert all(h["duration_s"] == pytest.approx(45) for h in summary["holds"])


def test_run_simulate_real_time_sensor_fault(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The device runtime (asyncio, real time) aborts when the sensor goes silent."""
    trace = tmp_path / "dropout.csv"
    trace.write_text("time_s,force_n\n0,0\n0.3,nan\n")
    config = slow_device(tmp_path)
    result = run_cli("run", "--simulate", "--config", str(config), "--trace", str(trace), "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "aborted"
    assert summary["abort"]["reason"] == "sensor_fault"
    # After the dropout (three periods of silence: 0.3 s at 10 Hz), not before; the upper bound is a hang's.
    assert 0.3 < summary["abort"]["at_s"] < HANG_S


def test_schema_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "schema", "summary"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert "holds" in schema["properties"] and "schema" in schema["properties"]
    assert main(["config", "schema", "--out", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert {"plan.schema.json", "device.schema.json", "summary.schema.json"} <= set(written)


def test_committed_schemas_are_current(tmp_path: Path) -> None:
    main(["config", "schema", "--out", str(tmp_path)])
    for fresh in tmp_path.iterdir():
        committed = ROOT / "config" / "schema" / fresh.name
        assert committed.exists(), f"{committed} missing: run presspoint config schema --out config/schema"
        assert committed.read_text() == fresh.read_text(), f"{committed} is stale"


def test_ctrl_c_during_a_realtime_session_stops_it(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """SIGINT (Ctrl-C) ends a real-time session as `stopped`, prints the summary, exit 130."""
    import signal

    config = slow_device(tmp_path)
    proc = subprocess.Popen(
        [PRESSPOINT, "simulate", "--realtime", "--config", str(config), "--json", "--scenario", "normal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    # The live view goes to stderr with --json; wait for the hold to start.
    try:
        read_until(proc.stderr, "hold")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=HANG_S)
    finally:
        proc.kill()
    assert proc.returncode == 130
    summary = json.loads(out)
    assert summary["outcome"] == "stopped"
    assert summary["stop_source"] == "interrupt"
    assert summary["holds"][0]["outcome"] == "stopped"


@pytest.mark.parametrize(
    ("trace", "outcome", "reason"),
    [
        ("good-session.csv", "completed", None),
        ("overshoot.csv", "aborted", "over_tolerance"),
        ("dropout.csv", "aborted", "sensor_fault"),
    ],
)
def test_shipped_traces(trace: str, outcome: str, reason: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--trace", str(ROOT / "simulator" / "traces" / trace), "--json"]) == EXIT_FOR[outcome]
    summary = json.loads(capsys.readouterr().out)
    assert summary["outcome"] == outcome
    assert (summary["abort"] or {}).get("reason") == reason


def test_a_dead_broker_changes_no_decision(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Publishing is downstream: with the broker unreachable the session is decided exactly the same."""
    from tests.mqtt_broker import free_port

    config = tmp_path / "device.toml"
    config.write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    common = ["simulate", "--config", str(config), "--scenario", "overshoot", "--noise", "0.05", "--json"]
    plain = run_cli(*common, env=cli_env)
    dead = run_cli(*common, "--broker", f"mqtt://127.0.0.1:{free_port()}", "--flush-timeout", "1", env=cli_env)
    assert plain.returncode == dead.returncode == 4, dead.stderr  # aborted, both
    a, b = json.loads(plain.stdout), json.loads(dead.stdout)
    for key in ("outcome", "abort", "holds", "cues", "samples", "duration_s", "peak_force_n"):
        assert a[key] == b[key], key
    assert "left" in dead.stderr  # it says what is left unsent
