"""A real ``presspoint run`` on simulated hardware whose button is pressed by lines on its standard input.

Each line is one short press (``--press-on-stdin``); a test presses only once
the log says the device asks (``line_with``: events, not timing).
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import PRESSPOINT, ROOT
from tests.helpers import profile_device

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"


def rating_device(tmp_path: Path, device_id: str, profile: Path, state: Path) -> Path:
    """The device config: ``device_id`` at 10 Hz with ``profile`` and its state in ``state``."""
    return profile_device(tmp_path, device_id, profile=profile, state=state, extra="sample_rate_hz = 10\n")


async def line_with(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    """Read ``stream`` up to the line holding ``text`` (every line read goes into ``seen``)."""
    while True:
        async with asyncio.timeout(120):
            line = (await stream.readline()).decode()
        assert line, f"the daemon ended before saying {text!r}:\n{''.join(seen)}"
        seen.append(line)
        if text in line:
            return


@contextlib.asynccontextmanager
async def pressed_daemon(config: Path, env: dict[str, str], *extra: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """One session (``--json``) started by a press; killed at the end if it is still running."""
    proc = await asyncio.create_subprocess_exec(
        PRESSPOINT, "run", "--simulate", "--config", str(config), "--wait-button", "--press-on-stdin",
        "--press-at", "1", "--sessions", "1", "--json", *extra,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
