"""Sore spots of one plan: each a name and optional overrides of the plan's timing and forces.

A plan without ``[[spots]]`` is one spot with the plan's own values.  A spot
never gets a tolerance above the plan's (the lower one counts), so lowering
the plan's tolerance - the person's own lower tolerance does that - lowers
every spot's too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from config.units import Force

#: The name of the one spot of a plan that lists none.
WHOLE_PLAN_SPOT = "plan"


class Spot(BaseModel):
    """One sore spot: a free-text name and what differs from the plan there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr = Field(min_length=1, max_length=80, description="e.g. 'left upper trapezius'")
    target: Force | None = Field(None, gt=0, description="force to hold here, N (default: the plan's)")
    band: StrictFloat | None = Field(None, gt=0.0, le=0.5)
    hold_s: StrictFloat | None = Field(None, ge=30.0, le=90.0)
    repetitions: StrictInt | None = Field(None, ge=1, le=10)
    rest_s: StrictFloat | None = Field(None, ge=5.0, le=120.0)
    breaths_per_min: StrictFloat | None = Field(None, ge=3.0, le=12.0)
    tolerance: Force | None = Field(None, gt=0, description="the person's maximum here, N (capped by the plan's)")


def band_edges(target_n: float, band: float) -> tuple[float, float]:
    """The low and high edge of the band around ``target_n``: ±``band`` × target."""
    return target_n * (1.0 - band), target_n * (1.0 + band)


class BandArithmetic:
    """The band edges and the breath period, for a plan and each of its spots alike."""

    __slots__ = ()
    if TYPE_CHECKING:

        @property
        def target(self) -> float: ...
        @property
        def band(self) -> float: ...
        @property
        def breaths_per_min(self) -> float: ...

    @property
    def band_low_n(self) -> float:
        return band_edges(self.target, self.band)[0]

    @property
    def band_high_n(self) -> float:
        return band_edges(self.target, self.band)[1]

    @property
    def breath_period_s(self) -> float:
        return 60.0 / self.breaths_per_min


#: The values a spot may set over its plan: every resolved spot has them, besides its index and name.
SPOT_VALUES = ("target", "band", "hold_s", "repetitions", "rest_s", "breaths_per_min", "tolerance")


@dataclass(frozen=True, slots=True)
class SpotPlan(BandArithmetic):
    """One spot with every value resolved (forces in newtons)."""

    index: int  # 1-based
    name: str
    target: float
    band: float
    hold_s: float
    repetitions: int
    rest_s: float
    breaths_per_min: float
    tolerance: float


def resolve_spot(index: int, spot: Spot | None, defaults: SpotPlan) -> SpotPlan:
    """``spot``'s values over ``defaults`` (the plan's), numbered ``index`` (1-based)."""
    if spot is None:
        return defaults

    def pick(value: float | None, default: float) -> float:
        return default if value is None else value

    return SpotPlan(
        index=index,
        name=spot.name,
        target=pick(spot.target, defaults.target),
        band=pick(spot.band, defaults.band),
        hold_s=pick(spot.hold_s, defaults.hold_s),
        repetitions=defaults.repetitions if spot.repetitions is None else spot.repetitions,
        rest_s=pick(spot.rest_s, defaults.rest_s),
        breaths_per_min=pick(spot.breaths_per_min, defaults.breaths_per_min),
        tolerance=min(pick(spot.tolerance, defaults.tolerance), defaults.tolerance),
    )
