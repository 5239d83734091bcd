"""What a new user ran into first, end to end with the real CLI, processes, files and broker.

``run --simulate --speed N`` keeps these short: the simulated hardware's
clock runs N times the wall clock, and the sessions decide exactly as at 1x.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from config.plan import TherapyPlan
from config.units import kgf
from firmware.cli.main import main
from firmware.plans.updater import PlanUpdater, UpdateStatus
from firmware.protocol.plan_envelope import DeviceKey, sign_plan
from tests.cli_fork import presspoint as forked_presspoint
from tests.conftest import DEVICE_MAX_N, PRESSPOINT, ROOT, SPEED_LAG
from tests.mqtt_broker import Collector, Mosquitto

DEFAULT_PLAN = ROOT / "config" / "defaults" / "plan.toml"
QUICK_PLAN = ROOT / "config" / "examples" / "quick-test.toml"
PROFILES = ROOT / "config" / "examples" / "profiles"
#: What a session decided, as opposed to when (ids, clock times, sample counts).
DECISION_FIELDS = ("outcome", "abort", "stop_source", "plan", "cues", "sensor_glitches")
HOLD_DECISIONS = ("index", "outcome", "breath_cues")


def presspoint(*args: str, env: dict[str, str], stdin: str | None = None, timeout: float = 120) -> Any:
    return forked_presspoint(*args, input=stdin, env=env, timeout=timeout, cwd=ROOT)


def device_config(folder: Path, device_id: str, extra: str = "") -> Path:
    path = folder / "device.toml"
    path.write_text(f'device_id = "{device_id}"\n{extra}[storage]\nstate_dir = "{folder / "state"}"\n')
    return path


def summaries(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def decisions(summary: dict[str, Any]) -> dict[str, Any]:
    holds = [{key: hold[key] for key in HOLD_DECISIONS} for hold in summary["holds"]]
    return {**{key: summary[key] for key in DECISION_FIELDS}, "holds": holds}


# ------------------------------------------------------------ 1. the plan in force


def store_remote_plan(state_dir: Path, device_id: str, plan: TherapyPlan, version: int) -> None:
    """What an applied ``therapist plan push`` leaves on the device: the signed plan, stored."""
    key = DeviceKey.generate()
    updater = PlanUpdater(
        device_id=device_id, device_max_n=DEVICE_MAX_N, key=key, state_dir=state_dir, local_plan=TherapyPlan()
    )
    payload = sign_plan(plan, device_id=device_id, version=version, key=key).to_json()
    assert updater.handle(payload, session_running=False).status is UpdateStatus.APPLIED


@pytest.mark.asyncio
async def test_the_simulated_person_follows_the_remote_plan_in_force_from_rest(
    tmp_path: Path, mosquitto: Mosquitto, cli_env: dict[str, str]
) -> None:
    """A pushed 1 x 30 s plan outranks ``--plan``: it is said so, and every session presses to it from rest."""
    import asyncio

    pushed = TherapyPlan(target="3 kgf", tolerance="4 kgf", hold_s=30, repetitions=1, rest_s=5)
    store_remote_plan(tmp_path / "state", "first-1", pushed, version=1)
    config = device_config(tmp_path, "first-1")
    async with Collector(mosquitto.port, ["presspoint/first-1/status/info"]) as sub:
        proc = await asyncio.create_subprocess_exec(
            PRESSPOINT, "run", "--simulate", "--config", str(config), "--plan", str(DEFAULT_PLAN),
            "--sessions", "2", "--speed", "20", *SPEED_LAG, "--json", "--broker", mosquitto.url,
            "--flush-timeout", "10",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env, cwd=ROOT,
        )  # fmt: skip
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
        log = err.decode()
        assert proc.returncode == 0, log
        await sub.wait_for(lambda ms: any(json.loads(m.payload).get("plan_source") for m in ms), 15)
    first, second = summaries(out.decode())
    for summary in (first, second):
        assert summary["outcome"] == "completed", log
        assert summary["plan"]["hold_s"] == 30 and summary["plan"]["repetitions"] == 1
        [hold] = summary["holds"]
        assert hold["outcome"] == "completed" and hold["duration_s"] == pytest.approx(30.0)
        # From rest: the 2 s lead-in and the ramp come first, never a hold at 0.00 s.
        assert hold["started_at_s"] > 3.0, summary
    assert decisions(first) == decisions(second)
    said = [line for line in log.splitlines() if "plan in force:" in line]
    assert len(said) == 1 and "remote version 1" in said[0] and f"--plan {DEFAULT_PLAN}" in said[0], said
    status = json.loads(sub.messages[-1].payload)
    assert (status["plan_source"], status["plan_version"]) == ("remote", 1)


def test_a_session_after_one_that_never_let_go_starts_from_rest(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The trace never lets go, so the first session times out pressed; the person lets go at its end.

    Without that, samples taken just before the next start (still pressed) reached the next session: a
    hold "at 0.00 s".  How many did depended on the scheduler; with the rest there are none, every time.
    """
    trace = tmp_path / "press.csv"
    trace.write_text("time_s,force_n\n0,0\n1,0\n2,29.4\n")
    config = device_config(tmp_path, "first-0")
    run = presspoint(
        "run", "--simulate", "--config", str(config), "--plan", str(QUICK_PLAN), "--trace", str(trace),
        "--sessions", "3", "--speed", "50", *SPEED_LAG, "--json", env=cli_env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    done = summaries(run.stdout)
    assert [s["outcome"] for s in done] == ["timed_out"] * 3  # held, then never let go
    assert {decisions(s)["holds"][0]["outcome"] for s in done} == {"completed"}
    # Each from rest: the trace's 1 s at 0 N and its ramp come first (give or take a resting sample).
    assert all(s["holds"][0]["started_at_s"] > 1.8 for s in done), [s["holds"] for s in done]


def test_without_a_remote_plan_the_log_names_the_local_one(tmp_path: Path, cli_env: dict[str, str]) -> None:
    config = device_config(tmp_path, "first-2")
    run = presspoint(
        "run", "--simulate", "--config", str(config), "--plan", str(QUICK_PLAN), "--speed", "50", *SPEED_LAG,
        env=cli_env,
    )
    assert run.returncode == 0, run.stderr
    [said] = [line for line in run.stderr.splitlines() if "plan in force:" in line]
    assert "local" in said and f"--plan {QUICK_PLAN}" in said


# ------------------------------------------------------------ 2. simulate gates as run does


def test_simulate_refuses_an_uncleared_profile_as_run_does(tmp_path: Path, cli_env: dict[str, str]) -> None:
    config = device_config(tmp_path, "first-3", f'profile_file = "{PROFILES / "profile-uncleared.toml"}"\n')
    simulate = presspoint("simulate", "--config", str(config), "--json", env=cli_env)
    run = presspoint("run", "--simulate", "--config", str(config), "--speed", "20", *SPEED_LAG, "--json", env=cli_env)
    assert (simulate.returncode, run.returncode) == (3, 3), simulate.stderr + run.stderr
    assert simulate.stdout == run.stdout == ""
    [line] = simulate.stderr.splitlines()
    assert line.startswith("presspoint: session refused: ") and "osteoporosis: not cleared by a clinician" in line
    for text in (simulate.stderr, run.stderr):  # said once, on every line that says it
        assert "session refused" in text
        assert all(line.count("session refused") <= 1 for line in text.splitlines()), text


def test_simulate_applies_the_personal_tolerance_as_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = device_config(tmp_path, "first-4", f'profile_file = "{PROFILES / "profile-cleared.toml"}"\n')
    assert main(["simulate", "--config", str(config), "--json"]) == 0
    [summary] = summaries(capsys.readouterr().out)
    assert summary["plan"]["tolerance_n"] == pytest.approx(kgf(3.6))  # the profile's own, not the plan's 4 kgf
    # The person lowered it on the device since (kept in the state directory): simulate uses that too.
    (tmp_path / "state").mkdir(exist_ok=True)  # simulate records the course there already
    (tmp_path / "state" / "personal_tolerance.json").write_text(json.dumps({"tolerance_n": kgf(3.5)}))
    assert main(["simulate", "--config", str(config), "--json"]) == 0
    assert summaries(capsys.readouterr().out)[0]["plan"]["tolerance_n"] == pytest.approx(kgf(3.5))


# ------------------------------------------------------------ 3. exit codes


@pytest.mark.parametrize(
    ("scenario", "code"), [("normal", 0), ("stop", 0), ("overshoot", 4), ("sensor-dropout", 4), ("no-contact", 5)]
)
def test_simulate_exit_code_says_how_the_session_ended(
    scenario: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", "--scenario", scenario, "--json"]) == code
    assert len(summaries(capsys.readouterr().out)) == 1


# ------------------------------------------------------------ 4. --speed


def test_run_at_20x_decides_the_default_plan_as_simulate_does(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """238 simulated seconds at 20x (about 12 s of wall time); the timeout only guards against a hang."""
    config = device_config(tmp_path, "first-5")
    virtual = presspoint("simulate", "--config", str(config), "--json", env=cli_env)
    fast = presspoint(
        "run", "--simulate", "--config", str(config), "--speed", "20", *SPEED_LAG, "--json", env=cli_env, timeout=90
    )
    assert virtual.returncode == fast.returncode == 0, fast.stderr
    [expected], [got] = summaries(virtual.stdout), summaries(fast.stdout)
    assert got["outcome"] == "completed" and len(got["holds"]) == 3
    assert decisions(got) == decisions(expected)
    assert got["duration_s"] == pytest.approx(expected["duration_s"], abs=0.5)  # simulated seconds, not wall


@pytest.mark.parametrize(
    ("speed", "extra", "says"),
    [
        ("0", (), "--speed: must be a number from 1 to 100, got '0'"),
        ("101", (), "--speed: must be a number from 1 to 100"),
        ("nan", (), "--speed: must be a number from 1 to 100"),
        ("fast", (), "--speed: must be a number from 1 to 100, got 'fast'"),
        ("5", ("--backend", "hx711-spi"), "--speed: only with --simulate"),
        ("5", ("--simulate", "--pins"), "--speed: not with --pins"),
        ("5", ("--simulate", "--speed-lag", "0"), "--speed-lag must be at least 0.01 and at most 600 s, not 0"),
        ("5", ("--simulate", "--speed-lag", "inf"), "--speed-lag must be at least 0.01 and at most 600 s, not inf"),
        ("1", ("--simulate", "--speed-lag", "5"), "--speed-lag: only with --speed"),
    ],
)
def test_a_bad_speed_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], speed: str, extra: tuple[str, ...], says: str
) -> None:
    config = device_config(tmp_path, "first-6")
    assert main(["run", "--config", str(config), *extra, "--speed", speed]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "state").exists()  # nothing started


# ------------------------------------------------------------ 5. pressing the simulated button


def test_wait_button_starts_on_a_line_on_stdin(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """``--wait-button`` idles until the person presses; ``--press-on-stdin``: a line is a press."""
    config = device_config(tmp_path, "first-7")
    result = presspoint(
        "run", "--simulate", "--config", str(config), "--plan", str(QUICK_PLAN), "--wait-button",
        "--press-on-stdin", "--sessions", "1", "--speed", "20", *SPEED_LAG, "--json", env=cli_env, stdin="\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [summary] = summaries(result.stdout)
    assert summary["outcome"] == "completed" and summary["stop_source"] is None


def test_press_on_stdin_needs_simulated_hardware(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = device_config(tmp_path, "first-8")
    assert main(["run", "--config", str(config), "--backend", "hx711-spi", "--press-on-stdin"]) == 2
    assert "--press-on-stdin: only with --simulate" in capsys.readouterr().err


# ------------------------------------------------------------ 6. the key goes into device.toml


def test_keygen_says_where_plan_key_file_goes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["therapist", "keygen", "--device", "first-9", "--out", str(tmp_path / "dev.key")]) == 0
    out = capsys.readouterr().out
    assert 'plan_key_file = "/etc/presspoint/plan.key"' in out and "/etc/presspoint/device.toml" in out
