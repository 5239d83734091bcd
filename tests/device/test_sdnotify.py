"""sd_notify over real AF_UNIX datagram sockets, path and abstract, and the watchdog environment."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware.device.sdnotify import Notifier, watchdog_interval, watchdog_timeout


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # AF_UNIX paths are limited to 108 bytes; pytest's tmp_path can be longer.
    with tempfile.TemporaryDirectory(prefix="pp-notify-", dir="/tmp") as d:
        yield Path(d)


def bound_socket(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


def test_messages_arrive_as_single_datagrams(sock_dir: Path) -> None:
    path = sock_dir / "notify"
    with bound_socket(str(path)) as server:
        notifier = Notifier(str(path))
        assert notifier.enabled
        assert notifier.ready("phase: idle")
        assert notifier.status("phase: hold 1/3")
        assert notifier.watchdog()
        assert notifier.stopping()
        assert notifier.extend_timeout(2.5)
        got = [server.recv(4096) for _ in range(5)]
        notifier.close()
    assert got == [
        b"READY=1\nSTATUS=phase: idle",
        b"STATUS=phase: hold 1/3",
        b"WATCHDOG=1",
        b"STOPPING=1",
        b"EXTEND_TIMEOUT_USEC=2500000",
    ]


def test_abstract_socket_address() -> None:
    name = f"presspoint-test-{uuid.uuid4().hex}"
    with bound_socket(b"\0" + name.encode()) as server:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
        notifier.close()


def test_status_cannot_inject_fields(sock_dir: Path) -> None:
    path = sock_dir / "notify"
    with bound_socket(str(path)) as server:
        Notifier(str(path)).status("phase: hold\nREADY=1")
        assert server.recv(4096) == b"STATUS=phase: hold READY=1"


def test_noop_without_notify_socket() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()


def test_unsupported_address_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="firmware.device.sdnotify"):
        notifier = Notifier("vsock:2:1234")
    assert not notifier.enabled
    assert "unsupported NOTIFY_SOCKET" in caplog.text


def test_send_errors_are_logged_once_and_never_raised(sock_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier(str(sock_dir / "nobody-listens"))
    with caplog.at_level(logging.WARNING, logger="firmware.device.sdnotify"):
        results = [notifier.watchdog() for _ in range(50)]
    assert results == [False] * 50
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "WATCHDOG=1" in warnings[0].getMessage()


def test_full_receiver_queue_does_not_block(sock_dir: Path) -> None:
    """A service manager that stops reading must not stall the control loop."""
    path = sock_dir / "notify"
    with bound_socket(str(path)):  # bound, never read
        notifier = Notifier(str(path))
        results: list[bool] = []
        sender = threading.Thread(target=lambda: results.extend(notifier.status("x" * 1000) for _ in range(2000)))
        sender.start()
        sender.join(60)  # a hang's bound: a blocking send would never return with nobody reading
        blocked = sender.is_alive()
        notifier.close()
    assert not blocked, "a send blocked on the full receiver queue"
    assert results[0] is True
    assert False in results  # the queue filled up and sends were dropped, each at once


def test_sent_after_receiver_appears(sock_dir: Path) -> None:
    """A failure is not sticky: once the socket exists, messages go through."""
    path = sock_dir / "notify"
    notifier = Notifier(str(path))
    assert not notifier.watchdog()
    with bound_socket(str(path)) as server:
        assert notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "200000"}, 0.2),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "4242"}, 5.0),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "4243"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "200000", "WATCHDOG_PID": "me"}, None),
    ],
)
def test_watchdog_timeout(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_timeout(env, pid=4242) == expected


def test_watchdog_interval_is_half_by_default() -> None:
    env = {"WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == pytest.approx(0.1)
    assert watchdog_interval(env, fraction=0.25) == pytest.approx(0.05)
    assert watchdog_interval({}) is None
