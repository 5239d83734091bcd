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

from typing import Final

from firmware.mqtt.connection import SESSION_TAKEN_OVER, SessionTakenOver

#: A connection ended by the broker sooner than this after CONNACK is "short-lived".
SHORT_LIVED_S: Final = 5.0
#: Short-lived connections in a row that mean someone else is taking our session.
IN_A_ROW: Final = 2


class TakeoverDetector:
    """Fed with how each connection ended; says when it was (most likely) a session takeover."""

    def __init__(self) -> None:
        self._short_lived = 0

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
