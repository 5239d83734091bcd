"""Haptic cue patterns: what each cue feels like.

Each pattern is a list of ``(level, seconds)`` steps and always ends with the
motor off.  They differ in rhythm as well as strength, so they can be told
apart through a hand pressing on a muscle:

========== ===================================== ==============================
cue        pattern                               meaning
========== ===================================== ==============================
breath     one soft 0.8 s swell                  breathe in slowly now
entered    two short taps                        you are in the target band
too_light  two slow soft pulses                  press a little harder
too_hard   five fast strong taps                 ease off a little
release    one long 0.5 s pulse                  hold done: release slowly
abort      1.2 s full-strength buzz              stop pressing now
done       three medium pulses                   session complete
refused    two long full pulses                  session refused (see status)
next_spot  soft, medium, strong rising steps     move on to the next spot
check_in   one very soft 0.3 s nudge             say "less" or "more" if you like
adjusted   one short tap                         your check-in took effect
adjust_refused three slow medium pulses          that check-in cannot be done
release_now four medium pulses, quick            you are still pressing: let go
timed_out  one long medium 1 s pulse             nobody answered: session over
rate_pain  soft then medium nudge, rising        rate your pain now: one press per point
see_therapist long, short, long medium pulses    time to see your therapist again
follow_up  three slow soft nudges                is the soreness better than yesterday?
count_one  one short strong pulse (and a gap)    one point of the rating you entered
count_zero one long soft 0.9 s pulse             you entered 0
========== ===================================== ==============================
"""

from __future__ import annotations

from firmware.session.states import Cue

Pattern = tuple[tuple[float, float], ...]

PATTERNS: dict[Cue, Pattern] = {
    Cue.BREATH: ((0.35, 0.8), (0.0, 0.0)),
    Cue.ENTERED_BAND: ((0.7, 0.08), (0.0, 0.08), (0.7, 0.08), (0.0, 0.0)),
    Cue.TOO_LIGHT: ((0.45, 0.25), (0.0, 0.2), (0.45, 0.25), (0.0, 0.0)),
    Cue.TOO_HARD: (
        (1.0, 0.05),
        (0.0, 0.05),
        (1.0, 0.05),
        (0.0, 0.05),
        (1.0, 0.05),
        (0.0, 0.05),
        (1.0, 0.05),
        (0.0, 0.05),
        (1.0, 0.05),
        (0.0, 0.0),
    ),
    Cue.RELEASE: ((0.8, 0.5), (0.0, 0.0)),
    Cue.ABORT: ((1.0, 1.2), (0.0, 0.0)),
    Cue.DONE: ((0.6, 0.3), (0.0, 0.2), (0.6, 0.3), (0.0, 0.2), (0.6, 0.3), (0.0, 0.0)),
    Cue.REFUSED: ((1.0, 0.6), (0.0, 0.3), (1.0, 0.6), (0.0, 0.0)),
    Cue.NEXT_SPOT: ((0.3, 0.25), (0.6, 0.25), (0.9, 0.25), (0.0, 0.0)),
    Cue.CHECK_IN: ((0.25, 0.3), (0.0, 0.0)),
    Cue.ADJUSTED: ((0.7, 0.08), (0.0, 0.0)),
    Cue.ADJUST_REFUSED: ((0.6, 0.3), (0.0, 0.3), (0.6, 0.3), (0.0, 0.3), (0.6, 0.3), (0.0, 0.0)),
    Cue.RELEASE_NOW: (*(((0.7, 0.15), (0.0, 0.1)) * 3), (0.7, 0.15), (0.0, 0.0)),
    Cue.TIMED_OUT: ((0.6, 1.0), (0.0, 0.0)),
    Cue.RATE_PAIN: ((0.3, 0.2), (0.0, 0.15), (0.55, 0.2), (0.0, 0.0)),
    Cue.SEE_THERAPIST: ((0.6, 0.6), (0.0, 0.2), (0.6, 0.15), (0.0, 0.2), (0.6, 0.6), (0.0, 0.0)),
    Cue.FOLLOW_UP: ((0.3, 0.3), (0.0, 0.3), (0.3, 0.3), (0.0, 0.3), (0.3, 0.3), (0.0, 0.0)),
    Cue.COUNT_ONE: ((0.8, 0.15), (0.0, 0.0)),
    Cue.COUNT_ZERO: ((0.4, 0.9), (0.0, 0.0)),
}

#: Cues that cut off whatever is playing and clear the queue.
PREEMPTING = frozenset({Cue.ABORT, Cue.REFUSED})


def pattern_duration(cue: Cue) -> float:
    return sum(seconds for _, seconds in PATTERNS[cue])
