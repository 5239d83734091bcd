"""Tell systemd how the daemon is doing (sd_notify), with the standard library only.

The protocol is one AF_UNIX datagram per message to the socket named by
``$NOTIFY_SOCKET``: newline-separated ``KEY=value`` fields such as ``READY=1``,
``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``.  A leading ``@`` in the address
names a socket in the abstract namespace (it becomes a NUL byte).

Why not a library: ``sdnotify`` (2017) swallows every error silently, and
``systemd-python`` needs libsystemd-dev to build on the Pi.  This module is a
few dozen lines, logs a failure once instead of hiding it, and never raises into
the control loop: losing a status message must not stop a session.  Sends are
non-blocking so that a stuck service manager cannot stall the loop either (a
dropped ``WATCHDOG=1`` is exactly what a stuck manager would see anyway).

Outside systemd (``$NOTIFY_SOCKET`` unset) every call is a cheap no-op, so the
runtime calls the same methods under ``presspoint run`` in a terminal.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from config.errors import one_line

log = logging.getLogger(__name__)


def _socket_address(raw: str) -> bytes | None:
    """The ``sendto`` address for a ``$NOTIFY_SOCKET`` value, or None if unusable.

    systemd only hands out absolute paths or abstract names (``@name``); anything
    else (e.g. ``vsock:`` addresses meant for VMs) is not ours to interpret.
    """
    if raw.startswith("@") and len(raw) > 1:
        return b"\0" + os.fsencode(raw[1:])
    if raw.startswith("/"):
        return os.fsencode(raw)
    return None


class Notifier:
    """Sends sd_notify messages; a no-op when not started by systemd with Type=notify.

    Thread-safe enough for its use: each message is one ``sendto`` on a datagram
    socket, which the kernel delivers whole or not at all.
    """

    def __init__(self, address: str | None = None) -> None:
        """``address`` is a ``$NOTIFY_SOCKET`` value; None or "" disables the notifier."""
        self._address = _socket_address(address) if address else None
        if address and self._address is None:
            log.warning("ignoring unsupported NOTIFY_SOCKET address %r", address)
        self._sock: socket.socket | None = None
        self._logged_errors: set[str] = set()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for via ``$NOTIFY_SOCKET`` (no-op if unset)."""
        environ = os.environ if env is None else env
        return cls(environ.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        """True when messages actually go somewhere."""
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"KEY=value"``) as one datagram; True if it was sent.

        Never raises: the first failure of each kind is logged at WARNING, repeats
        at DEBUG, so a broken socket cannot flood the journal at 80 Hz.
        """
        if self._address is None or not fields:
            return False
        payload = "\n".join(fields).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                )
            self._sock.sendto(payload, self._address)
        except OSError as exc:
            self._log_failure(exc, fields[0])
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is complete: systemd ends ``activating`` and arms the watchdog."""
        return self.notify("READY=1", *self._status_field(status))

    def status(self, text: str) -> bool:
        """Free-form one-line status shown by ``systemctl status`` (e.g. the phase)."""
        return self.notify(f"STATUS={one_line(text)}")

    def watchdog(self) -> bool:
        """Keep-alive ping; systemd restarts the service if these stop for WatchdogSec."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """A clean shutdown has begun, so systemd does not mistake it for a hang."""
        return self.notify("STOPPING=1", *self._status_field(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more time for the current start-up or shutdown step."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def close(self) -> None:
        """Release the socket (further calls reopen it)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _status_field(self, status: str | None) -> tuple[str, ...]:
        return () if status is None else (f"STATUS={one_line(status)}",)

    def _log_failure(self, exc: OSError, first_field: str) -> None:
        key = f"{type(exc).__name__}:{exc.errno}"
        if key in self._logged_errors:
            log.debug("sd_notify %s failed again: %s", first_field, exc)
            return
        self._logged_errors.add(key)
        log.warning(
            "sd_notify %s to NOTIFY_SOCKET failed: %s (further failures like this are not logged)",
            first_field,
            exc,
        )


def watchdog_timeout(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """systemd's WatchdogSec= in seconds, or None when the watchdog is not for us.

    ``$WATCHDOG_PID``, when set, names the process that must ping; a child that
    inherited the environment must not think it is supervised.
    """
    environ = os.environ if env is None else env
    raw_usec = environ.get("WATCHDOG_USEC")
    if not raw_usec:
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        log.warning("ignoring malformed WATCHDOG_USEC=%r", raw_usec)
        return None
    if usec <= 0:
        return None
    raw_pid = environ.get("WATCHDOG_PID")
    if raw_pid:
        try:
            if int(raw_pid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            log.warning("ignoring malformed WATCHDOG_PID=%r", raw_pid)
            return None
    return usec / 1_000_000


def watchdog_interval(
    env: Mapping[str, str] | None = None, pid: int | None = None, fraction: float = 0.5
) -> float | None:
    """How often to ping: ``fraction`` of the timeout (half, as sd_watchdog_enabled advises).

    None when systemd did not ask this process for watchdog pings.
    """
    timeout = watchdog_timeout(env, pid)
    return None if timeout is None else timeout * fraction
