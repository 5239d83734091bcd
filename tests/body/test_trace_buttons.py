"""The trace's ``button`` column: parsing, bad values, and presses through the buttons of a simulated run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.device import DeviceConfig
from config.errors import InputFileError
from config.units import kgf
from firmware.device.options import RigOptions
from firmware.device.sim_setup import build_rig
from firmware.realtime.sinks import MemorySink
from firmware.realtime.virtual import run_virtual_session
from hal.clock import VirtualClock
from simulator.trace import ButtonPress, parse_trace_csv
from tests.body.helpers import body_plan
from tests.cli_fork import presspoint
from tests.conftest import HANG_S

TRACE = """time_s,force_n,button
0,0
1,29.4
5,,less
10,29.4,more
33,29.4
34,0
"""


def test_button_rows_keep_the_force_interpolation() -> None:
    trace = parse_trace_csv("time_s,force_n,button\n0,0\n2,,stop\n4,40\n", "t.csv")
    assert trace.presses == (ButtonPress(2.0, "stop"),)
    assert trace.force_at(2.0) == 20.0
    assert trace.force_at(3.0) == 30.0


def test_two_column_traces_have_no_presses_and_rows_may_omit_the_button() -> None:
    assert parse_trace_csv("time_s,force_n\n0,0\n1,5\n", "t.csv").presses == ()
    trace = parse_trace_csv(TRACE, "t.csv")
    assert [(p.time_s, p.name) for p in trace.presses] == [(5.0, "less"), (10.0, "more")]
    assert trace.force_at(10.0) == 29.4


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("3,1,push", "line 4: button must be empty or one of stop, less, more, mark, got 'push'"),
        ("3,,", "line 4: force_n is not a number: ''"),
        ("1,,stop", "line 4: time goes backwards"),
        ("3,1,stop,x", "line 4: expected 3 columns, got 4"),
    ],
)
def test_bad_button_rows_name_line_and_value(row: str, expected: str) -> None:
    with pytest.raises(InputFileError, match=expected):
        parse_trace_csv(f"time_s,force_n,button\n0,0\n2,5\n{row}\n", "t.csv")


def test_the_cli_refuses_a_bad_button_with_one_line_and_exit_2(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,force_n,button\n0,0\n2,5,harder\n")
    result = presspoint("simulate", "--trace", str(trace), "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "line 3" in result.stderr and "'harder'" in result.stderr


@pytest.mark.parametrize(
    ("command", "device", "trace", "said"),
    [
        (["run", "--simulate"], "", "2,5,harder", "line 3: button must be empty or one of stop, less, more, mark, got 'harder'"),  # noqa: E501
        (["run", "--simulate", "--pins"], "[hardware.pins]\nstop_button = 22\n", "2,,more", "no less_more button"),
        (["simulate", "--pins"], "[hardware.pins]\nstop_button = 22\n", "2,,less", "no less_more button"),
    ],
    ids=["run-bad-value", "run-second-button-stops", "simulate-second-button-stops"],
)
def test_a_press_no_button_can_make_is_one_line_and_exit_2_before_anything_runs(
    tmp_path: Path, command: list[str], device: str, trace: str, said: str
) -> None:
    (tmp_path / "t.csv").write_text(f"time_s,force_n,button\n0,0\n{trace}\n")
    (tmp_path / "d.toml").write_text(f'{device}[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    argv = [*command, "--config", str(tmp_path / "d.toml"), "--trace", str(tmp_path / "t.csv"), "--json"]
    result = presspoint(*argv, timeout=HANG_S)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and said in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())  # nothing started


@pytest.mark.parametrize("pins", [False, True])
def test_presses_reach_the_session_at_the_first_sample_at_or_after_their_time(tmp_path: Path, pins: bool) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TRACE.replace("10,29.4,more", "10.004,29.4,more") + "40,0,\n50,,stop\n")
    plan, device, clock = body_plan(repetitions=2), DeviceConfig(), VirtualClock()
    rig = build_rig(plan, device, clock, RigOptions(trace=path, pins=pins))
    try:
        summary = run_virtual_session(
            plan, sampler=rig.sampler, haptics=rig.haptics, clock=clock, device_id="t",
            device_max_n=device.device_max, presses=rig.presses, buttons=rig.buttons, person="P-17",
        )
    finally:
        rig.close()
    hold = summary.holds[0]
    assert [a.kind for a in hold.adjustments] == ["less", "more"]
    if pins:  # the emulated chip's conversions fall a little after the 80/s grid
        assert 5.0 <= hold.adjustments[0].at_s < 5.0125 and 10.004 <= hold.adjustments[1].at_s < 10.0165
    else:
        assert [a.at_s for a in hold.adjustments] == [5.0, 10.0125]
    assert hold.adjustments[-1].target_n == pytest.approx(kgf(3.0) * 0.9 * 1.1)
    assert summary.outcome == "stopped" and summary.duration_s == 50.0 and summary.stop_source == "button"
    assert summary.person == "P-17"
    if pins:
        assert rig.buttons[0].presses == 1  # type: ignore[attr-defined]  # the mock pin went low once
        assert rig.buttons[1].presses == 2  # type: ignore[attr-defined]  # less and more: the second pin, twice


def test_simulate_prints_the_check_ins_of_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(TRACE)
    plan = tmp_path / "plan.toml"
    plan.write_text('target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 30\nrepetitions = 1\n')
    result = presspoint("simulate", "--plan", str(plan), "--trace", str(path), "--json", check=True)
    summary = json.loads(result.stdout)
    assert [a["kind"] for a in summary["holds"][0]["adjustments"]] == ["less", "more"]
    assert summary["cues"]["adjusted"] == 2


@pytest.mark.parametrize("pins", [False, True])
def test_a_more_the_tolerance_forbids_is_refused_with_its_cue_and_event(tmp_path: Path, pins: bool) -> None:
    # 3 kgf, band 0.15, tolerance 4 kgf: 3.3 kgf × 1.15 < 4 kgf is taken, 3.63 kgf × 1.15 ≥ 4 kgf is not.
    path = tmp_path / "t.csv"
    path.write_text("time_s,force_n,button\n0,0\n1,29.4\n6,,more\n9,,more\n12,,stop\n")
    plan, device, clock, memory = body_plan(), DeviceConfig(), VirtualClock(), MemorySink()
    rig = build_rig(plan, device, clock, RigOptions(trace=path, pins=pins))
    try:
        summary = run_virtual_session(
            plan, sampler=rig.sampler, haptics=rig.haptics, clock=clock, device_id="t",
            device_max_n=device.device_max, presses=rig.presses, buttons=rig.buttons, sinks=[memory],
        )
    finally:
        rig.close()
    [hold] = summary.holds
    assert [(a.kind, a.target_n) for a in hold.adjustments] == [("more", pytest.approx(kgf(3.3)))]
    [refused] = [e for e in memory.events if e["type"] == "adjust_refused"]
    assert refused["kind"] == "more" and "tolerance" in refused["reason"] and 9.0 <= refused["t"] < 9.05
    assert summary.cues["adjust_refused"] == 1 and summary.cues["adjusted"] == 1
    assert summary.outcome == "stopped" and plan.tolerance == kgf(4.0)
