"""The real daemon (`presspoint run --simulate`) under a fake service manager (issue 6).

Real processes, real time: READY and steady watchdog pings while samples flow,
pings stop on a stalled loop or a dead sampling thread, SIGTERM mid-session
stops the session safely (motor off, summary stored), and SIGKILL mid-session
is closed as ``interrupted`` by the next start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HANG_S, PRESSPOINT, ROOT
from tests.systemd_support import WATCHDOG_USEC, FakeServiceManager

DB_NAME = "presspoint.sqlite3"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    config = tmp_path / "device.toml"
    # 10/s: a silent-sensor bound (0.3 s) no scheduler hiccup on a loaded machine reaches.
    config.write_text(
        f'device_id = "daemon-test"\nsample_rate_hz = 10\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    return tmp_path


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the service and its real-time process
        proc.communicate(timeout=HANG_S)


def start(
    manager: FakeServiceManager, state: Path, *args: str, watchdog_pid: str | None = None
) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        NOTIFY_SOCKET=str(manager.path),
        WATCHDOG_USEC=str(WATCHDOG_USEC),
        PYTHONPATH=str(ROOT),
        PRESSPOINT_FAULT_INJECTION="1",
    )
    env.pop("WATCHDOG_PID", None)
    if watchdog_pid is not None:
        env["WATCHDOG_PID"] = watchdog_pid
    argv = [PRESSPOINT, "run", "--simulate", "--config", str(state / "device.toml"), "--json", *args]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=state, start_new_session=True
    )


def ready(manager: FakeServiceManager) -> float:
    return manager.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=HANG_S)


def sessions(state: Path) -> list[tuple[str, str, str | None, bytes | None]]:
    with sqlite3.connect(state / "state" / DB_NAME) as db:
        return db.execute("SELECT session_id, state, outcome, summary FROM sessions ORDER BY started_at").fetchall()


def hold_is_in_the_store(state: Path) -> bool:
    """The store has committed the hold's start and more than 10 samples, some taken after it."""
    db_file = state / "state" / DB_NAME
    if not db_file.exists():
        return False
    with contextlib.closing(sqlite3.connect(db_file)) as db:
        try:
            started = db.execute("SELECT MIN(t) FROM session_events WHERE body LIKE '%\"hold_started\"%'").fetchone()[0]
            count, last_t0 = db.execute("SELECT COALESCE(SUM(n), 0), MAX(t0) FROM session_samples").fetchone()
        except sqlite3.OperationalError:  # the tables are not made yet
            return False
    return started is not None and count > 10 and last_t0 is not None and last_t0 > started


def test_idle_daemon_is_ready_pings_steadily_and_stops_on_sigterm(
    manager: FakeServiceManager,
    state: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    proc = start(manager, state, "--sessions", "0", "--wait-button")
    procs.append(proc)
    t_ready = ready(manager)
    assert manager.wait_for(lambda m: "STATUS=phase: idle" in m, timeout=HANG_S)
    # Pings keep coming: wait (bounded) for 15 after READY.  How evenly they come is
    # a matter of the machine's load, measured in bench/bench_watchdog_gaps.py.
    manager.wait_for_count("WATCHDOG=1", 15, since=t_ready, timeout=HANG_S)
    proc.send_signal(signal.SIGTERM)
    manager.wait_for(lambda m: "STOPPING=1" in m.split("\n"), timeout=HANG_S)
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 143, err  # stopped by SIGTERM, in order


@pytest.mark.parametrize("fault", [signal.SIGUSR1, signal.SIGUSR2], ids=["stalled-loop", "dead-sampler"])
def test_pings_stop_when_the_loop_stalls_or_the_sampler_dies(
    manager: FakeServiceManager,
    state: Path,
    procs: list[subprocess.Popen[str]],
    fault: signal.Signals,
) -> None:
    """No ping after the fault took hold, told by the order of the notify messages, not by a clock.

    A stalled loop pings no more from the moment the fault says so on the notify
    socket.  A dead sampler is noticed on the loop's next look at it (pings until
    then are honest), and the daemon then stops: nothing pings after its STOPPING.
    """
    proc = start(manager, state, "--sessions", "0", "--wait-button")
    procs.append(proc)
    t_ready = ready(manager)
    manager.wait_for_count("WATCHDOG=1", 5, since=t_ready, timeout=HANG_S)
    what = "stalling the control loop" if fault == signal.SIGUSR1 else "killing the sampling thread"
    marker = f"STATUS=fault injection: {what}"
    proc.send_signal(fault)
    manager.wait_for(lambda m: marker in m.split("\n"), timeout=HANG_S)
    if fault == signal.SIGUSR2:
        # A dead sampler cannot be fixed in-process: the daemon leaves with an error
        # (Restart=on-failure restarts it at once, before the watchdog would).
        _, err = proc.communicate(timeout=HANG_S)
        assert proc.returncode == 1, err
        assert "sampling thread died" in err
        manager.drain(timeout=60)
        stopping = [m.split("\n") for m in manager.after(marker) if "STOPPING=1" in m.split("\n")]
        assert stopping and "STATUS=stopping (sampler died)" in stopping[0], manager.after(marker)
        late = manager.after("STOPPING=1")
    else:
        time.sleep(1.0)  # a window for pings that should not come (about 20 ping periods; fewer under load)
        # What systemd does when WatchdogSec= runs out: SIGABRT; the journal then shows where it hung.
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=HANG_S)
        assert proc.returncode == -signal.SIGABRT
        assert "Fatal Python error: Aborted" in err
        assert "stall_control_loop" in err
        manager.drain(timeout=60)
        late = manager.after(marker)
    assert f"fault injection: {what}" in err
    assert [m for m in late if "WATCHDOG=1" in m.split("\n")] == [], f"pings went on: {late}"


def test_sigterm_mid_session_stops_safely(
    manager: FakeServiceManager,
    state: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    motor_log = state / "motor.log"
    proc = start(manager, state, "--sessions", "1", "--motor-log", str(motor_log))
    procs.append(proc)
    ready(manager)
    manager.wait_for(lambda m: "STATUS=phase: hold" in m, timeout=HANG_S)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 143, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["outcome"] == "stopped"
    assert summary["stop_source"] == "sigterm"
    assert summary["holds"][0]["outcome"] == "stopped"
    levels = [float(line.split()[1]) for line in motor_log.read_text().splitlines()]
    assert levels and max(levels) > 0  # cues were played
    assert levels[-1] == 0.0  # and the motor ended off
    [(session_id, row_state, outcome, stored)] = sessions(state)
    assert (session_id, row_state, outcome) == (summary["session_id"], "finished", "stopped")
    assert stored is not None and json.loads(stored)["outcome"] == "stopped"


def test_sigkill_mid_session_is_closed_as_interrupted_on_restart(
    manager: FakeServiceManager,
    state: Path,
    procs: list[subprocess.Popen[str]],
) -> None:
    proc = start(manager, state, "--sessions", "1")
    procs.append(proc)
    ready(manager)
    manager.wait_for(lambda m: "STATUS=phase: hold" in m, timeout=HANG_S)
    deadline = time.monotonic() + 60  # a hang's bound: the store commits a batch each second
    while not hold_is_in_the_store(state):
        assert time.monotonic() < deadline, "the hold's start and samples after it never reached the store"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # a crash or a power cut: both processes at once
    proc.communicate(timeout=HANG_S)
    [(session_id, row_state, _, _)] = sessions(state)
    assert row_state == "running"

    restarted_at = time.monotonic()
    again = start(manager, state, "--sessions", "0", "--wait-button")
    procs.append(again)
    deadline = time.monotonic() + 60
    while not manager.times("READY=1", since=restarted_at):  # this process's READY, not the first one's
        assert time.monotonic() < deadline, "the restarted daemon never became ready"
        time.sleep(0.02)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sessions(state)[0][1] != "finished":
        time.sleep(0.05)
    [(same_id, row_state, outcome, stored)] = sessions(state)
    assert (same_id, row_state, outcome) == (session_id, "finished", "interrupted")
    summary = json.loads(stored)  # type: ignore[arg-type]
    assert summary["outcome"] == "interrupted"
    assert summary["holds"] and summary["holds"][0]["outcome"] == "interrupted"
    assert summary["samples"] > 10
    again.send_signal(signal.SIGTERM)
    _, err = again.communicate(timeout=HANG_S)
    assert again.returncode == 143, err


def test_no_pings_when_the_watchdog_is_for_another_pid(
    manager: FakeServiceManager, state: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """WATCHDOG_PID names another process: systemd did not ask *us* for pings."""
    proc = start(manager, state, "--sessions", "0", "--wait-button", watchdog_pid="1")
    procs.append(proc)
    t_ready = ready(manager)
    time.sleep(0.5)  # an observation window
    assert manager.times("WATCHDOG=1", since=t_ready) == []
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130, err  # 128 + SIGINT
