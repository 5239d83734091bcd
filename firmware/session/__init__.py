"""The pure session core: timestamped samples in, decisions out.

Nothing here imports asyncio, gpiozero, aiomqtt or sqlite3, and nothing here
reads a clock: time is whatever the samples say.  That keeps the safety logic
exact, fast and property-testable; the runtime around it does the I/O.
"""

from firmware.session.controller import SessionController
from firmware.session.decisions import (
    AbortDecision,
    CueDecision,
    Decision,
    HoldEnded,
    HoldStarted,
    PhaseChange,
    SessionEnded,
)
from firmware.session.states import AbortReason, Cue, HoldOutcome, Outcome, Phase

__all__ = [
    "AbortDecision",
    "AbortReason",
    "Cue",
    "CueDecision",
    "Decision",
    "HoldEnded",
    "HoldOutcome",
    "HoldStarted",
    "Outcome",
    "Phase",
    "PhaseChange",
    "SessionController",
    "SessionEnded",
]
