"""Pressure pain threshold (PPT) trial: samples and a button in, a threshold (or an abort) out.

The person presses slowly and presses the button at the first discomfort; the
threshold is the peak of the smoothed force up to the press.  Pure like the
session core: time is what the samples say.  Safety is the session's own
``SafetyMonitor``.  Why each choice: docs/algometry.md.
"""

from __future__ import annotations

from firmware.algometry.decisions import (
    AlgometryDecision,
    PressIgnored,
    RateOff,
    RateTooFast,
    ThresholdRecorded,
    TrialEnded,
    TrialOutcome,
)
from firmware.algometry.moving_mean import MovingMean
from firmware.algometry.ramp_rate import RampRateEstimator, TooFastCue
from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.standard import RateCue, RateCueTimer, StandardRate, kpa
from firmware.session.decisions import AbortDecision, CueDecision
from firmware.session.hold import TIME_EPS
from firmware.session.safety import SafetyMonitor
from firmware.session.states import AbortReason, Cue


class AlgometryTrial:
    """One PPT measurement.  Feed samples in time order; ``on_button`` at the first discomfort."""

    def __init__(
        self,
        settings: AlgometrySettings,
        *,
        tolerance_n: float,
        device_max_n: float,
        sample_rate_hz: float,
        standard: StandardRate | None = None,
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
        self._rate = RampRateEstimator(settings.rate_window_s)
        self._too_fast = TooFastCue(settings.rate_limit_n_per_s, settings.rate_rearm_fraction, settings.cue_repeat_s)
        #: The standard protocol cues both ways around its kPa/s target instead of the N/s limit.
        self._standard = standard
        self._rate_cues = None if standard is None else RateCueTimer(standard.target_kpa_s, settings.cue_repeat_s)
        self._smooth = MovingMean(settings.smoothing_s)
        self.outcome: TrialOutcome | None = None
        self.abort: AbortDecision | None = None
        self.samples = 0
        self.last_t: float | None = None
        self.ended_at: float | None = None
        self.contact_at: float | None = None
        self._contact_force = 0.0
        self.smoothed_n = 0.0
        self.peak_smoothed_n = 0.0
        self.peak_at: float | None = None
        self.peak_raw_n = 0.0
        self.rate_n_per_s = 0.0
        self.max_rate_n_per_s = 0.0
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
        self.smoothed_n = self._smooth.add(t, force_n)
        if self.contact_at is None:
            if force_n >= s.contact_threshold:
                self.contact_at = t
                self._contact_force = force_n
            elif t >= s.max_wait_for_contact_s - TIME_EPS:
                self._end(out, t, TrialOutcome.TIMED_OUT, None)
                return
        if self.contact_at is not None:
            if self.smoothed_n > self.peak_smoothed_n:
                self.peak_smoothed_n = self.smoothed_n
                self.peak_at = t
            if t - self.contact_at >= s.max_trial_s - TIME_EPS:
                self._end(out, t, TrialOutcome.TIMED_OUT, None)
                return
        rate = self._rate.add(t, force_n)
        if self.contact_at is None or rate is None:
            return
        self.rate_n_per_s = rate
        self.max_rate_n_per_s = max(self.max_rate_n_per_s, rate)
        if self._standard is not None and self._rate_cues is not None:
            self._standard_cue(t, kpa(rate, self._standard.probe_area_cm2), self._rate_cues, out)
        elif self._too_fast.due(t, rate):
            self.too_fast_cues += 1
            out.append(RateTooFast(t, rate))
            out.append(CueDecision(t, s.too_fast_cue))

    def _standard_cue(self, t: float, rate_kpa_s: float, timer: RateCueTimer, out: list[AlgometryDecision]) -> None:
        cue = timer.due(t, rate_kpa_s)
        if cue is None:
            return
        if cue is RateCue.TOO_FAST:
            self.too_fast_cues += 1
        out.append(RateOff(t, cue, rate_kpa_s))
        out.append(CueDecision(t, Cue.TOO_HARD if cue is RateCue.TOO_FAST else Cue.TOO_LIGHT))

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
