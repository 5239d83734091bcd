"""One daemon per state directory, with the real ``presspoint run`` processes; and a watch that survives ``null``."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from firmware.service.state_lock import LOCK_NAME
from firmware.therapist.watch import WatchView
from tests.conftest import HANG_S, PRESSPOINT, ROOT


def _wait_for_pid(lock: Path, pid: int, timeout_s: float = 60.0) -> bool:
    """Bounded wait until the daemon has taken the lock and written its PID."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == str(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_second_daemon_on_the_same_state_dir_is_refused(tmp_path: Path, cli_env: dict[str, str]) -> None:
    state = tmp_path / "state"
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "lock-1"\n[storage]\nstate_dir = "{state}"\n')
    argv = [PRESSPOINT, "run", "--simulate", "--config", str(config), "--sessions", "0", "--wait-button"]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env, cwd=ROOT)
    try:
        assert _wait_for_pid(state / LOCK_NAME, first.pid), "the first daemon never took the lock"
        second = subprocess.run(argv, capture_output=True, text=True, env=cli_env, cwd=ROOT, timeout=HANG_S)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.splitlines()
        assert len(lines) == 1 and f"PID {first.pid}" in lines[0] and "in use by another presspoint" in lines[0]
        assert first.poll() is None  # the first one runs on, untouched
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=HANG_S)
    assert first.returncode == 143, err  # stopped by SIGTERM, in order
    assert "interrupted" not in err and "UNIQUE constraint" not in err
    # The lock died with its holder: the next daemon takes it.
    again = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env, cwd=ROOT)
    try:
        assert _wait_for_pid(state / LOCK_NAME, again.pid)
    finally:
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=HANG_S)
    assert "in use by another presspoint" not in err


def test_watch_survives_a_null_threshold_payload() -> None:
    view = WatchView("d1")
    (line,) = view.handle("presspoint/d1/ppt", b"null")
    assert line.startswith("(unreadable message on presspoint/d1/ppt: not a JSON object")
    (line,) = view.handle("presspoint/d1/ppt", b'{"threshold_n": 29.42, "outcome": "measured"}')
    assert "pressure pain threshold: 29.4 N" in line
