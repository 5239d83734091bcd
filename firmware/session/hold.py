"""Bookkeeping and cues for one hold: band tracking, breath pacing, check-ins, early release."""

from __future__ import annotations

from dataclasses import dataclass

from config.plan import TherapyPlan
from config.spots import SpotPlan, band_edges
from firmware.session.states import Cue, Gesture, HoldOutcome

TIME_EPS = 1e-9
TOO_LIGHT_AFTER_S = 1.0


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A check-in applied during a hold: when, which, and the target from then on."""

    at_s: float
    kind: Gesture
    target_n: float


class HoldTracker:
    """One hold, from its first in-band sample to its end.

    Samples at or after ``planned_end`` belong to the release, not the hold.
    Breath cues fall at the hold start and every ``60 / breaths_per_min``
    seconds after it, strictly before the hold's end; check-in cues (when the
    plan has ``check_in_s``) every ``check_in_s`` after the start, likewise.
    The band follows the target: ``set_target`` moves it from the next sample.
    """

    __slots__ = (
        "_band",
        "_band_high",
        "_band_low",
        "_below_contact_since",
        "_breath_period",
        "_check_in_s",
        "_contact",
        "_grace",
        "_hard_cued",
        "_light_cued",
        "_light_since",
        "_next_breath",
        "_next_check_in",
        "adjustments",
        "breath_cues",
        "check_in_cues",
        "ended_at",
        "force_sum",
        "in_band_samples",
        "index",
        "outcome",
        "peak_force_n",
        "planned_end",
        "released_early",
        "rest_stroke_samples",
        "samples",
        "spot",
        "start_target_n",
        "started_at",
        "target_n",
    )

    def __init__(
        self,
        index: int,
        started_at: float,
        plan: TherapyPlan,
        spot: SpotPlan | None = None,
        target_n: float | None = None,
    ) -> None:
        spot = spot or plan.spot_plans()[0]
        self.index = index
        self.spot = spot.index
        self.started_at = started_at
        self.planned_end = started_at + spot.hold_s
        self.ended_at: float | None = None
        self.outcome: HoldOutcome | None = None
        self.samples = 0
        self.in_band_samples = 0
        self.force_sum = 0.0
        self.peak_force_n = 0.0
        self.breath_cues = 0
        self.released_early = False
        self.adjustments: list[Adjustment] = []
        self.rest_stroke_samples = 0
        self._band = spot.band
        self.target_n = self._band_low = self._band_high = 0.0
        self.set_target(spot.target if target_n is None else target_n)
        self.start_target_n = self.target_n
        self._contact = plan.contact_threshold
        self._grace = plan.release_grace_s
        self._breath_period = spot.breath_period_s
        self._next_breath = started_at
        self.check_in_cues = 0
        self._check_in_s = plan.check_in_s
        self._next_check_in = started_at + plan.check_in_s if plan.check_in_s > 0 else float("inf")
        self._light_since: float | None = None
        self._light_cued = False
        self._hard_cued = False
        self._below_contact_since: float | None = None

    def set_target(self, target_n: float) -> None:
        """The band follows ``target_n`` from the next sample; the timer runs on."""
        self.target_n = target_n
        self._band_low, self._band_high = band_edges(target_n, self._band)

    def adjusted(self, t: float, kind: Gesture, target_n: float) -> None:
        """Record a check-in that took effect at ``t`` and move the band."""
        self.adjustments.append(Adjustment(t, kind, target_n))
        self.set_target(target_n)

    def start_cues(self) -> list[Cue]:
        """Cues given on the hold's first sample (which is in the band by definition)."""
        return [Cue.ENTERED_BAND]

    def on_sample(self, t: float, force_n: float) -> list[Cue]:
        """Account one sample inside the hold; return the cues it calls for."""
        cues: list[Cue] = []
        self.samples += 1
        self.force_sum += force_n
        if force_n > self.peak_force_n:
            self.peak_force_n = force_n
        while self._next_breath <= t + TIME_EPS and self._next_breath < self.planned_end - TIME_EPS:
            self.breath_cues += 1
            self._next_breath += self._breath_period
            cues.append(Cue.BREATH)
        while self._next_check_in <= t + TIME_EPS and self._next_check_in < self.planned_end - TIME_EPS:
            self.check_in_cues += 1
            self._next_check_in += self._check_in_s
            cues.append(Cue.CHECK_IN)

        if force_n < self._band_low:
            if self._light_since is None:
                self._light_since = t
            elif not self._light_cued and t - self._light_since > TOO_LIGHT_AFTER_S + TIME_EPS:
                self._light_cued = True
                cues.append(Cue.TOO_LIGHT)
            self._hard_cued = False
        elif force_n > self._band_high:
            if not self._hard_cued:
                self._hard_cued = True
                cues.append(Cue.TOO_HARD)
            self._light_since = None
            self._light_cued = False
        else:
            self.in_band_samples += 1
            if self._light_cued or self._hard_cued:
                cues.append(Cue.ENTERED_BAND)
            self._light_since = None
            self._light_cued = False
            self._hard_cued = False

        if force_n < self._contact:
            if self._below_contact_since is None:
                self._below_contact_since = t
            elif t - self._below_contact_since > self._grace + TIME_EPS:
                self.released_early = True
        else:
            self._below_contact_since = None
        return cues

    def end(self, t: float, outcome: HoldOutcome) -> None:
        self.ended_at = t
        self.outcome = outcome

    @property
    def in_band_fraction(self) -> float:
        return self.in_band_samples / self.samples if self.samples else 0.0

    @property
    def mean_force_n(self) -> float:
        return self.force_sum / self.samples if self.samples else 0.0
