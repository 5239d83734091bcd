"""Pain ratings through ``presspoint run``: the real-time process asks, the service stores them.

A real process pair on simulated hardware; each line on its standard input is
one short press of the simulated button (``--press-on-stdin``).  The test
presses only once the log says the device asks (events, not timing), and all
presses of a rating go in one write, so they arrive together.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from firmware.outcomes.store import OutcomeStore
from tests.device.pressing import PROFILE, line_with, pressed_daemon, rating_device


@pytest.mark.asyncio
async def test_ratings_entered_on_the_device_reach_the_summary_and_the_course(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE.read_text().replace('name = "P-017"', 'name = "P-017"\nrate_pain = true'))
    config = rating_device(tmp_path, "rate-2", profile, tmp_path / "state")
    seen: list[str] = []
    async with pressed_daemon(config, cli_env) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(b"\n")  # the start press: the device asks for the rating first
        await line_with(proc.stderr, "asking for a pain rating (before the session)", seen)
        proc.stdin.write(b"\n\n\n")  # 3
        await line_with(proc.stderr, "asking for a pain rating (after the session)", seen)
        proc.stdin.write(b"\n\n")  # 2
        await proc.stdin.drain()
        proc.stdin.close()  # no more presses (the reader of standard input ends)
        async with asyncio.timeout(120):
            out, err = await proc.communicate()
    assert proc.returncode == 0, "".join(seen) + err.decode()
    [summary] = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert (summary["pain_before"], summary["pain_after"]) == (3, 2)
    assert summary["outcome"] == "stopped" and summary["stop_source"] == "button"
    course = summary["course"]
    assert (course["sessions_rated"], course["baseline_pain"], course["latest_pain"]) == (1, 3, 3)
    [stored] = OutcomeStore(tmp_path / "state").load().sessions
    assert (stored.session_id, stored.pain_before, stored.pain_after) == (summary["session_id"], 3, 2)
