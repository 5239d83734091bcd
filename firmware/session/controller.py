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
session ends by itself, saying which wait ran out.

A plan's spots are done in order, each with its own repetitions.  Check-ins
(``less`` / ``more``, see ``targets.py``) arrive between samples and take
effect on the next one, during a ramp or a hold only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from config.plan import TherapyPlan
from firmware.session.check_ins import CheckIns
from firmware.session.decisions import (
    AbortDecision,
    CueDecision,
    Decision,
    HoldEnded,
    HoldStarted,
    PhaseChange,
    SessionEnded,
    TimedOut,
)
from firmware.session.hold import TIME_EPS, HoldTracker
from firmware.session.rest import RestWatch
from firmware.session.safety import SafetyMonitor
from firmware.session.spots import SpotProgress
from firmware.session.states import AbortReason, Cue, Gesture, HoldOutcome, Outcome, Phase, Wait
from firmware.session.targets import SpotTarget

_NO_DECISIONS: tuple[Decision, ...] = ()
_ADJUSTABLE = frozenset({Phase.RAMP, Phase.HOLD})
#: The "release now" reminder comes this far into the wait for the release.
RELEASE_REMINDER_FRACTION = 0.5


class SessionController:
    """Runs one session: each spot's repetitions in turn.  Feed it samples in time order."""

    def __init__(self, plan: TherapyPlan, *, sample_rate_hz: float, device_max_n: float) -> None:
        if plan.therapist_max > device_max_n * (1 + 1e-9):
            raise ValueError("plan.therapist_max exceeds the device's safe range")
        self.plan = plan
        self.sample_rate_hz = sample_rate_hz
        self.sample_period_s = 1.0 / sample_rate_hz
        self.device_max_n = device_max_n
        self._safety = SafetyMonitor.for_plan(plan, device_max_n=device_max_n, sample_period_s=self.sample_period_s)
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
        self.timeout: TimedOut | None = None
        self.spots = SpotProgress(plan.spot_plans())
        self.check_ins = CheckIns(plan, self.spots.current)
        #: The target each spot ended with, for the spots left behind.
        self.final_targets: list[float] = []
        self._hold: HoldTracker | None = None
        self._last_hold: HoldTracker | None = None
        self._rest = RestWatch(plan.contact_threshold, plan.stroke_max_n)
        self._reminded = False
        self._reminder_after_s = RELEASE_REMINDER_FRACTION * plan.max_wait_for_contact_s - TIME_EPS
        #: Read once (the plan is frozen): a wait runs out, the rest under way ends, this far into its phase.
        self._wait_limit_s, self._rest_limit_s = plan.max_wait_for_contact_s - TIME_EPS, 0.0
        self._out: list[Decision] = []

    @property
    def target(self) -> SpotTarget:
        """The target of the spot under way, as check-ins moved it."""
        return self.check_ins.target

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
            out.append(PhaseChange(t, Phase.WAITING_CONTACT, self.repetition, self.spots.current.index))
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
        if self.check_ins.said:
            self._apply_check_ins(t)
        self._step_phase(t, force_n)
        return out

    def on_gesture(self, kind: Gesture) -> None:
        """A check-in (``less`` / ``more``): it takes effect on the next sample, in a ramp or hold."""
        if self.outcome is None:
            self.check_ins.say(kind)

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

    def _step_phase(self, t: float, force_n: float) -> None:
        # A sample can move through several phases (rest ends, contact, in band).
        for _ in range(5):
            phase = self.phase
            waited = t - self.phase_started_at >= self._wait_limit_s
            if phase is Phase.WAITING_CONTACT:
                if force_n >= self.plan.contact_threshold:
                    self._enter(t, Phase.RAMP)
                    continue
                if waited:
                    self._time_out(t, Wait.CONTACT)
                return
            if phase is Phase.RAMP:
                band_low_n, band_high_n = self.check_ins.target.band_n()
                if band_low_n <= force_n <= band_high_n:
                    self._start_hold(t)
                    continue
                if waited:
                    self._time_out(t, Wait.BAND)
                return
            if phase is Phase.HOLD:
                hold = self._hold
                assert hold is not None
                if t >= hold.planned_end - TIME_EPS:
                    self._end_hold(hold.planned_end, HoldOutcome.COMPLETED, cue=Cue.RELEASE)
                    self._reminded = False
                    self._enter(t, Phase.RELEASE)
                    continue
                for cue in hold.on_sample(t, force_n):
                    self._cue(t, cue)
                if hold.released_early:
                    self._end_hold(t, HoldOutcome.RELEASED_EARLY)
                    self._after_release(t)
                return
            if phase is Phase.RELEASE:
                if force_n < self.plan.contact_threshold:
                    self._after_release(t)
                elif waited:
                    self._time_out(t, Wait.RELEASE)
                elif not self._reminded and t - self.phase_started_at >= self._reminder_after_s:
                    self._reminded = True
                    self._cue(t, Cue.RELEASE_NOW)
                return
            if phase is Phase.REST:
                if t - self.phase_started_at >= self._rest_limit_s:
                    self._end_rest(t)
                    continue
                if (rest_cue := self._rest.on_sample(force_n)) is not None:
                    self._cue(t, rest_cue)
                return
            return  # ENDED

    def _end_rest(self, t: float) -> None:
        self._rest.start(None)
        self.repetition += 1
        if self.spots.current_done:
            self.final_targets.append(self.target.target_n)
            self.check_ins.next_spot(self.spots.advance())
            self.repetition = 1
            self._cue(t, Cue.NEXT_SPOT)
        self._enter(t, Phase.WAITING_CONTACT)

    def _apply_check_ins(self, t: float) -> None:
        if self.phase not in _ADJUSTABLE:
            self.check_ins.drop()
            return
        for decision, cue in self.check_ins.apply(t, self.spots.current.index, self._hold):
            self._out.append(decision)
            self._cue(t, cue)

    def _enter(self, t: float, phase: Phase) -> None:
        self.phase = phase
        self.phase_started_at = t
        self._out.append(PhaseChange(t, phase, self.repetition, self.spots.current.index))

    def _start_hold(self, t: float) -> None:
        spot = self.spots.current
        hold = HoldTracker(len(self.holds) + 1, t, self.plan, spot, self.target.target_n)
        hold.adjustments.extend(self.check_ins.before_hold)
        self.check_ins.before_hold = []
        self.holds.append(hold)
        self._hold = hold
        self._enter(t, Phase.HOLD)
        self._out.append(HoldStarted(t, hold.index, spot.index, hold.target_n))
        for cue in hold.start_cues():
            self._cue(t, cue)

    def _end_hold(self, t: float, outcome: HoldOutcome, cue: Cue | None = None) -> None:
        hold = self._hold
        if hold is None:
            return
        hold.end(t, outcome)
        self._hold = None
        self._last_hold = hold
        self._out.append(HoldEnded(t, hold.index, outcome))
        if cue is not None:
            self._cue(t, cue)

    def _after_release(self, t: float) -> None:
        if self.repetition >= self.spots.current.repetitions:
            self.spots.current_done = True
            if self.spots.is_last:
                self._finish(t, Outcome.COMPLETED)
                return
        self._rest.start(self._last_hold)
        self._rest_limit_s = self.spots.current.rest_s - TIME_EPS
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

    def _time_out(self, t: float, wait: Wait) -> None:
        self.timeout = decision = TimedOut(t, wait)
        self._out.append(decision)
        self._finish(t, Outcome.TIMED_OUT, cue=Cue.TIMED_OUT)

    def _finish(self, t: float, outcome: Outcome, cue: Cue | None = Cue.DONE) -> None:
        if cue is Cue.DONE and outcome is not Outcome.COMPLETED:
            cue = None
        if cue is not None:
            self._cue(t, cue)
        self.outcome = outcome
        self.ended_at = t
        self.phase = Phase.ENDED
        self._out.append(PhaseChange(t, Phase.ENDED, self.repetition, self.spots.current.index))
        self._out.append(SessionEnded(t, outcome))
