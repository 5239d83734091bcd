"""What the session core decides.  The runtime turns these into motor cues,
stored events and MQTT messages; the core never does I/O itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, ClassVar

from firmware.session.states import AbortReason, Cue, Gesture, HoldOutcome, Outcome, Phase, Wait

#: Which class (module and name) each record kind belongs to: one a name.
_KIND_OWNERS: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """Something a pure core decided at ``t``; ``type`` names the kind in stored events
    and payloads (``class X(DecisionRecord, type="x")``: a class constant, so no record
    can carry another kind's name, and no two kinds share one)."""

    t: float
    type: ClassVar[str]

    def __init_subclass__(cls, type: str | None = None, **kwargs: Any) -> None:
        # Not the bare super(): dataclass(slots=True) made this class anew, the bare form names the old one.
        super(DecisionRecord, cls).__init_subclass__(**kwargs)
        if type is None:  # a shared base, or that remaking again (the class keeps the type it had)
            return
        owner = f"{cls.__module__}.{cls.__qualname__}"
        if _KIND_OWNERS.setdefault(type, owner) != owner:
            raise TypeError(f"decision type {type!r} of {owner}: already {_KIND_OWNERS[type]}'s")
        cls.type = type


@dataclass(frozen=True, slots=True)
class PhaseChange(DecisionRecord, type="phase"):
    phase: Phase
    repetition: int  # within the spot
    spot: int = 1


@dataclass(frozen=True, slots=True)
class CueDecision(DecisionRecord, type="cue"):
    cue: Cue


@dataclass(frozen=True, slots=True)
class HoldStarted(DecisionRecord, type="hold_started"):
    index: int
    spot: int = 1
    target_n: float = 0.0


@dataclass(frozen=True, slots=True)
class HoldEnded(DecisionRecord, type="hold_ended"):
    index: int
    outcome: HoldOutcome


@dataclass(frozen=True, slots=True)
class AbortDecision(DecisionRecord, type="abort"):
    reason: AbortReason
    force_n: float | None
    detail: str


@dataclass(frozen=True, slots=True)
class CheckInDecision(DecisionRecord):
    """What a check-in asked for (``kind``) at which spot, and the spot's target after it."""

    kind: Gesture
    target_n: float
    spot: int


@dataclass(frozen=True, slots=True)
class Adjusted(CheckInDecision, type="adjustment"):
    """A check-in took effect: the spot's target from this sample on."""


@dataclass(frozen=True, slots=True)
class AdjustRefused(CheckInDecision, type="adjust_refused"):
    """A check-in that would break a rule (tolerance, the floor, the increment budget); the target stays."""

    reason: str


@dataclass(frozen=True, slots=True)
class TimedOut(DecisionRecord, type="timeout"):
    """A wait for the person ran out: ``wait`` says which."""

    wait: Wait


@dataclass(frozen=True, slots=True)
class SessionEnded(DecisionRecord, type="session_ended"):
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
