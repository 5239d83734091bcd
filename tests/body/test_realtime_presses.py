"""A trace's ``button`` column on the real-time paths: ``simulate --realtime`` and the daemon of ``run --simulate``.

Each runs as a real process, with simulated buttons or (``--pins``) the mock
button pins of the emulated rig; what is checked is what the summary says
happened (the check-ins and the stop, through the device's button code),
never how long it took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from config.units import kgf
from tests.cli_fork import presspoint
from tests.conftest import ROOT

#: Real seconds a process gets before the test calls it hung (the trace is 5.5 s long).
HANG_S = 90.0

TRACE = """time_s,force_n,button
0,0
0.5,29.4
2,,less
4,29.4,more
5.5,,stop
9,29.4
"""
PLAN = 'target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 30\nrepetitions = 1\n'


def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    trace, plan, device = tmp_path / "t.csv", tmp_path / "plan.toml", tmp_path / "device.toml"
    trace.write_text(TRACE)
    plan.write_text(PLAN)
    device.write_text(f'sample_rate_hz = 10\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    return trace, plan, device


@pytest.mark.parametrize("pins", [[], ["--pins"]], ids=["simulated-buttons", "mock-pins"])
@pytest.mark.parametrize("command", [["simulate", "--realtime"], ["run", "--simulate"]], ids=["simulate", "run"])
def test_a_traces_presses_reach_the_session_through_the_buttons(
    tmp_path: Path, cli_env: dict[str, str], command: list[str], pins: list[str]
) -> None:
    trace, plan, device = files(tmp_path)
    argv = [*command, *pins, "--config", str(device), "--plan", str(plan), "--trace", str(trace), "--json"]
    result = presspoint(*argv, env=cli_env, cwd=ROOT, timeout=HANG_S)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.splitlines()[0])
    assert summary["outcome"] == "stopped" and summary["stop_source"] == "button", summary.get("abort")
    [hold] = summary["holds"]
    assert [a["kind"] for a in hold["adjustments"]] == ["less", "more"]  # "more": held 1.2 s, read on the release
    assert [a["target_n"] for a in hold["adjustments"]] == pytest.approx([kgf(3.0) * 0.9, kgf(3.0) * 0.9 * 1.1])
    assert summary["cues"]["adjusted"] == 2
