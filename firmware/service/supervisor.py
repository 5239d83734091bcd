"""The service's side of the real-time process: start it, talk to it, outlive it safely.

The real-time process is a child started with two pipes.  Its messages are
handled on the service's loop; a stalled service only fills the pipe (the
child never waits).  When the child's end closes, the service reaps it; a
child that ended without its result (killed, crashed) is a failure: the
motor pin is driven low from here and the service exits non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from firmware.device.link_messages import Finished, Setup, Shutdown
from firmware.realtime.link import Link, LoopLink

log = logging.getLogger(__name__)

#: After a shutdown request, how long the child may take to stop its session and leave.
STOP_GRACE_S = 8.0
#: Signals passed on to the child as they are (the test-only fault injection).
FORWARDED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class RealtimeProcess:
    """One real-time child process and its link."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: LoopLink | None = None
        self.finished: Finished | None = None
        self._closed = asyncio.Event()
        self._kill_timer: asyncio.TimerHandle | None = None
        self._link: Link | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def spawn(self) -> None:
        """Start the child (it inherits this thread's scheduling); it waits for its set-up."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "firmware.device.rt_main", str(to_child_r), str(from_child_w)],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._link = Link(from_child_r, to_child_w)
        log.info("real-time process started (pid %d)", self.proc.pid)

    def attach(self, on_message: Callable[[Any], None]) -> None:
        """On the running loop: send the set-up; the child's messages go to ``on_message``."""
        if self.proc is None:
            self.spawn()
        assert self._link is not None

        def handle(message: Any) -> None:
            if isinstance(message, Finished):
                self.finished = message
            on_message(message)

        self.channel = LoopLink(self._link, asyncio.get_running_loop(), handle, self._on_closed)
        self.channel.send(self.setup)

    def abandon(self) -> None:
        """The service could not start: close the link (the child leaves on its own), reap it."""
        if self.channel is None and self._link is not None:
            self._link.close()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def send(self, message: object) -> None:
        if self.channel is not None:
            self.channel.send(message)

    def shutdown(self, source: str) -> None:
        """Ask the child to stop its session safely and leave; kill it if it does not in time."""
        self.send(Shutdown(source))
        if self._kill_timer is None and self.proc is not None:
            self._kill_timer = asyncio.get_running_loop().call_later(STOP_GRACE_S, self.kill)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            log.error("the real-time process did not stop within %.0f s: killing it", STOP_GRACE_S)
            self.proc.kill()

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signum)

    async def wait(self) -> int:
        """Until the child's end of the link closes; then reap it.  Its exit code."""
        await self._closed.wait()
        if self._kill_timer is not None:
            self._kill_timer.cancel()
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(None, self.proc.wait, STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return await loop.run_in_executor(None, self.proc.wait)
        finally:
            if self.channel is not None:
                self.channel.close()

    def _on_closed(self, reason: str) -> None:
        self._closed.set()


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
