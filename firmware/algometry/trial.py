"""Pressure pain threshold (PPT) mode: samples and a button in, a threshold (or an abort) out.

The person presses slowly and presses the button at the first discomfort.
Like the session core this is pure: no clock, no I/O; time is what the
samples say, so the rules are exact and testable.

Choices, and why:

* **Ramp rate.** Faster ramps give higher measured thresholds; about
  1 kgf/s is the common guidance, hence the default limit.  The rate is the
  least-squares slope over the last ``rate_window_s`` (0.5 s) of samples
  after a median-of-3 filter: the median removes single-sample spikes, the
  regression averages the HX711's noise (at 80 Hz, 0.1 N of noise gives a
  slope error of about 0.1 N/s, a hundredth of the limit).  Too fast is
  entered above the limit and left only below ``rate_rearm_fraction`` of it
  (hysteresis), so noise at the limit does not flicker the motor.  The cue is
  ``Cue.TOO_HARD`` ("ease off") unless the device defines its own
  (``too_fast_cue``), repeated every ``cue_repeat_s`` while still too fast.
* **What is recorded.** The person reacts a few hundred ms after the
  sensation and may already ease off (or press on) by then, so the force
  *at* the press is a poor measure.  The threshold is the **peak of the
  force smoothed over ``smoothing_s`` (0.1 s), from contact up to the
  press**: the highest force the person actually held, without a single
  noisy sample counting (the mean lags a steady ramp by rate × smoothing/2,
  0.05 kgf at 1 kgf/s).  The force at the press and the raw peak are kept
  too.  ``rate_ok`` says whether the mean ramp rate (contact to peak) stayed
  within ``rate_ok_margin`` of the limit: a fast trial is recorded but flagged.
* **Safety** is the session's: any sample above ``device_max`` aborts, force
  above the tolerance for ``abort_debounce_ms`` aborts, a silent sensor (more
  than 3 periods) or an implausible reading aborts.  A threshold above the
  person's tolerance is therefore never recorded; the abort says so.
* **Suggestions.** ``suggest_limits`` turns a threshold into a starting point
  for the therapist: target 70 % of the PPT, tolerance 90 %, therapist
  maximum 100 % (capped at ``device_max``).  Holding 60-90 s well below the
  day's threshold stays tolerable, and the abort comes before the person
  reaches it.  Suggestions are shown to the therapist, never applied by
  themselves.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from config.units import Force, kgf
from firmware.session.decisions import AbortDecision, CueDecision
from firmware.session.safety import SafetyMonitor
from firmware.session.states import AbortReason, Cue

_EPS = 1e-9


class AlgometrySettings(BaseModel):
    """How a PPT trial is run.  Defaults follow the common 1 kgf/s guidance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_n_per_s: float = Field(kgf(1.0), gt=0, le=kgf(20), description="cue above this ramp rate, N/s")
    rate_window_s: float = Field(0.5, ge=0.2, le=2.0, description="slope estimated over this much time")
    rate_rearm_fraction: float = Field(0.8, gt=0, lt=1, description="too fast ends below this share of the limit")
    cue_repeat_s: float = Field(1.5, ge=0.5, le=10, description="repeat the cue this often while too fast")
    contact_threshold: Force = Field(kgf(0.3), gt=0)
    smoothing_s: float = Field(0.1, ge=0, le=1, description="the threshold is the peak of this moving mean")
    max_wait_for_contact_s: float = Field(30.0, ge=5, le=600)
    max_trial_s: float = Field(120.0, ge=10, le=600, description="longest time from contact to the press")
    abort_debounce_ms: float = Field(25.0, ge=0, le=100)
    rate_ok_margin: float = Field(1.2, ge=1.0, le=3.0, description="rate_ok when mean rate <= limit × this")
    too_fast_cue: Cue = Cue.TOO_HARD


class TrialOutcome(StrEnum):
    RECORDED = "recorded"
    ABORTED = "aborted"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RateTooFast:
    t: float
    rate_n_per_s: float
    type: str = "rate_too_fast"


@dataclass(frozen=True, slots=True)
class ThresholdRecorded:
    t: float
    threshold_n: float
    type: str = "threshold_recorded"


@dataclass(frozen=True, slots=True)
class PressIgnored:
    t: float
    reason: str
    type: str = "press_ignored"


@dataclass(frozen=True, slots=True)
class TrialEnded:
    t: float
    outcome: TrialOutcome
    type: str = "trial_ended"


AlgometryDecision = CueDecision | AbortDecision | RateTooFast | ThresholdRecorded | PressIgnored | TrialEnded


def decision_event(decision: AlgometryDecision) -> dict[str, Any]:
    """A JSON-able dict of a decision (enums as strings), like the session's events."""
    return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in asdict(decision).items()}


@dataclass(frozen=True)
class AlgometryResult:
    """One trial, as recorded."""

    outcome: TrialOutcome
    threshold_n: float | None
    force_at_press_n: float | None
    peak_force_n: float
    contact_at_s: float | None
    press_at_s: float | None
    peak_at_s: float | None
    mean_rate_n_per_s: float | None
    max_rate_n_per_s: float
    rate_limit_n_per_s: float
    rate_ok: bool | None
    too_fast_cues: int
    abort: AbortDecision | None
    samples: int
    duration_s: float
    tolerance_n: float
    device_max_n: float


class AlgometryTrial:
    """One PPT measurement.  Feed samples in time order; ``on_button`` at the first discomfort."""

    def __init__(
        self, settings: AlgometrySettings, *, tolerance_n: float, device_max_n: float, sample_rate_hz: float
    ) -> None:
        if tolerance_n > device_max_n * (1 + 1e-9):
            raise ValueError("tolerance exceeds the device's safe range")
        if settings.contact_threshold >= tolerance_n:
            raise ValueError("contact_threshold must be below the tolerance")
        self.settings = settings
        self.tolerance_n = tolerance_n
        self.device_max_n = device_max_n
        self.sample_period_s = 1.0 / sample_rate_hz
        self._safety = SafetyMonitor(
            tolerance_n=tolerance_n,
            device_max_n=device_max_n,
            abort_debounce_ms=settings.abort_debounce_ms,
            sample_period_s=self.sample_period_s,
        )
        self.outcome: TrialOutcome | None = None
        self.abort: AbortDecision | None = None
        self.samples = 0
        self.last_t: float | None = None
        self.ended_at: float | None = None
        self.contact_at: float | None = None
        self._contact_force = 0.0
        self._last3: deque[float] = deque(maxlen=3)
        self._window: deque[tuple[float, float]] = deque()
        self._smooth: deque[tuple[float, float]] = deque()
        self._smooth_sum = 0.0
        self.smoothed_n = 0.0
        self.peak_smoothed_n = 0.0
        self.peak_at: float | None = None
        self.peak_raw_n = 0.0
        self.rate_n_per_s = 0.0
        self.max_rate_n_per_s = 0.0
        self._too_fast = False
        self._last_cue_at: float | None = None
        self.too_fast_cues = 0
        self.threshold_n: float | None = None
        self.force_at_press_n: float | None = None
        self.press_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    # ------------------------------------------------------------------ inputs

    def on_sample(self, t: float, force_n: float) -> list[AlgometryDecision]:
        if self.outcome is not None:
            return []
        out: list[AlgometryDecision] = []
        self.samples += 1
        self.last_t = t
        violation = self._safety.on_sample(t, force_n)
        if violation is not None:
            detail = violation.detail
            if violation.reason is AbortReason.OVER_TOLERANCE:
                detail += " before the button was pressed"
            self._abort(out, t, violation.reason, violation.force_n, detail)
            return out
        self._track(t, force_n, out)
        return out

    def on_gap(self, t: float) -> list[AlgometryDecision]:
        """Time ``t`` passed without a sample."""
        if self.outcome is not None:
            return []
        out: list[AlgometryDecision] = []
        violation = self._safety.on_gap(t)
        if violation is not None:
            self._abort(out, t, violation.reason, None, violation.detail)
        return out

    def on_sensor_fault(self, t: float, detail: str) -> list[AlgometryDecision]:
        """The sampler found the sensor broken (saturated, disconnected, thread dead): abort now."""
        if self.outcome is not None:
            return []
        out: list[AlgometryDecision] = []
        self._abort(out, t, AbortReason.SENSOR_FAULT, None, detail)
        return out

    def on_button(self, t: float) -> list[AlgometryDecision]:
        """First discomfort: record the threshold (ignored before contact)."""
        if self.outcome is not None:
            return []
        if self.contact_at is None:
            return [PressIgnored(t, "no contact yet: press the tip on the point first")]
        out: list[AlgometryDecision] = []
        self.press_at = t
        self.threshold_n = self.peak_smoothed_n
        self.force_at_press_n = self.smoothed_n
        out.append(ThresholdRecorded(t, self.threshold_n))
        self._end(out, t, TrialOutcome.RECORDED, Cue.DONE)
        return out

    def on_stop(self, t: float) -> list[AlgometryDecision]:
        if self.outcome is not None:
            return []
        out: list[AlgometryDecision] = []
        self._end(out, t, TrialOutcome.STOPPED, None)
        return out

    # ------------------------------------------------------------------ internals

    def _track(self, t: float, force_n: float, out: list[AlgometryDecision]) -> None:
        s = self.settings
        self.peak_raw_n = max(self.peak_raw_n, force_n)
        self._last3.append(force_n)
        filtered = statistics.median(self._last3)
        # Moving mean for the threshold (a window of 0 s is the sample itself).
        self._smooth.append((t, force_n))
        self._smooth_sum += force_n
        while self._smooth and t - self._smooth[0][0] > s.smoothing_s + _EPS and len(self._smooth) > 1:
            self._smooth_sum -= self._smooth.popleft()[1]
        self.smoothed_n = self._smooth_sum / len(self._smooth)
        if self.contact_at is None:
            if force_n >= s.contact_threshold:
                self.contact_at = t
                self._contact_force = force_n
            elif t >= s.max_wait_for_contact_s - _EPS:
                self._end(out, t, TrialOutcome.TIMED_OUT, None)
                return
        if self.contact_at is not None:
            if self.smoothed_n > self.peak_smoothed_n:
                self.peak_smoothed_n = self.smoothed_n
                self.peak_at = t
            if t - self.contact_at >= s.max_trial_s - _EPS:
                self._end(out, t, TrialOutcome.TIMED_OUT, None)
                return
        self._window.append((t, filtered))
        while t - self._window[0][0] > s.rate_window_s + _EPS:
            self._window.popleft()
        if self.contact_at is None or t - self._window[0][0] < 0.8 * s.rate_window_s or len(self._window) < 3:
            return
        self.rate_n_per_s = _slope(self._window)
        self.max_rate_n_per_s = max(self.max_rate_n_per_s, self.rate_n_per_s)
        if self.rate_n_per_s > s.rate_limit_n_per_s:
            repeat = self._last_cue_at is not None and t - self._last_cue_at >= s.cue_repeat_s - _EPS
            if not self._too_fast or repeat:
                self._too_fast = True
                self._last_cue_at = t
                self.too_fast_cues += 1
                out.append(RateTooFast(t, self.rate_n_per_s))
                out.append(CueDecision(t, s.too_fast_cue))
        elif self.rate_n_per_s < s.rate_rearm_fraction * s.rate_limit_n_per_s:
            self._too_fast = False

    def _abort(
        self, out: list[AlgometryDecision], t: float, reason: AbortReason, force_n: float | None, detail: str
    ) -> None:
        decision = AbortDecision(t, reason, force_n, detail)
        self.abort = decision
        out.append(decision)
        self._end(out, t, TrialOutcome.ABORTED, Cue.ABORT)

    def _end(self, out: list[AlgometryDecision], t: float, outcome: TrialOutcome, cue: Cue | None) -> None:
        if cue is not None:
            out.append(CueDecision(t, cue))
        self.outcome = outcome
        self.ended_at = t
        out.append(TrialEnded(t, outcome))

    def result(self) -> AlgometryResult:
        if self.outcome is None:
            raise ValueError("the trial has not ended yet")
        mean_rate: float | None = None
        if self.contact_at is not None and self.peak_at is not None and self.peak_at > self.contact_at:
            mean_rate = (self.peak_smoothed_n - self._contact_force) / (self.peak_at - self.contact_at)
        rate_ok = None
        if self.outcome is TrialOutcome.RECORDED and mean_rate is not None:
            rate_ok = mean_rate <= self.settings.rate_limit_n_per_s * self.settings.rate_ok_margin
        return AlgometryResult(
            outcome=self.outcome,
            threshold_n=self.threshold_n,
            force_at_press_n=self.force_at_press_n,
            peak_force_n=self.peak_raw_n,
            contact_at_s=self.contact_at,
            press_at_s=self.press_at,
            peak_at_s=self.peak_at,
            mean_rate_n_per_s=mean_rate,
            max_rate_n_per_s=self.max_rate_n_per_s,
            rate_limit_n_per_s=self.settings.rate_limit_n_per_s,
            rate_ok=rate_ok,
            too_fast_cues=self.too_fast_cues,
            abort=self.abort,
            samples=self.samples,
            duration_s=self.ended_at or 0.0,
            tolerance_n=self.tolerance_n,
            device_max_n=self.device_max_n,
        )


def _slope(points: deque[tuple[float, float]]) -> float:
    """Least-squares slope of (t, f) points (N/s)."""
    n = len(points)
    t0 = points[0][0]
    mean_t = sum(p[0] - t0 for p in points) / n
    mean_f = sum(p[1] for p in points) / n
    num = 0.0
    den = 0.0
    for t, f in points:
        dt = t - t0 - mean_t
        num += dt * (f - mean_f)
        den += dt * dt
    return num / den if den > 0 else 0.0


# ---------------------------------------------------------------- suggestions for the therapist

TARGET_FRACTION: Final = 0.7
TOLERANCE_FRACTION: Final = 0.9
THERAPIST_MAX_FRACTION: Final = 1.0


class LimitSuggestion(BaseModel):
    """Target, tolerance and therapist maximum derived from a threshold (a starting point)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis_threshold_n: float
    target_n: float
    tolerance_n: float
    therapist_max_n: float
    target_fraction: float
    tolerance_fraction: float
    capped_by_device: bool = Field(False, description="the threshold was beyond device_max; forces scaled down")


def suggest_limits(
    threshold_n: float,
    *,
    band: float = 0.15,
    device_max_n: float = kgf(9.0),
    target_fraction: float = TARGET_FRACTION,
    tolerance_fraction: float = TOLERANCE_FRACTION,
    therapist_max_fraction: float = THERAPIST_MAX_FRACTION,
) -> LimitSuggestion:
    """Fractions of the threshold; ``ValueError`` when the plan rules cannot hold.

    A threshold beyond the load cell's range is measured as at most
    ``device_max`` (the trial aborts there), so the basis is capped to keep
    every suggested force within the device and the fractions intact.
    """
    if not (threshold_n > 0 and math.isfinite(threshold_n)):
        raise ValueError("the threshold must be a positive force")
    basis = min(threshold_n, device_max_n / max(tolerance_fraction, therapist_max_fraction))
    tolerance = tolerance_fraction * basis
    therapist_max = max(therapist_max_fraction * basis, tolerance)
    target = target_fraction * basis
    if not target * (1 + band) < tolerance:
        raise ValueError(
            f"a target of {target:.2f} N with band {band:.0%} reaches {target * (1 + band):.2f} N, "
            f"not below the suggested tolerance {tolerance:.2f} N"
        )
    return LimitSuggestion(
        basis_threshold_n=threshold_n,
        target_n=target,
        tolerance_n=tolerance,
        therapist_max_n=therapist_max,
        target_fraction=target_fraction,
        tolerance_fraction=tolerance_fraction,
        capped_by_device=basis < threshold_n,
    )


def suggested_plan(base: TherapyPlan, suggestion: LimitSuggestion, device_max_n: float) -> TherapyPlan:
    """``base`` with the suggested forces, fully validated; ``ValueError`` naming the rule otherwise."""
    data = {
        **base.model_dump(),
        "target": suggestion.target_n,
        "tolerance": suggestion.tolerance_n,
        "therapist_max": suggestion.therapist_max_n,
    }
    try:
        return validate_plan(data, device_max_n)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        raise ValueError(f"suggested plan breaks a rule: {where}: {problem}") from None
