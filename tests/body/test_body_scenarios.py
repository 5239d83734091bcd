"""The scenarios of a body session, and how the readable summary shows spots, check-ins and timeouts."""

from __future__ import annotations

import json

import pytest

from firmware.cli.main import main


def simulate(capsys: pytest.CaptureFixture[str], *args: str) -> dict:  # type: ignore[type-arg]
    assert main(["simulate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_spots_scenario_runs_two_spots_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    summary = simulate(capsys, "--scenario", "spots")
    assert summary["outcome"] == "completed"
    assert [(s["name"], s["outcome"], s["holds"]) for s in summary["spots"]] == [
        ("left upper trapezius", "completed", [1, 2]),
        ("right upper trapezius", "completed", [3, 4]),
    ]
    assert summary["cues"]["next_spot"] == 1


def test_check_in_less_scenario_follows_the_lighter_target(capsys: pytest.CaptureFixture[str]) -> None:
    summary = simulate(capsys, "--scenario", "check-in-less")
    assert summary["outcome"] == "completed"
    assert [[a["kind"] for a in h["adjustments"]] for h in summary["holds"]] == [["less"]] * 3
    assert all(h["in_band_fraction"] == 1.0 for h in summary["holds"])
    assert summary["spots"][0]["final_target_n"] == pytest.approx(summary["plan"]["target_n"] * 0.9**3)


def test_progressive_scenario_raises_until_the_tolerance_refuses(capsys: pytest.CaptureFixture[str]) -> None:
    summary = simulate(capsys, "--scenario", "progressive")
    assert summary["outcome"] == "completed"
    assert summary["cues"]["adjusted"] == 1 and summary["cues"]["adjust_refused"] == 5
    plan = summary["plan"]
    assert summary["spots"][0]["final_target_n"] * (1 + plan["band"]) < plan["tolerance_n"]


def test_strokes_scenario_counts_light_contact_in_the_rests(capsys: pytest.CaptureFixture[str]) -> None:
    summary = simulate(capsys, "--scenario", "strokes")
    assert summary["outcome"] == "completed"
    strokes = [h["rest_stroke_s"] for h in summary["holds"]]
    assert strokes[0] > 10 and strokes[1] > 10 and strokes[2] == 0.0
    assert summary["cues"]["too_hard"] == 1  # the one firmer press in the first rest


def test_the_readable_summary_shows_spots_and_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--scenario", "spots"]) == 0
    out = capsys.readouterr().out
    assert "1. left upper trapezius: completed" in out and "holds #1, #2" in out
    assert main(["simulate", "--scenario", "no-contact"]) == 5  # simulate exits 5 when the session timed out
    assert "TIMED_OUT: waited for contact until 30.000 s" in capsys.readouterr().out
