"""What ``presspoint therapist watch`` draws the force against: the plan's limits, as numbers and text.

Read from the retained ``plan/state`` or from a session's resolved plan
(``session_started``); pure, so the view and its tests share it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.spots import band_edges
from config.units import STANDARD_GRAVITY
from firmware.therapist.force_bar import BarMarks


@dataclass(frozen=True)
class Limits:
    """What the force is drawn against."""

    target_n: float
    band_low_n: float
    band_high_n: float
    tolerance_n: float
    therapist_max_n: float
    hold_s: float
    rest_s: float
    repetitions: int
    breaths_per_min: float | None = None

    @classmethod
    def from_plan(cls, plan: dict[str, Any]) -> Limits | None:
        """From a plan (``target``, ``band`` ...) or a resolved plan (``target_n``, ``band_low_n`` ...)."""
        try:
            if "target_n" in plan:
                target, low, high = (float(plan[key]) for key in ("target_n", "band_low_n", "band_high_n"))
                tolerance, therapist_max = float(plan["tolerance_n"]), float(plan["therapist_max_n"])
            else:
                target, band = float(plan["target"]), float(plan["band"])
                low, high = band_edges(target, band)
                tolerance, therapist_max = float(plan["tolerance"]), float(plan["therapist_max"])
            return cls(
                target,
                low,
                high,
                tolerance,
                therapist_max,
                float(plan["hold_s"]),
                float(plan["rest_s"]),
                int(plan["repetitions"]),
                _optional_float(plan.get("breaths_per_min")),
            )
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def marks(self) -> BarMarks:
        return BarMarks(self.band_low_n, self.band_high_n, self.tolerance_n, self.therapist_max_n)

    def describe(self) -> list[str]:
        """The whole plan in two short lines: the holds, then the limits."""
        breaths = "" if self.breaths_per_min is None else f", {self.breaths_per_min:g} breaths/min"
        return [
            f"    {self.repetitions} × {self.hold_s:g} s hold, rest {self.rest_s:g} s{breaths}",
            f"    tolerance {kgf_text(self.tolerance_n)}, therapist max {kgf_text(self.therapist_max_n)}",
        ]


def _optional_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def kgf_text(n: float) -> str:
    return f"{n:.1f} N ({n / STANDARD_GRAVITY:.2f} kgf)"


def band_text(limits: Limits) -> str:
    return f"{limits.band_low_n:.1f}-{limits.band_high_n:.1f} N"
