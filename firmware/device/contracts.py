"""What the device daemon is given and what it gives back.

The daemon drives a ``DeviceUnit`` (sampler, motor, identity); it asks
``DaemonHooks`` about everything beyond the sensor and the motor (may this
session start, where its data goes, what the long hold means) and
``PlanSource`` for the plan in force.  The defaults do nothing, so a test or
a simulation overrides only what it needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from config.plan import TherapyPlan
from config.profile import PptProtocol
from firmware.algometry.measurement import MeasurementResult
from firmware.algometry.settings import AlgometrySettings
from firmware.realtime.sampler import Sampler
from firmware.realtime.sinks import SessionSink
from firmware.realtime.stats import RealtimeStats
from firmware.session.states import Cue
from firmware.session.summary import SessionSummary
from hal.haptics import Haptics


@dataclass(frozen=True)
class DeviceUnit:
    """The hardware one daemon drives, and who it is."""

    sampler: Sampler
    haptics: Haptics
    device_id: str
    device_max_n: float


@dataclass
class DaemonOptions:
    #: Stop after this many sessions (None: run until told to stop).
    sessions: int | None = None
    #: Start sessions without a button press (simulation).
    auto_start: bool = False
    #: Noise limit for a steady reading to tare on, N (standard deviation).
    tare_noise_n: float = 0.5
    tare: bool = True
    #: "session" (guided holds) or "ppt" (pressure pain threshold trials).
    mode: Literal["session", "ppt"] = "session"
    ppt: AlgometrySettings = field(default_factory=AlgometrySettings)
    #: The standard measurement ``ppt`` mode runs (the profile's ``[ppt]``) on a probe of this area.
    ppt_protocol: PptProtocol = field(default_factory=PptProtocol)
    probe_area_cm2: float = 1.0
    #: Seconds between watchdog pings; ``None``: from systemd's environment.
    watchdog_interval_s: float | None = None
    #: The pseudonym of the profile in force, for every session's summary (``None``: no profile).
    person: str | None = None
    #: Ask for a 0-10 pain rating with the button before and after each session (the profile's ``rate_pain``).
    rate_pain: bool = False


@dataclass
class DaemonResult:
    summaries: list[SessionSummary] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    trials: list[MeasurementResult] = field(default_factory=list)
    trial_payloads: list[bytes] = field(default_factory=list)
    #: Why the daemon gave up (e.g. the sampling thread died); the process exits non-zero.
    failure: str | None = None
    stop_source: str | None = None
    #: The signal that stopped ``presspoint run`` in order (its exit code is 128 + this).
    stop_signal: int | None = None
    #: Data-ready → decision latencies, CPU share and peak RSS of the process that ran the sessions.
    stats: RealtimeStats = field(default_factory=RealtimeStats)

    @property
    def attempts(self) -> int:
        """Start requests answered so far: sessions, trials and refusals."""
        return len(self.summaries) + len(self.refusals) + len(self.trials)


class DaemonHooks:
    """The daemon's questions and news for the rest of the device; every default does nothing."""

    def gate(self, plan: TherapyPlan) -> TherapyPlan | str:
        """May a session start under ``plan``?  The plan to run, or a sentence saying why not."""
        return plan

    async def admit(self, plan: TherapyPlan) -> TherapyPlan | str:
        """The gate as the daemon asks it: in another process the answer takes a message."""
        return self.gate(plan)

    def start_cues(self) -> Sequence[Cue]:
        """Cues to play, one after another, once a start is admitted and before anything else."""
        return ()

    def sinks(self) -> Sequence[SessionSink]:
        """Where a new session's data goes."""
        return ()

    def status(self, **fields: object) -> None:
        """The daemon's state changed (MQTT status, for one)."""

    def starting(self) -> None:
        """A session or trial is about to start (a simulated person starts pressing)."""

    def takes_hold_gesture(self) -> bool:
        """Does a long hold while idle mean something here?  If not, it is a plain press."""
        return False

    async def hold_gesture(self) -> Cue | None:
        """Answer the long hold while idle: the cue to play, or ``None`` for none."""
        return None

    def trial_ended(self, result: MeasurementResult) -> None:
        """A pain-threshold measurement is over (its spots measured in full, if any)."""

    def refused(self, reason: str) -> None:
        """A start request was refused."""

    def pain_rated(self, moment: str, rating: int | None) -> None:
        """The person rated their pain ``before`` or ``after`` a session (``None``: skipped)."""

    def follow_up_answered(self, session_id: str, answer: str) -> None:
        """The person answered the next-day check: ``better``, ``not_better`` or ``skipped``."""


class PlanSource(Protocol):
    """The plan in force, held for the length of a session.

    ``with plans.session() as plan:`` brackets everything from choosing the
    plan to the session's end, refusals included: a remote plan update that
    arrives meanwhile is queued and applied when the bracket closes, never
    half-way through a session.
    """

    def session(self) -> AbstractContextManager[TherapyPlan]: ...


class FixedPlan:
    """A plan that never changes (simulation, tests, no remote updates)."""

    def __init__(self, plan: TherapyPlan) -> None:
        self.plan = plan

    @contextlib.contextmanager
    def session(self) -> Iterator[TherapyPlan]:
        yield self.plan
