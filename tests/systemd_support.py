"""Helpers for checking the systemd unit on a machine where systemd is not PID 1.

``systemd-analyze verify`` checks that ExecStart= names an executable, and
``/opt/presspoint/venv/bin/presspoint`` does not exist on a CI machine.  Instead
of rewriting ExecStart (which would verify a different unit), the unit is
verified unchanged inside a staged root (``--root``): the unit goes to
``ROOT/etc/systemd/system``, the host's ``*.target`` units (needed for the
default dependencies) to ``ROOT/usr/lib/systemd/system``, and the ExecStart
path is an executable in ROOT, a stub or the real console script from a venv.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT_NAME = "presspoint.service"
UNIT_SOURCE = REPO / "systemd" / UNIT_NAME
HOST_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def systemd_analyze() -> str:
    """Path of systemd-analyze; skip locally without it, but fail in CI (CI must check the unit)."""
    path = shutil.which("systemd-analyze")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze not found: CI must `apt-get install systemd`")
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    return path


def parse_unit(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment; keys may repeat, as systemd allows."""
    entries: list[tuple[str, str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(text: str, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in parse_unit(text) if s == section and k == key]


def exec_start_binary(text: str) -> str:
    (exec_start,) = unit_values(text, "ExecStart")
    return shlex.split(exec_start.lstrip("-@:+!"))[0]


def stage_root(root: Path, unit_text: str | None = None, *, stub_exec: bool = True) -> Path:
    """Lay out ``root`` so that ``systemd-analyze verify --root`` can load our unit.

    Returns the installed unit's path.  ``unit_text=None`` keeps an already
    installed unit (e.g. by install.sh); ``stub_exec`` creates an executable
    stub at the ExecStart path unless something is already there.
    """
    unit_path = root / "etc/systemd/system" / UNIT_NAME
    if unit_text is not None:
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        unit_path.write_text(unit_text)
    lib = root / "usr/lib/systemd/system"
    lib.mkdir(parents=True, exist_ok=True)
    host = next((d for d in HOST_UNIT_DIRS if d.is_dir()), None)
    if host is None:
        pytest.skip("no host unit directory to take the standard targets from")
    for target in host.glob("*.target"):
        resolved = target.resolve()
        if resolved.is_file() and resolved.stat().st_size > 0:  # skip masked (/dev/null) units
            shutil.copyfile(resolved, lib / target.name)
    binary = root / exec_start_binary(unit_path.read_text()).lstrip("/")
    if stub_exec and not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\nexit 0\n")
        binary.chmod(0o755)
    return unit_path


def verify_in_root(root: Path) -> subprocess.CompletedProcess[str]:
    """``systemd-analyze verify`` of the unit installed in ``root``, output captured."""
    return subprocess.run(
        [systemd_analyze(), "verify", f"--root={root}", UNIT_NAME],
        capture_output=True,
        text=True,
        timeout=60,
    )


# ---------------------------------------------------------------- a fake service manager

#: A short watchdog for the daemon tests: pings are due every 50 ms (a quarter).
WATCHDOG_USEC = 200_000
TIMEOUT_S = WATCHDOG_USEC / 1_000_000


class FakeServiceManager:
    """Receives sd_notify datagrams on a real socket and timestamps them."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    def times(self, field_: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        with self._lock:
            return [t for t, m in self.messages if since <= t < until and field_ in m.split("\n")]

    def wait_for_count(self, field_: str, count: int, since: float, timeout: float) -> list[float]:
        """Arrival times of ``field_`` since ``since`` once there are ``count`` of them (bounded wait)."""
        deadline = time.monotonic() + timeout
        while len(found := self.times(field_, since)) < count:
            assert time.monotonic() < deadline, f"{len(found)} of {count} {field_} within {timeout} s"
            time.sleep(0.01)
        return found

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> float:
        """Arrival time of the first message (ever) matching ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for t, m in self.messages:
                    if predicate(m):
                        return t
            time.sleep(0.01)
        raise AssertionError(f"no matching message within {timeout} s: {self.messages[-5:]}")

    def drain(self, timeout: float) -> None:
        """Return once every datagram sent so far has been received (a marker of ours, sent now, came in)."""
        token = f"X-TEST-DRAINED={uuid.uuid4().hex}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(token.encode(), str(self.path))  # one queue: it arrives after all sent before it
        self.wait_for(lambda m: m == token, timeout)

    def after(self, field_: str) -> list[str]:
        """Messages received after the first one carrying ``field_``, in order of arrival (none if it never came)."""
        with self._lock:
            fields = [m.split("\n") for _, m in self.messages]
        firsts = [i for i, f in enumerate(fields) if field_ in f]
        return ["\n".join(f) for f in fields[firsts[0] + 1:]] if firsts else []
