"""A real ``presspoint run`` with a plan key and a profile, waiting for the button, on a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.conftest import PRESSPOINT, ROOT
from tests.helpers import profile_device
from tests.mqtt_broker import Collector

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"


def keyed_device(tmp_path: Path, device_id: str, key_file: Path, state: Path) -> Path:
    """The device config: ``device_id``, the cleared example profile, ``key_file`` and ``state``."""
    return profile_device(tmp_path, device_id, profile=PROFILE, state=state, extra=f'plan_key_file = "{key_file}"\n')


@contextlib.asynccontextmanager
async def waiting_daemon(config: Path, port: int, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """``presspoint run --simulate --wait-button`` on the broker at ``port``; stopped with SIGTERM at the end."""
    daemon = await asyncio.create_subprocess_exec(
        PRESSPOINT, "run", "--simulate", "--wait-button", "--config", str(config),
        "--broker", f"mqtt://127.0.0.1:{port}",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        yield daemon
    finally:
        if daemon.returncode is None:
            daemon.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await daemon.communicate()


def statuses(sub: Collector) -> list[dict[str, Any]]:
    """Every ``person/status`` the device published (a cleared retained one left out)."""
    return [json.loads(m.payload) for m in sub.on("/person/status") if m.payload]
