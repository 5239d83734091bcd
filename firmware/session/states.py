"""Names for the phases, outcomes, abort reasons and cues of a session."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a repetition is.  See README "Session semantics"."""

    WAITING_CONTACT = "waiting_contact"
    RAMP = "ramp"
    HOLD = "hold"
    RELEASE = "release"
    REST = "rest"
    ENDED = "ended"


class Outcome(StrEnum):
    """How a whole session ended."""

    COMPLETED = "completed"
    ABORTED = "aborted"
    STOPPED = "stopped"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"


class HoldOutcome(StrEnum):
    """How one hold ended."""

    COMPLETED = "completed"
    RELEASED_EARLY = "released_early"
    ABORTED = "aborted"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"


class AbortReason(StrEnum):
    """Why a session was aborted."""

    OVER_TOLERANCE = "over_tolerance"
    OVER_DEVICE_MAX = "over_device_max"
    SENSOR_FAULT = "sensor_fault"


class Cue(StrEnum):
    """Haptic cues the person feels.  Patterns: firmware/cues/patterns.py."""

    BREATH = "breath"
    ENTERED_BAND = "entered_band"
    TOO_LIGHT = "too_light"
    TOO_HARD = "too_hard"
    RELEASE = "release"
    ABORT = "abort"
    DONE = "done"
    REFUSED = "refused"
