"""The daemon's phase, told to systemd (``STATUS=``) and to the status hook.

It is also a session sink: a session's start and its phase changes arrive
as sink calls, so the real-time loop never needs to know who listens.
"""

from __future__ import annotations

from collections.abc import Sequence

from firmware.device.contracts import DaemonHooks
from firmware.device.sdnotify import Notifier
from firmware.realtime.sinks import SessionInfo
from firmware.session.decisions import Decision, PhaseChange
from firmware.session.summary import SessionSummary


class PhaseReporter:
    """Holds the current phase and reports every change."""

    def __init__(self, notifier: Notifier, hooks: DaemonHooks) -> None:
        self.notifier = notifier
        self.hooks = hooks
        self.phase = "idle"
        self._session_id: str | None = None

    def set(self, phase: str, **fields: object) -> None:
        self.phase = phase
        self.notifier.status(f"phase: {phase}")
        self.hooks.status(phase=phase, **fields)

    # ------------------------------------------------------- as a session sink

    def session_started(self, info: SessionInfo) -> None:
        self._session_id = info.session_id
        self.set("waiting_contact", session_id=info.session_id, refused=None)

    def sample(self, t: float, force_n: float, raw: int) -> None:
        """Samples are not phase changes."""

    def decisions(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, PhaseChange):
                self.set(decision.phase.value, session_id=self._session_id)

    def session_ended(self, summary: SessionSummary) -> None:
        """The daemon reports ``idle`` with the outcome once the last cue has played."""
