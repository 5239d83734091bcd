"""The therapy plan: what one person's trigger-point session looks like.

A plan is a safety setting as much as a schedule: ``tolerance`` is the most
the person accepts, ``therapist_max`` the therapist's hard cap, and
``device_max`` (from the device config) the load cell's safe range.  The
cross-field rule ``target*(1+band) < tolerance <= therapist_max <= device_max``
is checked here, once, so nothing downstream has to trust the file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from config.device import DEFAULT_DEVICE_MAX_N
from config.units import Force, kgf

DEVICE_MAX_CONTEXT_KEY = "device_max_n"


class TherapyPlan(BaseModel):
    """One person's plan.  Forces are newtons once validated (files may use units)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Force = Field(kgf(3.0), gt=0, description="force to hold, N")
    band: float = Field(0.15, gt=0.0, le=0.5, description="in band when within ±band×target")
    hold_s: float = Field(60.0, ge=30.0, le=90.0, description="length of each hold, s")
    repetitions: int = Field(3, ge=1, le=10)
    rest_s: float = Field(20.0, ge=5.0, le=120.0, description="rest after each release, s")
    breaths_per_min: float = Field(6.0, ge=3.0, le=12.0)
    tolerance: Force = Field(kgf(4.0), gt=0, description="the person's maximum acceptable force, N")
    therapist_max: Force = Field(kgf(5.0), gt=0, description="hard cap set by the therapist, N")
    contact_threshold: Force = Field(kgf(0.3), gt=0, description="force that counts as contact, N")
    release_grace_s: float = Field(2.0, ge=0.2, le=10.0)
    abort_debounce_ms: float = Field(25.0, ge=0.0, le=100.0)
    max_wait_for_contact_s: float = Field(30.0, ge=5.0, le=600.0)

    @property
    def band_low_n(self) -> float:
        return self.target * (1.0 - self.band)

    @property
    def band_high_n(self) -> float:
        return self.target * (1.0 + self.band)

    @property
    def breath_period_s(self) -> float:
        return 60.0 / self.breaths_per_min

    @model_validator(mode="after")
    def _check_force_order(self, info: ValidationInfo) -> TherapyPlan:
        context: dict[str, Any] = info.context or {}
        device_max = float(context.get(DEVICE_MAX_CONTEXT_KEY, DEFAULT_DEVICE_MAX_N))
        for name, problem in force_rule_violations(self, device_max):
            raise ValueError(f"{name}: {problem}")
        return self


def _n(value: float) -> str:
    return f"{value:.2f} N ({value / kgf(1.0):.2f} kgf)"


#: Forces closer than this (relative) count as equal: "3.45 kgf" must equal 3 kgf × 1.15.
_REL_EQ = 1e-9


def _below(a: float, b: float) -> bool:
    """a < b, treating values within float noise as equal."""
    return a < b and not abs(a - b) <= _REL_EQ * max(abs(a), abs(b))


def _at_most(a: float, b: float) -> bool:
    return not _below(b, a)


def force_rule_violations(plan: TherapyPlan, device_max_n: float) -> list[tuple[str, str]]:
    """Every broken force rule, as (field, readable rule), in the order they matter."""
    problems: list[tuple[str, str]] = []
    if not _below(plan.band_high_n, plan.tolerance):
        problems.append(
            (
                "tolerance",
                f"must be above target*(1+band) = {_n(plan.band_high_n)}, got {_n(plan.tolerance)}",
            )
        )
    if not _at_most(plan.tolerance, plan.therapist_max):
        problems.append(("tolerance", f"must be <= therapist_max {_n(plan.therapist_max)}, got {_n(plan.tolerance)}"))
    if not _at_most(plan.therapist_max, device_max_n):
        problems.append(("therapist_max", f"must be <= device_max {_n(device_max_n)}, got {_n(plan.therapist_max)}"))
    if not _below(plan.contact_threshold, plan.band_low_n):
        problems.append(
            (
                "contact_threshold",
                f"must be below target*(1-band) = {_n(plan.band_low_n)}, got {_n(plan.contact_threshold)}",
            )
        )
    return problems


def validate_plan(data: dict[str, Any], device_max_n: float = DEFAULT_DEVICE_MAX_N) -> TherapyPlan:
    """Validate a plan mapping against a device's safe range."""
    return TherapyPlan.model_validate(data, context={DEVICE_MAX_CONTEXT_KEY: device_max_n})
