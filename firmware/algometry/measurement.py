"""The standard PPT measurement: at each spot ``trials`` trials with a rest between, then the next spot.

Pure like the trial: time is what the samples say (seconds from the
measurement's first input).  Each trial is an ``AlgometryTrial`` with the
standard rate cues; between trials the session's ``SafetyMonitor`` keeps
watching every reading, and the next trial starts once the rest is over and
the probe is off the skin (a ramp started early would be measured wrong).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from config.plan import TherapyPlan
from config.profile import PptProtocol
from firmware.algometry.decisions import AlgometryDecision, PressIgnored, TrialOutcome
from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.standard import StandardRate, TrialPressure, trial_pressure
from firmware.algometry.trial import AlgometryTrial
from firmware.session.decisions import AbortDecision, CueDecision
from firmware.session.hold import TIME_EPS
from firmware.session.safety import SafetyMonitor
from firmware.session.states import AbortReason, Cue


class MeasurementOutcome(StrEnum):
    COMPLETED = "completed"
    ABORTED = "aborted"
    STOPPED = "stopped"
    TIMED_OUT = "timed_out"


class Phase(StrEnum):
    START = "start"
    TRIAL = "trial"
    REST = "rest"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class MeasuredSpot:
    """Where to measure and the safety limit there."""

    name: str
    tolerance_n: float

    @staticmethod
    def of_plan(plan: TherapyPlan) -> list[MeasuredSpot]:
        """The plan's spots in order (a plan without spots is one, named by the plan)."""
        return [MeasuredSpot(spot.name, spot.tolerance) for spot in plan.spot_plans()]


@dataclass(frozen=True, slots=True)
class TrialStarted:
    t: float
    spot: str
    trial: int  # 1-based, at this spot
    type: str = "ppt_trial_started"


@dataclass(frozen=True, slots=True)
class RestStarted:
    t: float
    until_s: float
    next_spot: bool
    type: str = "ppt_rest_started"


@dataclass(frozen=True)
class SpotTrials:
    """Every trial of one spot, done in full (the mean and change are made from these)."""

    index: int  # 1-based
    spot: str
    trials: tuple[TrialPressure, ...]
    results: tuple[AlgometryResult, ...]


@dataclass(frozen=True, slots=True)
class SpotMeasured:
    t: float
    spot: SpotTrials
    type: str = "ppt_spot_measured"


@dataclass(frozen=True, slots=True)
class MeasurementEnded:
    t: float
    outcome: MeasurementOutcome
    type: str = "ppt_measurement_ended"


MeasurementDecision = AlgometryDecision | TrialStarted | RestStarted | SpotMeasured | MeasurementEnded


@dataclass(frozen=True)
class MeasurementResult:
    outcome: MeasurementOutcome
    spots: tuple[SpotTrials, ...]  # the spots measured in full, in order
    abort: AbortDecision | None
    duration_s: float
    device_max_n: float


_TRIAL_END = {
    TrialOutcome.ABORTED: MeasurementOutcome.ABORTED,
    TrialOutcome.STOPPED: MeasurementOutcome.STOPPED,
    TrialOutcome.TIMED_OUT: MeasurementOutcome.TIMED_OUT,
}


class StandardMeasurement:
    """Feed samples in time order; ``on_button`` is the person's first-discomfort mark."""

    def __init__(
        self,
        spots: Sequence[MeasuredSpot],
        *,
        protocol: PptProtocol,
        probe_area_cm2: float,
        settings: AlgometrySettings,
        device_max_n: float,
        sample_rate_hz: float,
    ) -> None:
        if not spots:
            raise ValueError("a measurement needs at least one spot")
        self.spots = tuple(spots)
        self.protocol = protocol
        self.settings = settings
        self.device_max_n = device_max_n
        self.sample_rate_hz = sample_rate_hz
        self._rate = StandardRate(protocol.rate_kpa_s, probe_area_cm2)
        self.phase = Phase.START
        self.outcome: MeasurementOutcome | None = None
        self.abort: AbortDecision | None = None
        self.measured: list[SpotTrials] = []
        self._spot = 0
        self._pressures: list[TrialPressure] = []
        self._results: list[AlgometryResult] = []
        self._trial: AlgometryTrial | None = None
        self._trial_start = 0.0
        self._rest_until = 0.0
        self._rest_safety: SafetyMonitor | None = None
        self._last_t = 0.0

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def spot(self) -> MeasuredSpot:
        return self.spots[min(self._spot, len(self.spots) - 1)]

    # ------------------------------------------------------------------ inputs

    def on_sample(self, t: float, force_n: float) -> list[MeasurementDecision]:
        return self._route(
            t,
            lambda out: self._rest_sample(t, force_n, out),
            lambda trial, at: trial.on_sample(at, force_n),
        )

    def on_gap(self, t: float) -> list[MeasurementDecision]:
        """Time ``t`` passed without a sample (in a rest too: a silent sensor is a fault)."""
        return self._route(t, lambda out: self._rest_gap(t, out), lambda trial, at: trial.on_gap(at))

    def on_sensor_fault(self, t: float, detail: str) -> list[MeasurementDecision]:
        def in_rest(out: list[MeasurementDecision]) -> bool:
            self._abort(out, t, AbortReason.SENSOR_FAULT, None, detail)
            return False

        return self._route(t, in_rest, lambda trial, at: trial.on_sensor_fault(at, detail))

    def on_button(self, t: float) -> list[MeasurementDecision]:
        """The mark during a trial; ignored in a rest (the next trial's cue says when)."""

        def in_rest(out: list[MeasurementDecision]) -> bool:
            out.append(PressIgnored(t, "resting: press again after the next trial's cue"))
            return False

        return self._route(t, in_rest, lambda trial, at: trial.on_button(at))

    def on_stop(self, t: float) -> list[MeasurementDecision]:
        def in_rest(out: list[MeasurementDecision]) -> bool:
            self._end(out, t, MeasurementOutcome.STOPPED)
            return False

        return self._route(t, in_rest, lambda trial, at: trial.on_stop(at))

    # ------------------------------------------------------------------ internals

    def _begin(self, t: float) -> list[MeasurementDecision]:
        self._last_t = max(self._last_t, t)
        out: list[MeasurementDecision] = []
        if self.phase is Phase.START:
            self._start_trial(t, out)
        return out

    def _route(
        self,
        t: float,
        in_rest: Callable[[list[MeasurementDecision]], bool],
        in_trial: Callable[[AlgometryTrial, float], list[AlgometryDecision]],
    ) -> list[MeasurementDecision]:
        """One input at ``t``: to the rest's handling, or to the trial on its own clock.

        ``in_rest`` appends what the input does in a rest and says whether it
        goes on to the trial (a reading that starts the next one does).
        """
        out = self._begin(t)
        if self.finished:
            return out
        if self.phase is Phase.REST and not in_rest(out):
            return out
        assert self._trial is not None
        self._forward(in_trial(self._trial, t - self._trial_start), out)
        return out

    def _rest_gap(self, t: float, out: list[MeasurementDecision]) -> bool:
        """No reading in a rest: the rest's safety judges the silence; never the start of a trial."""
        assert self._rest_safety is not None
        violation = self._rest_safety.on_gap(t)
        if violation is not None:
            self._abort(out, t, violation.reason, None, violation.detail)
        return False

    def _start_trial(self, t: float, out: list[MeasurementDecision]) -> None:
        self._trial = AlgometryTrial(
            self.settings,
            tolerance_n=self.spot.tolerance_n,
            device_max_n=self.device_max_n,
            sample_rate_hz=self.sample_rate_hz,
            standard=self._rate,
        )
        self._trial_start = t
        self.phase = Phase.TRIAL
        out.append(TrialStarted(t, self.spot.name, len(self._pressures) + 1))

    def _rest_sample(self, t: float, force_n: float, out: list[MeasurementDecision]) -> bool:
        """One reading in a rest; whether it starts the next trial."""
        assert self._rest_safety is not None
        violation = self._rest_safety.on_sample(t, force_n)
        if violation is not None:
            self._abort(out, t, violation.reason, violation.force_n, violation.detail + " in the rest between trials")
            return False
        if t < self._rest_until - TIME_EPS:
            return False
        if force_n >= self.settings.contact_threshold:
            if t >= self._rest_until + self.settings.max_wait_for_contact_s - TIME_EPS:
                self._end(out, t, MeasurementOutcome.TIMED_OUT)  # never let go after the rest
            return False
        out.append(CueDecision(t, Cue.CHECK_IN))
        self._start_trial(t, out)
        return True

    def _forward(self, decisions: list[AlgometryDecision], out: list[MeasurementDecision]) -> None:
        """The trial's decisions on the measurement's clock; its end moves the measurement on."""
        start = self._trial_start
        out.extend(dataclasses.replace(d, t=d.t + start) for d in decisions)
        if self._trial is not None and self._trial.finished:
            self._trial_over(self._trial.result(), start + (self._trial.ended_at or 0.0), out)

    def _trial_over(self, result: AlgometryResult, t: float, out: list[MeasurementDecision]) -> None:
        self._trial = None
        if result.outcome is not TrialOutcome.RECORDED or result.threshold_n is None:
            self.abort = None if result.abort is None else dataclasses.replace(result.abort, t=t)
            self._end(out, t, _TRIAL_END.get(result.outcome, MeasurementOutcome.STOPPED))
            return
        self._pressures.append(
            trial_pressure(
                result.threshold_n,
                result.mean_rate_n_per_s,
                probe_area_cm2=self._rate.probe_area_cm2,
                target_kpa_s=self._rate.target_kpa_s,
            )
        )
        self._results.append(result)
        next_spot = len(self._pressures) >= self.protocol.trials
        if next_spot:
            spot = SpotTrials(self._spot + 1, self.spot.name, tuple(self._pressures), tuple(self._results))
            self.measured.append(spot)
            out.append(SpotMeasured(t, spot))
            self._pressures, self._results = [], []
            self._spot += 1
            if self._spot >= len(self.spots):
                self._end(out, t, MeasurementOutcome.COMPLETED)
                return
            out.append(CueDecision(t, Cue.NEXT_SPOT))
        self._rest_until = t + self.protocol.trial_rest_s
        self._rest_safety = SafetyMonitor(
            tolerance_n=self.spot.tolerance_n,
            device_max_n=self.device_max_n,
            abort_debounce_ms=self.settings.abort_debounce_ms,
            sample_period_s=1.0 / self.sample_rate_hz,
        )
        self._rest_safety.last_t = t
        self.phase = Phase.REST
        out.append(RestStarted(t, self._rest_until, next_spot))

    def _abort(
        self, out: list[MeasurementDecision], t: float, reason: AbortReason, force_n: float | None, detail: str
    ) -> None:
        self.abort = AbortDecision(t, reason, force_n, detail)
        out.append(self.abort)
        out.append(CueDecision(t, Cue.ABORT))
        self._end(out, t, MeasurementOutcome.ABORTED)

    def _end(self, out: list[MeasurementDecision], t: float, outcome: MeasurementOutcome) -> None:
        self.outcome = outcome
        self.phase = Phase.DONE
        self._last_t = max(self._last_t, t)
        out.append(MeasurementEnded(t, outcome))

    def result(self) -> MeasurementResult:
        if self.outcome is None:
            raise ValueError("the measurement has not ended yet")
        return MeasurementResult(
            outcome=self.outcome,
            spots=tuple(self.measured),
            abort=self.abort,
            duration_s=self._last_t,
            device_max_n=self.device_max_n,
        )
