"""Starting limits for the therapist from a measured threshold (shown, never applied by themselves)."""

from __future__ import annotations

import math
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from config.spots import band_edges
from config.units import kgf

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
    band_top = band_edges(target, band)[1]
    if not band_top < tolerance:
        raise ValueError(
            f"a target of {target:.2f} N with band {band:.0%} reaches {band_top:.2f} N, "
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


def limits_if_any(threshold_n: float, *, band: float, device_max_n: float) -> LimitSuggestion | None:
    """``suggest_limits`` for a payload: ``None`` where the plan rules cannot hold (nothing is suggested)."""
    try:
        return suggest_limits(threshold_n, band=band, device_max_n=device_max_n)
    except ValueError:
        return None


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
