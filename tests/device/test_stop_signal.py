"""SIGTERM at any moment of ``presspoint run`` is one orderly stop: exit 143, motor off.

Sent as systemd sends it, to the whole process group (the service and, once
started, its real-time process).  The moments are events, not delays: as soon
as the service catches SIGTERM at all (``SigCgt`` in ``/proc``, before any
configuration is read), as soon as the real-time child is started (before it
reported ready), and mid-session.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from firmware.device.signals import exit_code_for
from tests.device.test_realtime_process import Daemon, daemon  # noqa: F401  (the fixture)

STOPPED_BY_SIGTERM = 143


def catches(pid: int, sig: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (its ``SigCgt`` mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (int(sig) - 1) & 1)
    return False


def wait_until_it_catches_sigterm(run: Daemon) -> None:
    deadline = time.monotonic() + 60  # a hang's bound only
    while not catches(run.proc.pid, signal.SIGTERM):
        assert run.proc.poll() is None, "\n".join(run.lines)
        assert time.monotonic() < deadline, "the service never installed a SIGTERM handler"
        time.sleep(0.001)


def assert_stopped_in_order(run: Daemon) -> str:
    out, code = run.finish()
    log = "\n".join(run.lines)
    assert code == STOPPED_BY_SIGTERM, log
    assert "died" not in log and "Traceback" not in log, log
    if run.motor_log.exists():
        levels = run.motor_levels()
        assert not levels or levels[-1] == 0.0
    return out


def test_the_documented_code_is_128_plus_the_signal() -> None:
    assert exit_code_for(signal.SIGTERM) == STOPPED_BY_SIGTERM
    assert exit_code_for(signal.SIGINT) == 130


def test_sigterm_as_soon_as_the_service_is_up(daemon: Callable[..., Daemon]) -> None:  # noqa: F811
    run = daemon()
    wait_until_it_catches_sigterm(run)
    os.killpg(run.proc.pid, signal.SIGTERM)
    assert assert_stopped_in_order(run).strip() == ""  # no session ran


def test_sigterm_before_the_realtime_process_is_ready(daemon: Callable[..., Daemon]) -> None:  # noqa: F811
    run = daemon()
    run.realtime_pid()  # the child is started; it has not reported ready (nor tared)
    os.killpg(run.proc.pid, signal.SIGTERM)
    assert_stopped_in_order(run)


def test_sigterm_mid_session(daemon: Callable[..., Daemon]) -> None:  # noqa: F811
    run = daemon()
    run.wait_for("tared")
    os.killpg(run.proc.pid, signal.SIGTERM)
    summary = json.loads(assert_stopped_in_order(run).strip().splitlines()[-1])
    assert summary["outcome"] == "stopped" and summary["stop_source"] == "sigterm"
