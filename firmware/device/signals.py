"""Turn SIGTERM/SIGINT (and SIGHUP) into a stop request the runtime handles in order.

The default actions would kill the interpreter wherever it is, possibly with the
vibration motor still driven and the session summary unwritten.  Instead the
signal only sets an :class:`asyncio.Event`; the runtime notices it, stops the
session (motor off, summary stored) and exits within systemd's TimeoutStopSec=.

Handlers are installed with :meth:`asyncio.AbstractEventLoop.add_signal_handler`,
so they run as ordinary loop callbacks, never in the middle of a control step.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


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
        stop_event: asyncio.Event,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        on_reload: Callable[[], None] | None = None,
    ) -> None:
        self.stop_event = stop_event
        self.received: signal.Signals | None = None
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._on_reload = on_reload
        self._installed: list[signal.Signals] = []

    def install(self) -> StopSignals:
        """Install the handlers (main thread only, like any Python signal handler)."""
        for sig in (*STOP_SIGNALS, signal.SIGHUP):
            self._loop.add_signal_handler(sig, self._handle, sig)
            self._installed.append(sig)
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
        if self.stop_event.is_set():
            log.warning("%s while already stopping; still stopping safely", sig.name)
            return
        self.received = sig
        log.info("%s: stopping the session safely", sig.name)
        self.stop_event.set()


def install_stop_signals(
    stop_event: asyncio.Event,
    *,
    loop: asyncio.AbstractEventLoop | None = None,
    on_reload: Callable[[], None] | None = None,
) -> StopSignals:
    """Install SIGTERM/SIGINT/SIGHUP handlers that set ``stop_event``; see :class:`StopSignals`."""
    return StopSignals(stop_event, loop=loop, on_reload=on_reload).install()
