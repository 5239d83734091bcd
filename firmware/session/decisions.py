"""What the session core decides.  The runtime turns these into motor cues,
stored events and MQTT messages; the core never does I/O itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, ClassVar

from firmware.session.states import AbortReason, Cue, Gesture, HoldOutcome, Outcome, Phase, Wait


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Something a pure core decided at ``t``; ``type`` names the kind in stored events
    and payloads (a class constant, so no record can carry another kind's name)."""

    t: float
    type: ClassVar[str]


@dataclass(frozen=True, slots=True)
class PhaseChange(DecisionRecord):
    type: ClassVar[str] = "phase"
    phase: Phase
    repetition: int  # within the spot
    spot: int = 1


@dataclass(frozen=True, slots=True)
class CueDecision(DecisionRecord):
    type: ClassVar[str] = "cue"
    cue: Cue


@dataclass(frozen=True, slots=True)
class HoldStarted(DecisionRecord):
    type: ClassVar[str] = "hold_started"
    index: int
    spot: int = 1
    target_n: float = 0.0


@dataclass(frozen=True, slots=True)
class HoldEnded(DecisionRecord):
    type: ClassVar[str] = "hold_ended"
    index: int
    outcome: HoldOutcome


@dataclass(frozen=True, slots=True)
class AbortDecision(DecisionRecord):
    type: ClassVar[str] = "abort"
    reason: AbortReason
    force_n: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class Adjusted(DecisionRecord):
    """A check-in took effect: the spot's target from this sample on."""

    type: ClassVar[str] = "adjustment"
    kind: Gesture
    target_n: float
    spot: int


@dataclass(frozen=True, slots=True)
class AdjustRefused(DecisionRecord):
    """A check-in that would break a rule (tolerance, the floor, the increment budget); the target stays."""

    type: ClassVar[str] = "adjust_refused"
    kind: Gesture
    target_n: float
    spot: int
    reason: str


@dataclass(frozen=True, slots=True)
class TimedOut(DecisionRecord):
    """A wait for the person ran out: ``wait`` says which."""

    type: ClassVar[str] = "timeout"
    wait: Wait


@dataclass(frozen=True, slots=True)
class SessionEnded(DecisionRecord):
    type: ClassVar[str] = "session_ended"
    outcome: Outcome


Decision = (
    PhaseChange
    | CueDecision
    | HoldStarted
    | HoldEnded
    | AbortDecision
    | Adjusted
    | AdjustRefused
    | TimedOut
    | SessionEnded
)


def decision_to_event(decision: DecisionRecord) -> dict[str, Any]:
    """A JSON-able dict of a decision - a session's or a threshold trial's - with enums as their values."""
    fields = {key: (str(value) if isinstance(value, Enum) else value) for key, value in asdict(decision).items()}
    return {**fields, "type": decision.type}
