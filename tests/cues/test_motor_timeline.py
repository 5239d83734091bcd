"""The cue timeline: exact pattern timing, queueing and preemption."""

from __future__ import annotations

import pytest

from firmware.cues.patterns import PATTERNS, pattern_duration
from firmware.cues.timeline import MAX_QUEUED, MotorTimeline
from firmware.session.states import Cue


def drain(timeline: MotorTimeline) -> list[tuple[float, float]]:
    changes = []
    while (at := timeline.next_change_at()) is not None:
        changes.extend(timeline.due(at))
    return changes


@pytest.mark.parametrize("cue", list(Cue))
def test_each_pattern_plays_exactly_and_ends_off(cue: Cue) -> None:
    timeline = MotorTimeline()
    timeline.play(10.0, cue)
    changes = drain(timeline)
    expected, at = [], 10.0
    level = 0.0
    for step_level, seconds in PATTERNS[cue]:
        if step_level != level:
            expected.append((pytest.approx(at), step_level))
            level = step_level
        at += seconds
    assert changes == expected
    assert changes[-1][1] == 0.0
    assert changes[-1][0] == pytest.approx(10.0 + pattern_duration(cue))


def test_patterns_are_distinct() -> None:
    assert len({PATTERNS[c] for c in Cue}) == len(Cue)


def test_cues_queue_behind_the_playing_one() -> None:
    timeline = MotorTimeline()
    timeline.play(0.0, Cue.BREATH)
    timeline.play(0.1, Cue.ENTERED_BAND)
    changes = drain(timeline)
    # entered_band starts when breath ends (0.8 s).
    assert (pytest.approx(0.8), 0.7) in changes
    assert [cue for _, cue in timeline.played] == [Cue.BREATH, Cue.ENTERED_BAND]


def test_abort_preempts_and_clears_the_queue() -> None:
    timeline = MotorTimeline()
    timeline.play(0.0, Cue.DONE)
    timeline.play(0.0, Cue.BREATH)
    assert timeline.due(0.1) == [(0.0, 0.6)]
    timeline.play(0.1, Cue.ABORT)
    changes = drain(timeline)
    assert changes == [(0.1, 1.0), (pytest.approx(1.3), 0.0)]
    assert [cue for _, cue in timeline.played] == [Cue.DONE, Cue.ABORT]


def test_queue_is_bounded() -> None:
    timeline = MotorTimeline()
    for _ in range(MAX_QUEUED + 3):
        timeline.play(0.0, Cue.TOO_HARD)
    assert timeline.dropped == 2
    drain(timeline)
    assert timeline.idle and timeline.level == 0.0
