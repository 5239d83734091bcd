"""Turn SIGTERM/SIGINT (and SIGHUP) into a stop request the runtime handles in order.

The default actions would kill the interpreter wherever it is, possibly with the
vibration motor still driven and the session summary unwritten.  Instead the
signal only makes a stop request - an :class:`asyncio.Event` set, or a call
such as ``StopRequest.request(source)`` - and the runtime stops the session
(motor off, summary stored) and exits within systemd's TimeoutStopSec=.  The
daemon and ``simulate --realtime`` both stop this way.

Handlers are installed with :meth:`asyncio.AbstractEventLoop.add_signal_handler`,
so they run as ordinary loop callbacks, never in the middle of a control step.
A stop signal that comes before the loop runs (``presspoint run`` starting up,
the real-time process building its hardware) is noted by ``EarlyStopSignals``
and acted on as soon as the loop's handlers are in place, so a SIGTERM at any
moment after start-up gives the same orderly stop and the same exit code.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Exit codes add the signal number to this, as a shell reports a death by signal: 143 for SIGTERM.
SIGNAL_EXIT_BASE = 128


def exit_code_for(sig: signal.Signals) -> int:
    """The exit code of a process stopped in order by ``sig`` (143 for SIGTERM, 130 for SIGINT)."""
    return SIGNAL_EXIT_BASE + int(sig)


class EarlyStopSignals:
    """Notes the first stop signal that comes before the loop's handlers exist.

    A plain ``signal.signal`` handler (main thread): it only records the
    signal; ``StopSignals(..., early=this)`` then acts on it.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    def install(self) -> EarlyStopSignals:
        for sig in (*STOP_SIGNALS, signal.SIGHUP):
            signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)

#: Where a stop request goes: an event to set, or a function given the source (``"sigterm"``).
StopTarget = asyncio.Event | Callable[[str], None]


class StopSignals:
    """Installed signal handlers; remembers which signal asked us to stop.

    SIGHUP calls ``on_reload`` when one is given; otherwise it is a stop request
    too, because its default action (a hung-up SSH session running
    ``presspoint run``) would end the process without stopping the motor.
    A repeated stop signal is logged and otherwise ignored: the orderly stop is
    already under way, and cutting it short could leave the motor on.
    """

    def __init__(
        self,
        stop: StopTarget,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        on_reload: Callable[[], None] | None = None,
        names: Mapping[signal.Signals, str] | None = None,
        early: EarlyStopSignals | None = None,
    ) -> None:
        """``names`` renames a signal's stop source (default: its lower-case name, ``"sigterm"``).

        ``early``: a signal it caught before now is handled as soon as the loop runs.
        """
        self._early = early
        self._stop = stop
        self._names = dict(names or {})
        self.received: signal.Signals | None = None
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._on_reload = on_reload
        self._installed: list[signal.Signals] = []

    def install(self) -> StopSignals:
        """Install the handlers (main thread only, like any Python signal handler)."""
        for sig in (*STOP_SIGNALS, signal.SIGHUP):
            self._loop.add_signal_handler(sig, self._handle, sig)
            self._installed.append(sig)
        if self._early is not None and self._early.received is not None:
            self._loop.call_soon(self._handle, self._early.received)
        return self

    def remove(self) -> None:
        """Restore the default handlers."""
        while self._installed:
            self._loop.remove_signal_handler(self._installed.pop())

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def _handle(self, sig: signal.Signals) -> None:
        if sig == signal.SIGHUP and self._on_reload is not None:
            log.info("SIGHUP: reloading")
            self._on_reload()
            return
        if self.received is not None:
            log.warning("%s while already stopping; still stopping safely", sig.name)
            return
        self.received = sig
        log.info("%s: stopping the session safely", sig.name)
        if isinstance(self._stop, asyncio.Event):
            self._stop.set()
        else:
            self._stop(self._names.get(sig, sig.name.lower()))
