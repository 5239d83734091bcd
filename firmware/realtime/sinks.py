"""Where a running session's data goes: the store, the outbox, a display, memory.

Sinks are downstream of decisions: they are told what happened and can never
change what the controller decides.  A sink that raises is logged and
detached, the session goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware.session.decisions import Decision, decision_to_event
from firmware.session.summary import SessionSummary

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    device_id: str
    started_at_iso: str
    sample_rate_hz: float
    plan: dict[str, Any]


class SessionSink(Protocol):
    def session_started(self, info: SessionInfo) -> None: ...

    def sample(self, t: float, force_n: float, raw: int) -> None: ...

    def decisions(self, decisions: Sequence[Decision]) -> None: ...

    def session_ended(self, summary: SessionSummary) -> None: ...


@dataclass
class MemorySink:
    """Keeps everything in lists: for `simulate` output and tests."""

    info: SessionInfo | None = None
    samples: list[tuple[float, float, int]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    summary: SessionSummary | None = None

    def session_started(self, info: SessionInfo) -> None:
        self.info = info

    def sample(self, t: float, force_n: float, raw: int) -> None:
        self.samples.append((t, force_n, raw))

    def decisions(self, decisions: Sequence[Decision]) -> None:
        self.events.extend(decision_to_event(d) for d in decisions)

    def session_ended(self, summary: SessionSummary) -> None:
        self.summary = summary


class SinkFanout:
    """Calls every sink; one that fails is logged once and dropped.

    A session's samples are by far its most frequent call: they go straight
    to the sinks' bound ``sample`` methods, looked up once per change of sinks.
    """

    def __init__(self, sinks: Sequence[SessionSink]) -> None:
        self._sinks = list(sinks)
        self._samplers = self._sample_methods()

    def _sample_methods(self) -> tuple[tuple[SessionSink, Callable[[float, float, int], None]], ...]:
        return tuple((sink, sink.sample) for sink in self._sinks)

    def _detach(self, sink: SessionSink, method: str) -> None:
        log.exception("session sink %s failed in %s; detaching it", type(sink).__name__, method)
        if sink in self._sinks:
            self._sinks.remove(sink)
        self._samplers = self._sample_methods()

    def _each(self, method: str, *args: Any) -> None:
        for sink in list(self._sinks):
            try:
                getattr(sink, method)(*args)
            except Exception:
                self._detach(sink, method)

    def session_started(self, info: SessionInfo) -> None:
        self._each("session_started", info)

    def sample(self, t: float, force_n: float, raw: int) -> None:
        for sink, sample in self._samplers:
            try:
                sample(t, force_n, raw)
            except Exception:
                self._detach(sink, "sample")

    def decisions(self, decisions: Sequence[Decision]) -> None:
        if decisions:
            self._each("decisions", decisions)

    def session_ended(self, summary: SessionSummary) -> None:
        self._each("session_ended", summary)
