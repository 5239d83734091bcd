"""Two processes, each safe without the other: real processes, real signals, real pipes.

The session's force trace goes over the tolerance at 8.0 s into a 30 s hold.
The abort is decided on sample timestamps (25 ms debounce), so its session
time is exact to a sample period however loaded the machine is.  The sensor
runs at 10/s: these tests are about which process aborts, not about timing,
and the silent-sensor bound at 10/s (0.3 s) is beyond any scheduler hiccup of
an ordinary process on a loaded machine (at 80/s it is 37.5 ms, which a
loaded CI machine reached right after the kill).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import HANG_S, PRESSPOINT, ROOT

OVER_AT_S = 8.0
RATE_HZ = 10
PERIOD_S = 1 / RATE_HZ
DEBOUNCE_S = 0.025
PLAN = 'target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 30\nrepetitions = 1\nrest_s = 5\n'
TRACE = f"time_s,force_n\n0,0\n0.5,0\n1.5,29.4\n{OVER_AT_S},29.4\n{OVER_AT_S + 0.001},45\n40,45\n"
ABORT_LINE = re.compile(r"ended: aborted.*over_tolerance at (\d+\.\d+) s")


class Daemon:
    """``presspoint run --simulate`` in its own process group, stderr read line by line as it comes."""

    def __init__(self, folder: Path, prefix: tuple[str, ...] = ()) -> None:
        self.motor_log = folder / "motor.log"
        (folder / "plan.toml").write_text(PLAN)
        (folder / "trace.csv").write_text(TRACE)
        (folder / "device.toml").write_text(
            f'device_id = "rt-split"\nsample_rate_hz = {RATE_HZ}\n[storage]\nstate_dir = "{folder / "state"}"\n'
        )
        argv = [
            *prefix, PRESSPOINT, "run", "--simulate", "--json", "--sessions", "1",
            "--config", str(folder / "device.toml"), "--plan", str(folder / "plan.toml"),
            "--trace", str(folder / "trace.csv"), "--motor-log", str(self.motor_log),
        ]  # fmt: skip
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("NOTIFY_SOCKET", None)
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if found := regex.search(line):
                        return found
                left = deadline - time.monotonic()
                assert left > 0, f"{pattern!r} never logged; stderr:\n" + "\n".join(self.lines)
                self._changed.wait(left)

    def realtime_pid(self) -> int:
        return int(self.wait_for(r"real-time process started \(pid (\d+)\)").group(1))

    def motor_levels(self) -> list[float]:
        return [float(line.split()[1]) for line in self.motor_log.read_text().splitlines()]

    def finish(self, timeout: float = 40) -> tuple[str, int]:
        out = self.proc.stdout.read() if self.proc.stdout is not None else ""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return out, code

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGCONT)
        self.proc.wait(10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(*prefix: str) -> Daemon:
        started.append(Daemon(tmp_path, prefix))
        return started[-1]

    yield start
    for one in started:
        one.kill_all()


def assert_aborted_at_the_bound(at_s: float) -> None:
    """The first sample over the tolerance comes within a period of the jump; the debounce ends on a sample."""
    debounce_periods = math.ceil(DEBOUNCE_S / PERIOD_S - 1e-9)
    first_over = at_s - debounce_periods * PERIOD_S
    assert OVER_AT_S - 1e-6 <= first_over <= OVER_AT_S + PERIOD_S + 1e-6, at_s


def test_a_killed_service_leaves_the_realtime_process_to_abort_and_stop_the_motor(
    daemon: Callable[..., Daemon],
) -> None:
    run = daemon()
    realtime_pid = run.realtime_pid()
    run.wait_for(r"phase: hold|tared")
    time.sleep(1.0)  # into the hold, well before the over-tolerance at 8 s
    os.kill(run.proc.pid, signal.SIGKILL)  # the service only
    run.wait_for("the service process is gone")
    abort = run.wait_for(ABORT_LINE.pattern)
    assert_aborted_at_the_bound(float(abort.group(1)))
    _, code = run.finish()
    assert code == -signal.SIGKILL
    deadline = time.monotonic() + 20
    while Path(f"/proc/{realtime_pid}").exists() and time.monotonic() < deadline:  # it leaves after the attempt
        time.sleep(0.05)
    assert not Path(f"/proc/{realtime_pid}").exists() or "zombie" in Path(f"/proc/{realtime_pid}/status").read_text()
    levels = run.motor_levels()
    assert 1.0 in levels and levels[-1] == 0.0  # the abort buzz was played, and the motor ended off


def test_a_stalled_service_never_delays_an_abort_and_loses_nothing(daemon: Callable[..., Daemon]) -> None:
    run = daemon()
    run.realtime_pid()
    run.wait_for("tared")
    os.kill(run.proc.pid, signal.SIGSTOP)  # the service stalls for the rest of the hold
    try:
        abort = run.wait_for(ABORT_LINE.pattern, timeout=HANG_S)  # the real-time process logs it itself
    finally:
        os.kill(run.proc.pid, signal.SIGCONT)
    assert_aborted_at_the_bound(float(abort.group(1)))
    out, code = run.finish()
    assert code == 0, "\n".join(run.lines)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["outcome"] == "aborted" and summary["abort"]["reason"] == "over_tolerance"
    assert summary["abort"]["at_s"] == pytest.approx(float(abort.group(1)), abs=1e-3)
    # Every sample the session took reached the store through the stall (none was dropped).
    state, stored_samples = _stored(run)
    assert state == "finished" and stored_samples == summary["samples"]
    assert run.motor_levels()[-1] == 0.0


def test_a_killed_realtime_process_makes_the_service_drive_the_motor_low_and_exit_1(
    daemon: Callable[..., Daemon],
) -> None:
    run = daemon()
    realtime_pid = run.realtime_pid()
    run.wait_for("tared")
    time.sleep(0.5)
    os.kill(realtime_pid, signal.SIGKILL)
    _, code = run.finish()
    assert code == 1, "\n".join(run.lines)
    run.wait_for(r"the real-time process died \(killed by SIGKILL\); simulated motor off")
    assert run.motor_levels()[-1] == 0.0


def _stored(run: Daemon) -> tuple[str, int]:
    """The session's row state and the number of samples in its stored batches."""
    import sqlite3

    with sqlite3.connect(run.motor_log.parent / "state" / "presspoint.sqlite3") as db:
        [(state,)] = db.execute("SELECT state FROM sessions").fetchall()
        [(samples,)] = db.execute("SELECT SUM(n) FROM session_samples").fetchall()
    return state, int(samples)


def _policies(pid: int) -> set[int]:
    """The scheduling policy of every thread of ``pid``."""
    return {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def test_under_the_units_fifo_only_the_realtime_process_keeps_it(daemon: Callable[..., Daemon]) -> None:
    """As systemd starts it (CPUSchedulingPolicy=fifo): the child inherits FIFO, the service steps down."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except PermissionError:
        pytest.skip("real-time scheduling is not allowed here (needs root or CAP_SYS_NICE)")
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    run = daemon("chrt", "-f", "10")
    realtime_pid = run.realtime_pid()
    run.wait_for("tared")
    assert _policies(realtime_pid) == {os.SCHED_FIFO}
    assert _policies(run.proc.pid) == {os.SCHED_OTHER}
    os.killpg(run.proc.pid, signal.SIGTERM)
    _, code = run.finish()
    assert code == 143, "\n".join(run.lines)
