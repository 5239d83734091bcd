"""The session controller: a state machine fed with timestamped force samples.

Time is session time in seconds: 0.0 is the first sample.  Each call returns
the decisions it made (phase changes, cues, hold boundaries, aborts, the end)
and never blocks, sleeps or reads a clock, so the same controller runs on the
device at 80 samples/s and in a simulation thousands of times faster.

Safety checks (``firmware/session/safety.py``: over_device_max, debounced
over_tolerance, sensor_fault) run on every sample before anything else, in
every phase; a fault the sampler reports (saturation) aborts too.

Every person-paced wait (for contact, for the ramp to reach the band, for the
release after a hold) is bounded by ``max_wait_for_contact_s``, so every
session ends by itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from config.plan import TherapyPlan
from firmware.session.decisions import (
    AbortDecision,
    CueDecision,
    Decision,
    HoldEnded,
    HoldStarted,
    PhaseChange,
    SessionEnded,
)
from firmware.session.hold import TIME_EPS, HoldTracker
from firmware.session.safety import SafetyMonitor
from firmware.session.states import AbortReason, Cue, HoldOutcome, Outcome, Phase

_NO_DECISIONS: tuple[Decision, ...] = ()


class SessionController:
    """Runs one session of ``plan.repetitions`` holds.  Feed it samples in time order."""

    def __init__(self, plan: TherapyPlan, *, sample_rate_hz: float, device_max_n: float) -> None:
        if plan.therapist_max > device_max_n * (1 + 1e-9):
            raise ValueError("plan.therapist_max exceeds the device's safe range")
        self.plan = plan
        self.sample_rate_hz = sample_rate_hz
        self.sample_period_s = 1.0 / sample_rate_hz
        self.device_max_n = device_max_n
        self._safety = SafetyMonitor(
            tolerance_n=plan.tolerance,
            device_max_n=device_max_n,
            abort_debounce_ms=plan.abort_debounce_ms,
            sample_period_s=self.sample_period_s,
        )

        self.phase = Phase.WAITING_CONTACT
        self.repetition = 1
        self.phase_started_at = 0.0
        self.outcome: Outcome | None = None
        self.abort: AbortDecision | None = None
        self.stop_source: str | None = None
        self.holds: list[HoldTracker] = []
        self.cue_counts: Counter[str] = Counter()
        self.samples = 0
        self.peak_force_n = 0.0
        self.last_sample_t: float | None = None
        self.last_force_n: float | None = None
        self.ended_at: float | None = None
        self._hold: HoldTracker | None = None
        self._out: list[Decision] = []

    # ------------------------------------------------------------------ inputs

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    def on_sample(self, t: float, force_n: float) -> Sequence[Decision]:
        """One force sample at session time ``t`` (s).  Returns the decisions made."""
        if self.outcome is not None:
            return _NO_DECISIONS
        out: list[Decision] = []
        self._out = out
        if self.last_sample_t is None:
            out.append(PhaseChange(t, Phase.WAITING_CONTACT, self.repetition))
        self.samples += 1
        self.last_sample_t = t
        violation = self._safety.on_sample(t, force_n)
        if violation is not None and violation.is_sensor_fault:
            self._abort(t, violation.reason, self.last_force_n, violation.detail)
            return out
        self.last_force_n = force_n
        if force_n > self.peak_force_n:
            self.peak_force_n = force_n
        if violation is not None:
            self._abort(t, violation.reason, violation.force_n, violation.detail)
            return out
        self._step_phase(t, force_n)
        return out

    def on_gap(self, t: float) -> Sequence[Decision]:
        """Time ``t`` passed without a sample (a missed slot or a timer tick)."""
        if self.outcome is not None:
            return _NO_DECISIONS
        out: list[Decision] = []
        self._out = out
        violation = self._safety.on_gap(t)
        if violation is not None:
            self._abort(t, violation.reason, self.last_force_n, violation.detail)
        return out

    def on_sensor_fault(self, t: float, detail: str) -> list[Decision]:
        """The sampler found the sensor broken (saturated, disconnected): abort now."""
        if self.outcome is not None:
            return []
        out: list[Decision] = []
        self._out = out
        self._abort(t, AbortReason.SENSOR_FAULT, self.last_force_n, detail)
        return out

    def on_stop(self, t: float, source: str = "button") -> list[Decision]:
        """The person pressed stop (or the process was told to stop)."""
        if self.outcome is not None:
            return []
        out: list[Decision] = []
        self._out = out
        self.stop_source = source
        self._end_hold(t, HoldOutcome.STOPPED)
        self._finish(t, Outcome.STOPPED)
        return out

    def interrupt(self, t: float) -> None:
        """Close the session as ``interrupted`` (used when recovering after a crash)."""
        if self.outcome is not None:
            return
        self._out = []
        self._end_hold(t, HoldOutcome.INTERRUPTED)
        self._finish(t, Outcome.INTERRUPTED, cue=None)

    # ------------------------------------------------------------------ phases

    def _step_phase(self, t: float, force_n: float) -> None:
        plan = self.plan
        # A sample can move through several phases (rest ends, contact, in band).
        for _ in range(5):
            phase = self.phase
            if phase is Phase.WAITING_CONTACT:
                if force_n >= plan.contact_threshold:
                    self._enter(t, Phase.RAMP)
                    continue
                if t - self.phase_started_at >= plan.max_wait_for_contact_s - TIME_EPS:
                    self._finish(t, Outcome.TIMED_OUT)
                return
            if phase is Phase.RAMP:
                if plan.band_low_n <= force_n <= plan.band_high_n:
                    self._start_hold(t)
                    continue
                if t - self.phase_started_at >= plan.max_wait_for_contact_s - TIME_EPS:
                    self._finish(t, Outcome.TIMED_OUT)
                return
            if phase is Phase.HOLD:
                hold = self._hold
                assert hold is not None
                if t >= hold.planned_end - TIME_EPS:
                    self._end_hold(hold.planned_end, HoldOutcome.COMPLETED, cue=Cue.RELEASE)
                    self._enter(t, Phase.RELEASE)
                    continue
                for cue in hold.on_sample(t, force_n):
                    self._cue(t, cue)
                if hold.released_early:
                    self._end_hold(t, HoldOutcome.RELEASED_EARLY)
                    self._after_release(t)
                return
            if phase is Phase.RELEASE:
                if force_n < plan.contact_threshold:
                    self._after_release(t)
                elif t - self.phase_started_at >= plan.max_wait_for_contact_s - TIME_EPS:
                    self._finish(t, Outcome.TIMED_OUT)
                return
            if phase is Phase.REST:
                if t - self.phase_started_at >= plan.rest_s - TIME_EPS:
                    self.repetition += 1
                    self._enter(t, Phase.WAITING_CONTACT)
                    continue
                return
            return  # ENDED

    def _enter(self, t: float, phase: Phase) -> None:
        self.phase = phase
        self.phase_started_at = t
        self._out.append(PhaseChange(t, phase, self.repetition))

    def _start_hold(self, t: float) -> None:
        hold = HoldTracker(index=len(self.holds) + 1, started_at=t, plan=self.plan)
        self.holds.append(hold)
        self._hold = hold
        self._enter(t, Phase.HOLD)
        self._out.append(HoldStarted(t, hold.index))
        for cue in hold.start_cues():
            self._cue(t, cue)

    def _end_hold(self, t: float, outcome: HoldOutcome, cue: Cue | None = None) -> None:
        hold = self._hold
        if hold is None:
            return
        hold.end(t, outcome)
        self._hold = None
        self._out.append(HoldEnded(t, hold.index, outcome))
        if cue is not None:
            self._cue(t, cue)

    def _after_release(self, t: float) -> None:
        if self.repetition >= self.plan.repetitions:
            self._finish(t, Outcome.COMPLETED)
        else:
            self._enter(t, Phase.REST)

    def _cue(self, t: float, cue: Cue) -> None:
        self.cue_counts[cue.value] += 1
        self._out.append(CueDecision(t, cue))

    def _abort(self, t: float, reason: AbortReason, force_n: float | None, detail: str) -> None:
        decision = AbortDecision(t, reason, force_n, detail)
        self.abort = decision
        self._end_hold(t, HoldOutcome.ABORTED)
        self._out.append(decision)
        self._finish(t, Outcome.ABORTED, cue=Cue.ABORT)

    def _finish(self, t: float, outcome: Outcome, cue: Cue | None = Cue.DONE) -> None:
        if cue is Cue.DONE and outcome is not Outcome.COMPLETED:
            cue = None
        if cue is not None:
            self._cue(t, cue)
        self.outcome = outcome
        self.ended_at = t
        self.phase = Phase.ENDED
        self._out.append(PhaseChange(t, Phase.ENDED, self.repetition))
        self._out.append(SessionEnded(t, outcome))
