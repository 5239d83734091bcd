"""End to end: a daemon process under a fake service manager (NOTIFY_SOCKET + WATCHDOG_USEC).

The test plays systemd: it binds the notify socket, starts the daemon with a
200 ms watchdog, and checks READY, steady pings, pings stopping on a stalled
loop or a dead sampler, and SIGTERM -> STOPPING=1 -> clean exit.

``DAEMONS`` lists the processes under test.  Today it holds the stand-in
``tests/watchdog_daemon.py``; the real daemon joins by adding a
:class:`DaemonUnderTest` whose ``argv`` runs ``presspoint run --simulate ...``
and whose ``stall_loop``/``kill_sampler`` trigger its fault-injection hooks.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WATCHDOG_USEC = 200_000
TIMEOUT_S = WATCHDOG_USEC / 1_000_000


@dataclass
class DaemonUnderTest:
    name: str
    argv: list[str]
    stall_loop: Callable[[subprocess.Popen[str]], None]
    kill_sampler: Callable[[subprocess.Popen[str]], None]
    stall_frame: str  # a function name the crash dump must show for a stalled loop
    env: dict[str, str] = field(default_factory=dict)


def _send(sig: signal.Signals) -> Callable[[subprocess.Popen[str]], None]:
    return lambda proc: proc.send_signal(sig)


DAEMONS = [
    DaemonUnderTest(
        name="stand-in",
        argv=[sys.executable, str(REPO / "tests" / "watchdog_daemon.py"), "--rate", "80"],
        stall_loop=_send(signal.SIGUSR1),
        kill_sampler=_send(signal.SIGUSR2),
        stall_frame="stall",
    ),
]


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


@pytest.fixture
def manager() -> Iterator[FakeServiceManager]:
    with tempfile.TemporaryDirectory(prefix="pp-sd-", dir="/tmp") as d:
        m = FakeServiceManager(Path(d))
        yield m
        m.close()


@pytest.fixture(params=DAEMONS, ids=lambda d: d.name)
def daemon(request: pytest.FixtureRequest) -> DaemonUnderTest:
    spec: DaemonUnderTest = request.param
    return spec


def start(spec: DaemonUnderTest, manager: FakeServiceManager, **extra_env: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(
        NOTIFY_SOCKET=str(manager.path),
        WATCHDOG_USEC=str(WATCHDOG_USEC),
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
    )
    env.pop("WATCHDOG_PID", None)
    env.pop("JOURNAL_STREAM", None)
    env.update(spec.env)
    env.update(extra_env)
    return subprocess.Popen(spec.argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)


def ready(manager: FakeServiceManager) -> float:
    return manager.wait_for(lambda m: "READY=1" in m.split("\n"), timeout=15)


def test_ready_steady_pings_and_sigterm(
    daemon: DaemonUnderTest, manager: FakeServiceManager, procs: list[subprocess.Popen[str]]
) -> None:
    proc = start(daemon, manager)
    procs.append(proc)
    t_ready = ready(manager)
    time.sleep(1.5)
    t_end = time.monotonic()
    pings = manager.times("WATCHDOG=1", since=t_ready + 0.2, until=t_end)
    assert len(pings) >= 15, pings  # a ping every 50 ms: ~26 expected in 1.3 s
    gaps = [b - a for a, b in zip([t_ready + 0.2, *pings], [*pings, t_end], strict=True)]
    assert max(gaps) < TIMEOUT_S, f"systemd would have restarted us: gap {max(gaps):.3f} s"

    t_term = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    t_stopping = manager.wait_for(lambda m: "STOPPING=1" in m.split("\n"), timeout=5)
    out, err = proc.communicate(timeout=8)
    assert proc.returncode == 0, err
    assert t_stopping - t_term < 2.0
    assert json.loads(out.strip().splitlines()[-1])["stopped_by"] == "SIGTERM"


def test_stalled_loop_stops_pings_and_the_abort_shows_where(
    daemon: DaemonUnderTest, manager: FakeServiceManager, procs: list[subprocess.Popen[str]]
) -> None:
    proc = start(daemon, manager)
    procs.append(proc)
    t_ready = ready(manager)
    time.sleep(0.5)
    assert len(manager.times("WATCHDOG=1", since=t_ready)) >= 5

    t_stall = time.monotonic()
    daemon.stall_loop(proc)
    time.sleep(1.2)
    late = manager.times("WATCHDOG=1", since=t_stall + 0.1)
    assert late == [], f"pings went on during the stall: {late}"

    proc.send_signal(signal.SIGABRT)  # what systemd does when WatchdogSec= expires
    _, err = proc.communicate(timeout=5)
    assert proc.returncode == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in err
    assert f"in {daemon.stall_frame}" in err  # faulthandler names the stuck frame


def test_dead_sampler_stops_pings_while_loop_lives(
    daemon: DaemonUnderTest, manager: FakeServiceManager, procs: list[subprocess.Popen[str]]
) -> None:
    proc = start(daemon, manager)
    procs.append(proc)
    ready(manager)
    time.sleep(0.5)

    t_kill = time.monotonic()
    daemon.kill_sampler(proc)
    t_withheld = manager.wait_for(lambda m: m.startswith("STATUS=watchdog withheld: no samples"), timeout=2)
    assert t_withheld - t_kill < 0.5
    time.sleep(1.0)
    late = manager.times("WATCHDOG=1", since=t_withheld)
    assert late == [], f"pings without samples: {late}"

    proc.send_signal(signal.SIGTERM)  # stopping still works with the sampler gone
    manager.wait_for(lambda m: "STOPPING=1" in m.split("\n"), timeout=5)
    _, err = proc.communicate(timeout=8)
    assert proc.returncode == 0, err


def test_no_pings_when_the_watchdog_is_for_another_pid(
    daemon: DaemonUnderTest, manager: FakeServiceManager, procs: list[subprocess.Popen[str]]
) -> None:
    proc = start(daemon, manager, WATCHDOG_PID="1")
    procs.append(proc)
    t_ready = ready(manager)
    time.sleep(0.5)
    assert manager.times("WATCHDOG=1", since=t_ready) == []
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=8)
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["stopped_by"] == "SIGINT"
