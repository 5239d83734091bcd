"""A real daemon refuses a start (an uncleared profile): the collector stores it and ``sessions`` shows why."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from firmware.cli.main import main
from firmware.clinic import history
from firmware.therapist.collect import Collector
from tests.conftest import PRESSPOINT, ROOT
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import mqtt_settings, wait_until

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]


def refusing_daemon(tmp_path: Path, port: int, cli_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    profile = ROOT / "config" / "examples" / "profiles" / "profile-uncleared.toml"
    config = tmp_path / "device.toml"
    config.write_text(
        f'device_id = "ref-1"\nprofile_file = "{profile}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    )
    return subprocess.run(
        [PRESSPOINT, "run", "--simulate", "--config", str(config)],
        capture_output=True, text=True, env=cli_env, timeout=120,
    )


async def test_a_refused_start_is_collected_and_listed_with_its_reason(
    tmp_path: Path, mosquitto: Mosquitto, cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "therapist.sqlite3"
    collector = Collector(mqtt_settings(mosquitto.port), db, client_id="refusal-collector")
    task = asyncio.create_task(collector.run())
    async with asyncio.timeout(10):
        await collector.subscribed.wait()
    result = await asyncio.to_thread(refusing_daemon, tmp_path, mosquitto.port, cli_env)
    assert result.returncode == 3, result.stderr

    def refused_and_status() -> bool:
        found = history.refusals(collector.store.engine)
        return any(r.source == "event" for r in found) and collector.store.counts()["devices"] == 1

    await wait_until(collector, refused_and_status)
    collector.stop()
    async with asyncio.timeout(10):
        await task
    (refusal,) = history.refusals(collector.store.engine)  # the status copy of the same refusal is not repeated
    assert refusal.device_id == "ref-1" and "osteoporosis" in refusal.reason.lower()
    collector.close()

    assert main(["therapist", "sessions", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    (row,) = [line for line in listing.splitlines() if line.startswith("(start refused)")]
    assert "ref-1" in row and "refused" in row.split() and "osteoporosis" in row.lower()
    assert main(["therapist", "person", "--device", "ref-1", "--db", str(db)]) == 0
    assert "start refused at" in capsys.readouterr().out
