"""The therapy plan: what one person's trigger-point session looks like.

A plan is a safety setting as much as a schedule: ``tolerance`` is the most
the person accepts, ``therapist_max`` the therapist's hard cap, and
``device_max`` (from the device config) the load cell's safe range.  The
cross-field rule ``target*(1+band) < tolerance <= therapist_max <= device_max``
is checked here, once, so nothing downstream has to trust the file.

Numbers and flags are strict: ``repetitions = true`` or ``hold_s = "60"`` is
refused, never read as 1 or 60 (floats accept whole numbers, nothing else).
A plan that arrives as input, a file or a remote payload, must name at least
``REQUIRED_KEYS``: an empty plan must not silently become the default one
(that would raise a person's tolerance without anyone asking).
``TherapyPlan()`` with defaults stays for code and tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationInfo, model_validator

from config.device import DEFAULT_DEVICE_MAX_N
from config.spots import SPOT_VALUES, WHOLE_PLAN_SPOT, BandArithmetic, Spot, SpotPlan, resolve_spot
from config.units import Force, force_text, kgf

DEVICE_MAX_CONTEXT_KEY = "device_max_n"
#: Context flag set by ``validate_plan``: the mapping is input and must name ``REQUIRED_KEYS``.
PLAN_INPUT_CONTEXT_KEY = "plan_input"
#: What every plan file and remote plan must state; the rest has safe defaults.
REQUIRED_KEYS = ("target", "tolerance")
#: Light stroking in the rest goes up to this force unless the plan says otherwise.
DEFAULT_STROKE_MAX_N = kgf(1.0)
#: ``check_in_s`` is 0 (off) or within these bounds, s.
CHECK_IN_BOUNDS_S = (10.0, 60.0)


class TherapyPlan(BandArithmetic, BaseModel):
    """One person's plan.  Forces are newtons once validated (files may use units)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Force = Field(kgf(3.0), gt=0, description="force to hold, N")
    band: StrictFloat = Field(0.15, gt=0.0, le=0.5, description="in band when within ±band×target")
    hold_s: StrictFloat = Field(60.0, ge=30.0, le=90.0, description="length of each hold, s")
    repetitions: StrictInt = Field(3, ge=1, le=10)
    rest_s: StrictFloat = Field(20.0, ge=5.0, le=120.0, description="rest after each release, s")
    breaths_per_min: StrictFloat = Field(6.0, ge=3.0, le=12.0)
    tolerance: Force = Field(kgf(4.0), gt=0, description="the person's maximum acceptable force, N")
    therapist_max: Force = Field(kgf(5.0), gt=0, description="hard cap set by the therapist, N")
    contact_threshold: Force = Field(kgf(0.3), gt=0, description="force that counts as contact, N")
    release_grace_s: StrictFloat = Field(2.0, ge=0.2, le=10.0)
    abort_debounce_ms: StrictFloat = Field(25.0, ge=0.0, le=100.0)
    max_wait_for_contact_s: StrictFloat = Field(30.0, ge=5.0, le=600.0)
    spots: tuple[Spot, ...] = Field((), max_length=20, description="sore spots, done in order (none: one spot)")
    adjust_step: StrictFloat = Field(0.10, ge=0.05, le=0.25, description="'less' / 'more' change the target by this")
    max_increments: StrictInt = Field(3, ge=0, le=5, description="'more' accepted at most this often per spot")
    check_in_s: StrictFloat = Field(0.0, ge=0.0, le=60.0, description="check-in cue interval in a hold, s (0 = off)")
    stroke_max: Force | None = Field(
        None, gt=0, description="light stroking in the rest up to this, N (default 1 kgf, below every band)"
    )

    def spot_plans(self) -> tuple[SpotPlan, ...]:
        """Every spot with its values resolved; a plan without spots is one spot."""
        base = SpotPlan(index=1, name=WHOLE_PLAN_SPOT, **{key: getattr(self, key) for key in SPOT_VALUES})
        if not self.spots:
            return (base,)
        return tuple(resolve_spot(i, spot, base) for i, spot in enumerate(self.spots, start=1))

    @property
    def stroke_max_n(self) -> float:
        """The light-stroke limit in force: as set, else 1 kgf, or halfway to the lowest band if that is lower."""
        if self.stroke_max is not None:
            return self.stroke_max
        lowest_band = min(spot.band_low_n for spot in self.spot_plans())
        if strictly_below(DEFAULT_STROKE_MAX_N, lowest_band):
            return DEFAULT_STROKE_MAX_N
        return (self.contact_threshold + lowest_band) / 2.0

    @model_validator(mode="after")
    def _check_forces_and_required_keys(self, info: ValidationInfo) -> TherapyPlan:
        context: dict[str, Any] = info.context or {}
        device_max = float(context.get(DEVICE_MAX_CONTEXT_KEY, DEFAULT_DEVICE_MAX_N))
        for name, problem in force_rule_violations(self, device_max):
            raise ValueError(f"{name}: {problem}")
        if context.get(PLAN_INPUT_CONTEXT_KEY):
            missing = [key for key in REQUIRED_KEYS if key not in self.model_fields_set]
            if missing:
                raise ValueError(
                    f"{missing[0]}: required (a plan must name {' and '.join(REQUIRED_KEYS)}; "
                    f"missing {', '.join(missing)})"
                )
        return self


#: Forces closer than this (relative) count as equal: "3.45 kgf" must equal 3 kgf × 1.15.
_REL_EQ = 1e-9


def strictly_below(a: float, b: float) -> bool:
    """a < b, treating values within float noise as equal (how every force rule compares)."""
    return a < b and not abs(a - b) <= _REL_EQ * max(abs(a), abs(b))


def _at_most(a: float, b: float) -> bool:
    return not strictly_below(b, a)


def force_rule_violations(plan: TherapyPlan, device_max_n: float) -> list[tuple[str, str]]:
    """Every broken force rule, as (field, readable rule), in the order they matter: the plan's, then each spot's."""
    problems = _plan_force_violations(plan, device_max_n)
    if 0 < plan.check_in_s < CHECK_IN_BOUNDS_S[0]:
        low, high = CHECK_IN_BOUNDS_S
        problems.append(("check_in_s", f"must be 0 (off) or {low:g} ... {high:g} s, got {plan.check_in_s:g}"))
    if plan.stroke_max is not None:
        problems.extend(_stroke_violations(plan, plan.stroke_max))
    for spot in plan.spot_plans() if plan.spots else ():
        where = f"spots.{spot.index - 1}"
        problems.extend(
            (f"{where}.{name}", f"{problem} (spot {spot.index}, {spot.name!r})")
            for name, problem in _spot_force_violations(spot, plan.contact_threshold)
        )
    return problems


def _stroke_violations(plan: TherapyPlan, stroke_max: float) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not strictly_below(plan.contact_threshold, stroke_max):
        problems.append(
            (
                "stroke_max",
                f"must be above contact_threshold {force_text(plan.contact_threshold)}, got {force_text(stroke_max)}",
            )
        )
    for spot in plan.spot_plans():
        if not strictly_below(stroke_max, spot.band_low_n):
            where = "" if not plan.spots else f" at spot {spot.index} ({spot.name!r})"
            problems.append(
                (
                    "stroke_max",
                    f"must be below target*(1-band) = {force_text(spot.band_low_n)}{where}, "
                    f"got {force_text(stroke_max)}",
                )
            )
    return problems


def _tolerance_above_band(banded: TherapyPlan | SpotPlan) -> list[tuple[str, str]]:
    """The first force rule, the same for a plan and for each spot: the band stays below the tolerance."""
    if strictly_below(banded.band_high_n, banded.tolerance):
        return []
    high, tolerance = force_text(banded.band_high_n), force_text(banded.tolerance)
    return [("tolerance", f"must be above target*(1+band) = {high}, got {tolerance}")]


def _spot_force_violations(spot: SpotPlan, contact_threshold: float) -> list[tuple[str, str]]:
    """A spot's own cross-field rules (therapist and device maximum are the plan's and checked there)."""
    problems = _tolerance_above_band(spot)
    if not strictly_below(contact_threshold, spot.band_low_n):
        problems.append(
            (
                "target",
                f"target*(1-band) = {force_text(spot.band_low_n)} must be above contact_threshold "
                f"{force_text(contact_threshold)}",
            )
        )
    return problems


def _plan_force_violations(plan: TherapyPlan, device_max_n: float) -> list[tuple[str, str]]:
    problems = _tolerance_above_band(plan)
    if not _at_most(plan.tolerance, plan.therapist_max):
        problems.append(
            (
                "tolerance",
                f"must be <= therapist_max {force_text(plan.therapist_max)}, got {force_text(plan.tolerance)}",
            )
        )
    if not _at_most(plan.therapist_max, device_max_n):
        problems.append(
            (
                "therapist_max",
                f"must be <= device_max {force_text(device_max_n)}, got {force_text(plan.therapist_max)}",
            )
        )
    if not strictly_below(plan.contact_threshold, plan.band_low_n):
        problems.append(
            (
                "contact_threshold",
                f"must be below target*(1-band) = {force_text(plan.band_low_n)}, "
                f"got {force_text(plan.contact_threshold)}",
            )
        )
    return problems


def validate_plan(data: dict[str, Any], device_max_n: float = DEFAULT_DEVICE_MAX_N) -> TherapyPlan:
    """Validate a plan given as input (a file's or a remote payload's mapping) against a device's safe range.

    Unlike ``TherapyPlan()`` it requires ``REQUIRED_KEYS``.
    """
    return TherapyPlan.model_validate(
        data, context={DEVICE_MAX_CONTEXT_KEY: device_max_n, PLAN_INPUT_CONTEXT_KEY: True}
    )
