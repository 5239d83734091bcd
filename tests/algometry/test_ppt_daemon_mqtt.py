"""``run --mode ppt``: the two-process daemon runs a whole measurement and a real Mosquitto gets ``ppt/2``."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from firmware.storage.ppt_history import FILE_NAME
from tests.conftest import PRESSPOINT, ROOT, SPEED_LAG
from tests.mqtt_broker import Collector, Mosquitto

SCHEMA = json.loads((ROOT / "config" / "schema" / "mqtt-ppt-2.schema.json").read_text())


async def run_ppt(config: Path, port: int, env: dict[str, str]) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        PRESSPOINT,
        "run",
        "--simulate",
        "--config",
        str(config),
        "--mode",
        "ppt",
        "--speed",
        "20",
        *SPEED_LAG,
        "--json",
        "--broker",
        f"mqtt://127.0.0.1:{port}",
        "--flush-timeout",
        "10",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    async with asyncio.timeout(120):  # not wait_for: it can swallow a cancellation on 3.11 (gh-86296)
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert "pain threshold measurement ended: completed, 1 spot(s) measured" in err.decode()
    [line] = out.decode().splitlines()
    printed: dict[str, object] = json.loads(line)
    return printed


@pytest.mark.asyncio
async def test_run_mode_ppt_publishes_each_measurement_retained_with_the_change(
    mosquitto: Mosquitto, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "ppt-m"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    async with Collector(mosquitto.port, ["presspoint/ppt-m/ppt"]) as sub:
        first = await run_ppt(config, mosquitto.port, cli_env)
        await sub.wait_for(lambda ms: len(ms) >= 1, 15)
        second = await run_ppt(config, mosquitto.port, cli_env)
        await sub.wait_for(lambda ms: len(ms) >= 2, 15)
    received = [json.loads(m.payload) for m in sub.messages]
    assert received == [first, second]  # what the device measured, as it printed it
    for m in received:
        jsonschema.validate(m, SCHEMA)
        assert m["schema"] == "presspoint.ppt/2" and len(m["trials"]) == 3
    assert first["change_kpa"] is None and first["real_change"] is None
    # The same simulated person twice: the same thresholds, no change, kept in the state dir.
    assert second["change_kpa"] == 0.0 and second["real_change"] is False
    history = json.loads((tmp_path / "state" / FILE_NAME).read_text())
    assert history["people"][""]["plan"]["measurement_id"] == second["measurement_id"]
    async with Collector(mosquitto.port, ["presspoint/ppt-m/ppt"]) as late:  # retained: a late subscriber
        await late.wait_for(lambda ms: len(ms) >= 1, 15)
    [retained] = late.messages
    assert retained.retain and json.loads(retained.payload) == second
