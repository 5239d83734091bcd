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
    NEXT_SPOT = "next_spot"
    CHECK_IN = "check_in"
    ADJUSTED = "adjusted"
    ADJUST_REFUSED = "adjust_refused"
    RELEASE_NOW = "release_now"
    TIMED_OUT = "timed_out"
    RATE_PAIN = "rate_pain"
    SEE_THERAPIST = "see_therapist"
    FOLLOW_UP = "follow_up"
    COUNT_ONE = "count_one"
    COUNT_ZERO = "count_zero"


class Gesture(StrEnum):
    """What the person says during a ramp or hold: a lighter or a firmer target."""

    LESS = "less"
    MORE = "more"


class Wait(StrEnum):
    """Which wait for the person ran out when a session timed out."""

    CONTACT = "contact"
    BAND = "band"
    RELEASE = "release"


class SpotOutcome(StrEnum):
    """How one spot of a session ended."""

    COMPLETED = "completed"
    ABORTED = "aborted"
    STOPPED = "stopped"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"
    NOT_REACHED = "not_reached"
