"""What a PPT trial decides beyond the session's cues and aborts (which it reuses)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from firmware.algometry.standard import RateCue
from firmware.session.decisions import AbortDecision, CueDecision, decision_to_event


class TrialOutcome(StrEnum):
    RECORDED = "recorded"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RateTooFast:
    t: float
    rate_n_per_s: float
    type: str = "rate_too_fast"


@dataclass(frozen=True, slots=True)
class RateOff:
    """The standard protocol's ramp is more than 30 % off its target (``too_fast`` / ``too_slow``)."""

    t: float
    cue: RateCue
    rate_kpa_s: float
    type: str = "rate_off"


@dataclass(frozen=True, slots=True)
class ThresholdRecorded:
    t: float
    threshold_n: float
    type: str = "threshold_recorded"


@dataclass(frozen=True, slots=True)
class PressIgnored:
    t: float
    reason: str
    type: str = "press_ignored"


@dataclass(frozen=True, slots=True)
class TrialEnded:
    t: float
    outcome: TrialOutcome
    type: str = "trial_ended"


AlgometryDecision = (
    CueDecision | AbortDecision | RateTooFast | RateOff | ThresholdRecorded | PressIgnored | TrialEnded
)


def decision_event(decision: AlgometryDecision) -> dict[str, Any]:
    """A JSON-able dict of a decision (enums as strings), like the session's events."""
    return decision_to_event(decision)
