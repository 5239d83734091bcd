"""Telling a session takeover (two clients with one client id) from a broker that is merely away.

Two devices with the same client id on one broker knock each other off:
each connect makes the broker close the other's connection, and with the
usual short reconnect backoff they do so for ever (62 reconnects in 40 s
here), each one logged as a lost broker.  An MQTT v5 broker may say so
(DISCONNECT reason 142, "Session taken over"); Mosquitto 2.0.11 just closes
the socket.  So a connection the broker ends within ``SHORT_LIVED_S`` of a
successful connect, ``IN_A_ROW`` times running, counts as a takeover too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from firmware.mqtt.connection import SESSION_TAKEN_OVER, Backoff, SessionTakenOver, is_session_takeover

#: A connection ended by the broker sooner than this after CONNACK is "short-lived".
SHORT_LIVED_S: Final = 5.0
#: Short-lived connections in a row that mean someone else is taking our session.
IN_A_ROW: Final = 2
#: After a takeover, wait this long (a random delay in between) before taking the session back,
#: so two devices with one client id do not knock each other off the broker every second.
TAKEOVER_BACKOFF_S: Final = (30.0, 60.0)


class TakeoverDetector:
    """Fed with how each connection ended; says when it was (most likely) a session takeover."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._short_lived = 0
        self._connected_at: float | None = None
        self.count = 0  # takeovers seen

    def connecting(self) -> None:
        self._connected_at = None

    def connected(self) -> None:
        self._connected_at = self._clock()

    def raise_if_takeover(self, exc: Exception, disconnect_code: int | None) -> None:
        """The connection just ended with ``exc``: raise ``SessionTakenOver`` from it if it was a takeover."""
        lived_s = None if self._connected_at is None else self._clock() - self._connected_at
        takeover = self.ended(lived_s=lived_s, disconnect_code=disconnect_code)
        if takeover is not None:
            raise takeover from exc

    def back_off(self, cause: BaseException, backoff: Backoff) -> None:
        """After a takeover, make the next reconnect wait ``TAKEOVER_BACKOFF_S``."""
        if is_session_takeover(cause):
            self.count += 1
            backoff.hold_off(*TAKEOVER_BACKOFF_S)

    def ended(self, *, lived_s: float | None, disconnect_code: int | None) -> SessionTakenOver | None:
        """A connection ended unexpectedly after ``lived_s`` connected (None: never connected)."""
        if disconnect_code == SESSION_TAKEN_OVER:
            self._short_lived = 0
            return SessionTakenOver("the broker says another client took the session over (reason 142)")
        if lived_s is None:
            return None  # could not connect: a broker that is away, not a takeover
        if lived_s >= SHORT_LIVED_S:
            self._short_lived = 0
            return None
        self._short_lived += 1
        if self._short_lived < IN_A_ROW:
            return None
        self._short_lived = 0
        return SessionTakenOver(
            f"the broker closed the connection right after each of the last {IN_A_ROW} connects"
        )
