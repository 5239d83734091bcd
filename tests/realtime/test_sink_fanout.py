"""A sink that fails is logged and detached; every other sink still gets every call, samples included."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from firmware.realtime.sinks import MemorySink, SessionInfo, SinkFanout
from firmware.session.decisions import Decision, PhaseChange
from firmware.session.states import Phase
from firmware.session.summary import SessionSummary

INFO = SessionInfo(
    session_id="s", device_id="d", started_at_iso="2026-12-01T00:00:00+00:00", sample_rate_hz=80.0, plan={}
)


class BreaksOn(MemorySink):
    """Keeps what it is told, like ``MemorySink``, until the call named ``method`` (its ``after``-th) raises."""

    def __init__(self, method: str, after: int = 1) -> None:
        super().__init__()
        self.method = method
        self.calls_left = after

    def _maybe_break(self, method: str) -> None:
        if method == self.method:
            self.calls_left -= 1
            if self.calls_left <= 0:
                raise RuntimeError(f"{method} broke")

    def sample(self, t: float, force_n: float, raw: int) -> None:
        self._maybe_break("sample")
        super().sample(t, force_n, raw)

    def decisions(self, decisions: Sequence[Decision]) -> None:
        self._maybe_break("decisions")
        super().decisions(decisions)

    def session_ended(self, summary: SessionSummary) -> None:
        self._maybe_break("session_ended")
        super().session_ended(summary)


def feed(fanout: SinkFanout, samples: int) -> None:
    fanout.session_started(INFO)
    for i in range(samples):
        fanout.sample(i / 80, float(i), i)
        if i % 4 == 0:
            fanout.decisions([PhaseChange(i / 80, Phase.RAMP, 1)])


@pytest.mark.parametrize(
    ("method", "samples_kept", "events_kept"),
    [
        ("sample", 2, 1),  # its third sample fails: two samples and the first decision got through
        ("decisions", 9, 2),  # its third decision (after sample 8) fails: samples 0-8 and two decisions
    ],
)
def test_a_failing_sink_is_detached_and_the_others_miss_nothing(
    method: str, samples_kept: int, events_kept: int, caplog: pytest.LogCaptureFixture
) -> None:
    before, broken, after = MemorySink(), BreaksOn(method, after=3), MemorySink()
    fanout = SinkFanout([before, broken, after])
    feed(fanout, 20)
    expected = [(i / 80, float(i), i) for i in range(20)]
    assert before.samples == after.samples == expected
    assert len(before.events) == len(after.events) == 5
    # Nothing reaches the broken sink once it failed: no sample, no decision after its failing call.
    assert broken.samples == expected[:samples_kept]
    assert len(broken.events) == events_kept
    failures = [r for r in caplog.records if "detaching it" in r.getMessage()]
    assert len(failures) == 1 and f"BreaksOn failed in {method}" in failures[0].getMessage()
