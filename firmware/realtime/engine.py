"""One session's bookkeeping around the pure controller, shared by every driver.

The engine turns sampler events (absolute clock times) into controller calls
(session times, 0 = first sample), plays the resulting cues on a
``MotorTimeline``, feeds the sinks and builds the summary.  It does no
waiting and no I/O of its own: the virtual-time driver and the asyncio
runtime differ only in how they wait for the next event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from config.plan import TherapyPlan
from firmware.cues.timeline import MotorTimeline
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.sinks import SessionInfo, SessionSink, SinkFanout
from firmware.session.controller import SessionController
from firmware.session.decisions import CueDecision, Decision
from firmware.session.states import Gesture
from firmware.session.summary import SessionSummary, build_summary, resolve_plan


def session_seconds(t_abs: float, origin: float) -> float:
    """Seconds since ``origin``, to the nanosecond.

    Rounding drops float noise from large clock values, so a session run over
    the pin emulator reports the very same times as a plain one.
    """
    return round(t_abs - origin, 9)


def new_session_id(started_at: datetime) -> str:
    """Sortable and unique: ``20261130T024520Z-1a2b3c4d``."""
    return f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


class SessionEngine:
    """Runs one session: events in, decisions out to the motor timeline and sinks."""

    def __init__(
        self,
        plan: TherapyPlan,
        *,
        device_id: str,
        sample_rate_hz: float,
        device_max_n: float,
        armed_at: float,
        sinks: Sequence[SessionSink] = (),
        started_at: datetime | None = None,
        session_id: str | None = None,
        glitch_count: Callable[[], int] = lambda: 0,
        person: str | None = None,
    ) -> None:
        """``person`` is the pseudonym of the profile in force (``None`` without one), for the summary."""
        self.controller = SessionController(plan, sample_rate_hz=sample_rate_hz, device_max_n=device_max_n)
        self.timeline = MotorTimeline()
        self.started_at = started_at or datetime.now(UTC)
        self.session_id = session_id or new_session_id(self.started_at)
        self.device_id = device_id
        self._origin = armed_at
        self._first_sample_seen = False
        self._sinks = SinkFanout(sinks)
        self._glitch_count = glitch_count
        self.person = person
        self.summary: SessionSummary | None = None
        self._sinks.session_started(
            SessionInfo(
                session_id=self.session_id,
                device_id=device_id,
                started_at_iso=self.started_at.isoformat(),
                sample_rate_hz=sample_rate_hz,
                plan=resolve_plan(plan, device_max_n).model_dump(),
            )
        )

    @classmethod
    def reading(
        cls,
        plan: TherapyPlan,
        sampler: Sampler,
        *,
        device_id: str,
        device_max_n: float,
        armed_at: float,
        sinks: Sequence[SessionSink] = (),
        session_id: str | None = None,
        person: str | None = None,
        glitches_before: int = 0,
    ) -> SessionEngine:
        """An engine for the samples of ``sampler``: its rate, and the glitches it counts past ``glitches_before``."""
        return cls(
            plan, device_id=device_id, sample_rate_hz=sampler.sensor.sample_rate_hz, device_max_n=device_max_n,
            armed_at=armed_at, sinks=sinks, session_id=session_id, person=person,
            glitch_count=lambda: sampler.glitches - glitches_before,
        )

    @property
    def finished(self) -> bool:
        return self.controller.finished

    def session_time(self, t_abs: float) -> float:
        """Session seconds (0 = first sample) of a clock time (see ``session_seconds``)."""
        return session_seconds(t_abs, self._origin)

    def clock_time(self, t_session: float) -> float:
        """Clock time of a session time."""
        return t_session + self._origin

    def handle(self, event: SamplerEvent) -> Sequence[Decision]:
        """Feed one sampler event; returns the decisions (already sent to sinks)."""
        controller = self.controller
        if type(event) is Sample:  # the one event of every period: its path is kept short
            if not self._first_sample_seen:
                self._first_sample_seen = True
                self._origin = event.t
            t = round(event.t - self._origin, 9)  # session_seconds, inline: one call less a period
            if controller.outcome is None:
                self._sinks.sample(t, event.force_n, event.raw)
            decisions = controller.on_sample(t, event.force_n)
        elif isinstance(event, NoSample):
            decisions = controller.on_gap(self.session_time(event.t))
        elif isinstance(event, SensorFault):
            decisions = controller.on_sensor_fault(max(0.0, self.session_time(event.t)), event.detail)
        else:  # pragma: no cover - exhaustive
            raise TypeError(f"unknown sampler event {event!r}")
        if decisions:
            self._dispatch(decisions, event.t)
        return decisions

    def stop(self, t_abs: float, source: str) -> Sequence[Decision]:
        """The stop button (or a signal): end the session now."""
        decisions = self.controller.on_stop(max(0.0, self.session_time(t_abs)), source)
        if decisions:
            self._dispatch(decisions, t_abs)
        return decisions

    def gesture(self, kind: Gesture) -> None:
        """A check-in (``less`` / ``more``); it takes effect on the next sample."""
        self.controller.on_gesture(kind)

    def _dispatch(self, decisions: Sequence[Decision], t_abs: float) -> None:
        for decision in decisions:
            if isinstance(decision, CueDecision):
                self.timeline.play(t_abs, decision.cue)
        self._sinks.decisions(decisions)

    def finish(self) -> SessionSummary:
        """Build the summary of the ended session and hand it to the sinks (once)."""
        if self.summary is None:
            self.summary = build_summary(
                self.controller,
                session_id=self.session_id,
                device_id=self.device_id,
                started_at=self.started_at,
                sensor_glitches=self._glitch_count(),
                person=self.person,
            )
            self._sinks.session_ended(self.summary)
        return self.summary
