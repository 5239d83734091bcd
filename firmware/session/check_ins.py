"""Check-ins said between samples, applied on the next sample of a ramp or a hold.

Outside a ramp or hold they are dropped: waiting for contact, releasing or
resting there is no target to change.  One said during the ramp is recorded
with the hold that follows.
"""

from __future__ import annotations

from config.plan import TherapyPlan
from config.spots import SpotPlan
from firmware.session.decisions import Adjusted, AdjustRefused
from firmware.session.hold import Adjustment, HoldTracker
from firmware.session.states import Cue, Gesture
from firmware.session.targets import SpotTarget


class CheckIns:
    """The spot's target as check-ins move it, and the check-ins not yet applied."""

    __slots__ = ("_plan", "before_hold", "said", "target")

    def __init__(self, plan: TherapyPlan, spot: SpotPlan) -> None:
        self._plan = plan
        #: Said since the last sample, not yet applied (a plain list: it is looked at every sample).
        self.said: list[Gesture] = []
        #: Applied during the ramp, for the hold that follows.
        self.before_hold: list[Adjustment] = []
        self.target = self._target_of(spot)

    def _target_of(self, spot: SpotPlan) -> SpotTarget:
        plan = self._plan
        return SpotTarget(
            spot, step=plan.adjust_step, max_increments=plan.max_increments, contact_threshold_n=plan.contact_threshold
        )

    def next_spot(self, spot: SpotPlan) -> None:
        """A new spot starts from its planned target and a fresh increment budget."""
        self.target = self._target_of(spot)
        self.before_hold = []

    def say(self, kind: Gesture) -> None:
        self.said.append(kind)

    def drop(self) -> None:
        self.said = []

    def apply(self, t: float, spot: int, hold: HoldTracker | None) -> list[tuple[Adjusted | AdjustRefused, Cue]]:
        """Apply what was said, in order; each gives its decision and cue."""
        said, self.said = self.said, []
        results: list[tuple[Adjusted | AdjustRefused, Cue]] = []
        for kind in said:
            result = self.target.adjust(kind)
            if result.refused is not None:
                results.append((AdjustRefused(t, kind, result.target_n, spot, result.refused), Cue.ADJUST_REFUSED))
                continue
            results.append((Adjusted(t, kind, result.target_n, spot), Cue.ADJUSTED))
            if hold is not None:
                hold.adjusted(t, kind, result.target_n)
            else:
                self.before_hold.append(Adjustment(t, kind, result.target_n))
        return results
