"""What a PPT trial decides beyond the session's cues and aborts (which it reuses)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from firmware.algometry.standard import RateCue
from firmware.session.decisions import AbortDecision, CueDecision, DecisionRecord


class TrialOutcome(StrEnum):
    RECORDED = "recorded"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RateTooFast(DecisionRecord, type="rate_too_fast"):
    rate_n_per_s: float


@dataclass(frozen=True, slots=True)
class RateOff(DecisionRecord, type="rate_off"):
    """The standard protocol's ramp is more than 30 % off its target (``too_fast`` / ``too_slow``)."""

    cue: RateCue
    rate_kpa_s: float


@dataclass(frozen=True, slots=True)
class ThresholdRecorded(DecisionRecord, type="threshold_recorded"):
    threshold_n: float


@dataclass(frozen=True, slots=True)
class PressIgnored(DecisionRecord, type="press_ignored"):
    reason: str


@dataclass(frozen=True, slots=True)
class TrialEnded(DecisionRecord, type="trial_ended"):
    outcome: TrialOutcome


AlgometryDecision = (
    CueDecision | AbortDecision | RateTooFast | RateOff | ThresholdRecorded | PressIgnored | TrialEnded
)

