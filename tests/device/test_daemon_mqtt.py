"""The real daemon process publishes a whole session to a real Mosquitto (issues 4 and 6 together)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.cli_fork import presspoint
from tests.conftest import HANG_S, PRESSPOINT, ROOT, SPEED_LAG
from tests.mqtt_broker import Collector, Mosquitto


@pytest.mark.asyncio
async def test_daemon_publishes_a_stopped_session_in_order(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "e2e-1"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    async with Collector(mosquitto.port, ["presspoint/e2e-1/#"]) as sub:
        proc = await asyncio.create_subprocess_exec(
            PRESSPOINT,
            "run",
            "--simulate",
            "--config",
            str(config),
            "--json",
            "--press-at",
            "6",
            "--speed",
            "20",
            *SPEED_LAG,
            "--broker",
            f"mqtt://127.0.0.1:{mosquitto.port}",
            "--flush-timeout",
            "10",
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=cli_env,
            cwd=ROOT,
        )
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        printed = json.loads(out.decode().strip().splitlines()[-1])
        sid = printed["session_id"]
        await sub.wait_for(lambda ms: any(m.topic.endswith(f"{sid}/summary") for m in ms), 15)

    summary = json.loads(sub.on(f"{sid}/summary")[-1].payload)
    assert summary == printed  # the very same summary, stopped by the simulated press
    assert summary["outcome"] == "stopped" and summary["stop_source"] == "button"
    events = [json.loads(m.payload) for m in sub.on(f"{sid}/event")]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, no duplicates
    assert [e["index"] for e in events] == list(range(len(events)))  # every event, in order
    assert any(e["event"]["type"] == "hold_started" for e in events)
    batches = [json.loads(m.payload) for m in sub.on(f"{sid}/samples")]
    assert [b["batch"] for b in batches] == list(range(len(batches)))
    assert sum(b["n"] for b in batches) == summary["samples"]  # every sample arrived
    status = [m for m in sub.messages if m.topic == "presspoint/e2e-1/status"]
    assert status and status[-1].payload == b"offline"  # said on the way out


def test_therapist_pushes_a_plan_to_the_running_daemon(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """keygen → the daemon (real process) with the key → plan push → applied, and the next session uses it."""
    import signal
    import time

    key = tmp_path / "plan.key"
    keygen = presspoint(
        "therapist",
        "keygen",
        "--device",
        "e2e-2",
        "--out",
        str(key),
        env=cli_env,
        timeout=HANG_S,
    )
    assert keygen.returncode == 0, keygen.stderr
    config = tmp_path / "device.toml"
    config.write_text(
        f'device_id = "e2e-2"\nplan_key_file = "{key}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
    )
    daemon = subprocess.Popen(
        [PRESSPOINT, "run", "--simulate", "--config", str(config), "--sessions", "0", "--wait-button"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env,
        cwd=ROOT,
    )
    try:
        broker = f"mqtt://127.0.0.1:{mosquitto.port}"
        plan = ROOT / "config" / "examples" / "gentle-neck.toml"
        deadline = time.monotonic() + 20

        def push_plan(key_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
            argv = ["--device", "e2e-2", "--file", str(plan), "--key", str(key_file), "--broker", broker, *extra]
            return presspoint("therapist", "plan", "push", *argv, env=cli_env, timeout=HANG_S)

        while True:  # the daemon answers once it is connected and subscribed
            push = push_plan(key, "--timeout", "3")
            if push.returncode == 0 or time.monotonic() > deadline:
                break
        assert push.returncode == 0, push.stdout + push.stderr
        show = presspoint(
            "therapist",
            "plan",
            "show",
            "--device",
            "e2e-2",
            "--broker",
            broker,
            env=cli_env,
            timeout=HANG_S,
        )
        assert show.returncode == 0, show.stderr
        assert "version 1" in show.stdout or '"version": 1' in show.stdout, show.stdout
        # A wrongly signed push is refused and the plan stays.
        other_key = tmp_path / "other.key"
        presspoint(
            "therapist",
            "keygen",
            "--device",
            "e2e-2",
            "--out",
            str(other_key),
            env=cli_env,
            timeout=HANG_S,
            check=True,
        )
        bad = push_plan(other_key, "--timeout", "5", "--version", "5")
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert "signature" in (bad.stdout + bad.stderr).lower()
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=HANG_S)
    assert daemon.returncode == 143, err  # stopped by SIGTERM, in order
    audit = (tmp_path / "state").rglob("*audit*")
    lines = [line for path in audit for line in path.read_text().splitlines()]
    assert any('"applied"' in line for line in lines) and any('"refused"' in line for line in lines), lines
