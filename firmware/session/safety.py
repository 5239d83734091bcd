"""The named safety checks, shared by guided sessions and pain-threshold trials.

One implementation, so a session and a trial can never disagree on what is
too hard or too quiet:

* ``over_device_max`` - one sample above the load cell's safe range;
* ``over_tolerance``  - force above the tolerance continuously for at least
  the debounce (measured between sample timestamps: the stretch starts at the
  first sample above tolerance and is broken only by one at or below it);
* ``sensor_fault``    - a reading that is not finite or is below -1/4 of the
  safe range, or no sample for more than three sample periods.

Pure: feed it sample times and forces, it returns the first violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from config.plan import TherapyPlan
from firmware.session.hold import TIME_EPS
from firmware.session.states import AbortReason

#: A sample gap longer than this many periods is a sensor fault.
MAX_MISSING_PERIODS = 3


@dataclass(frozen=True, slots=True)
class Violation:
    """A broken safety rule: why, the deciding sample's force (None for a sensor fault), and a sentence."""

    reason: AbortReason
    force_n: float | None
    detail: str

    @property
    def is_sensor_fault(self) -> bool:
        return self.reason is AbortReason.SENSOR_FAULT


class SafetyMonitor:
    """Checks every sample (and every silent tick) against the safety rules."""

    __slots__ = (
        "_debounce_s",
        "_implausible_below_n",
        "_over_since",
        "device_max_n",
        "last_t",
        "max_gap_s",
        "tolerance_n",
    )

    @classmethod
    def for_plan(cls, plan: TherapyPlan, *, device_max_n: float, sample_period_s: float) -> SafetyMonitor:
        """The rules of ``plan`` (its tolerance and debounce) on a device of ``device_max_n``."""
        return cls(
            tolerance_n=plan.tolerance,
            device_max_n=device_max_n,
            abort_debounce_ms=plan.abort_debounce_ms,
            sample_period_s=sample_period_s,
        )

    def __init__(
        self, *, tolerance_n: float, device_max_n: float, abort_debounce_ms: float, sample_period_s: float
    ) -> None:
        self.tolerance_n = tolerance_n
        self.device_max_n = device_max_n
        self.max_gap_s = MAX_MISSING_PERIODS * sample_period_s + TIME_EPS
        self._debounce_s = abort_debounce_ms / 1000.0
        self._implausible_below_n = -0.25 * device_max_n
        self._over_since: float | None = None
        #: Time of the last sample seen (good or not), for the gap rule.
        self.last_t: float | None = None

    def on_sample(self, t: float, force_n: float) -> Violation | None:
        """Check one sample at time ``t``; the first rule it breaks, or None."""
        previous, self.last_t = self.last_t, t
        if previous is not None and t - previous > self.max_gap_s:
            return Violation(AbortReason.SENSOR_FAULT, None, f"no sample for {t - previous:.3f} s")
        if not math.isfinite(force_n) or force_n < self._implausible_below_n:
            return Violation(AbortReason.SENSOR_FAULT, None, f"implausible reading {force_n!r} N")
        if force_n > self.device_max_n:
            return Violation(
                AbortReason.OVER_DEVICE_MAX,
                force_n,
                f"{force_n:.2f} N, over the load cell's {self.device_max_n:.2f} N safe range",
            )
        if force_n <= self.tolerance_n:
            self._over_since = None
            return None
        since = self._over_since
        if since is None:
            self._over_since = since = t
        if t - since >= self._debounce_s - TIME_EPS:
            return Violation(
                AbortReason.OVER_TOLERANCE,
                force_n,
                f"{force_n:.2f} N, over the {self.tolerance_n:.2f} N tolerance for {1000 * (t - since):.1f} ms",
            )
        return None

    def on_gap(self, t: float) -> Violation | None:
        """Time ``t`` passed without a sample: a fault once the gap is over three periods."""
        reference = self.last_t if self.last_t is not None else 0.0
        if t - reference > self.max_gap_s:
            return Violation(AbortReason.SENSOR_FAULT, None, f"no sample for {t - reference:.3f} s")
        return None
