"""What the real-time process and the service process say to each other (over ``realtime.link``).

Real-time → service: systemd notifications, hook calls (status, refusals,
trials), session sink calls (samples in batches, decisions, summary), admission and
gesture questions, and at the end the daemon's result.
Service → real-time: the set-up, admission answers, cues to play, simulated presses, shutdown.
Every message is a small frozen dataclass; both ends are our own processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.device.contracts import DaemonOptions, DaemonResult
from firmware.device.options import SimulationOptions
from firmware.session.states import Cue

# --- service → real-time --------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """Everything the real-time process needs to build its hardware and daemon."""

    device: DeviceConfig
    plan: TherapyPlan
    options: DaemonOptions
    simulation: SimulationOptions | None
    verbose: bool = False
    fault_injection: bool = False


@dataclass(frozen=True)
class Admitted:
    """The answer to ``AdmitRequest``: the plan to run, or why not, and the cues that start it."""

    request: int
    answer: TherapyPlan | str
    cues: tuple[Cue, ...] = ()


@dataclass(frozen=True)
class Press:
    """A short press of the simulated button (``run --simulate --press-on-stdin``)."""


@dataclass(frozen=True)
class PlayCue:
    cue: Cue


@dataclass(frozen=True)
class FollowUpDue:
    """The next follow-up to ask about: its window opens and closes so many seconds from now (``None``: none)."""

    session_id: str | None
    opens_in_s: float = 0.0
    closes_in_s: float = 0.0


@dataclass(frozen=True)
class Shutdown:
    source: str


# --- real-time → service --------------------------------------------------------------


@dataclass(frozen=True)
class Notify:
    """sd_notify fields (``READY=1``, ``STATUS=…``, ``WATCHDOG=1``, ``STOPPING=1``) for systemd."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class HookCall:
    """A ``DaemonHooks`` news call (``status``, ``refused``, ``trial_ended``)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None


@dataclass(frozen=True)
class SinkCall:
    """A ``SessionSink`` call (``session_started``, ``sample``, ``decisions``, ``session_ended``)."""

    name: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class SampleBatch:
    """``SessionSink.sample`` calls in order, several to a message: ``(t, force_n, raw)`` each."""

    samples: tuple[tuple[float, float, int], ...]


@dataclass(frozen=True)
class AdmitRequest:
    """May an attempt start?  The service holds the plan bracket until ``AttemptEnded``."""

    request: int


@dataclass(frozen=True)
class AttemptEnded:
    """The attempt (session, trial or refusal) is over: the service may apply queued plans."""


@dataclass(frozen=True)
class HoldGesture:
    """The person held the button while idle (lower the tolerance)."""


@dataclass(frozen=True)
class PainRated:
    """A pain rating entered on the device, ``before`` or ``after`` a session (``None``: skipped)."""

    moment: str
    rating: int | None


@dataclass(frozen=True)
class FollowUpAnswered:
    """The person answered the follow-up of a session on the device."""

    session_id: str
    answer: str


@dataclass(frozen=True)
class Finished:
    """The daemon is done; its result."""

    result: DaemonResult
