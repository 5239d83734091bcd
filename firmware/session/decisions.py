"""What the session core decides.  The runtime turns these into motor cues,
stored events and MQTT messages; the core never does I/O itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from firmware.session.states import AbortReason, Cue, Gesture, HoldOutcome, Outcome, Phase, Wait

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


@dataclass(frozen=True, slots=True)
class PhaseChange:
    t: float
    phase: Phase
    repetition: int  # within the spot
    spot: int = 1
    type: str = "phase"


@dataclass(frozen=True, slots=True)
class CueDecision:
    t: float
    cue: Cue
    type: str = "cue"


@dataclass(frozen=True, slots=True)
class HoldStarted:
    t: float
    index: int
    spot: int = 1
    target_n: float = 0.0
    type: str = "hold_started"


@dataclass(frozen=True, slots=True)
class HoldEnded:
    t: float
    index: int
    outcome: HoldOutcome
    type: str = "hold_ended"


@dataclass(frozen=True, slots=True)
class AbortDecision:
    t: float
    reason: AbortReason
    force_n: float | None
    detail: str
    type: str = "abort"


@dataclass(frozen=True, slots=True)
class Adjusted:
    """A check-in took effect: the spot's target from this sample on."""

    t: float
    kind: Gesture
    target_n: float
    spot: int
    type: str = "adjustment"


@dataclass(frozen=True, slots=True)
class AdjustRefused:
    """A check-in that would break a rule (tolerance, the floor, the increment budget); the target stays."""

    t: float
    kind: Gesture
    target_n: float
    spot: int
    reason: str
    type: str = "adjust_refused"


@dataclass(frozen=True, slots=True)
class TimedOut:
    """A wait for the person ran out: ``wait`` says which."""

    t: float
    wait: Wait
    type: str = "timeout"


@dataclass(frozen=True, slots=True)
class SessionEnded:
    t: float
    outcome: Outcome
    type: str = "session_ended"


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


def decision_to_event(decision: DataclassInstance) -> dict[str, Any]:
    """A JSON-able dict of a decision - a session's or a threshold trial's - with enums as their values."""
    return {key: (str(value) if isinstance(value, Enum) else value) for key, value in asdict(decision).items()}
