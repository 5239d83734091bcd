"""``presspoint/<device>/ppt`` (QoS 1, retained: the latest): pressure-pain-threshold measurements.

``presspoint.ppt/2`` is what the device sends: one standard measurement of
one spot (its trials, their mean, the change from the last one there).
``presspoint.ppt/1`` - one single trial - is still read from collected
databases.  The maths is pure in ``firmware.algometry``; this is what goes on
the wire, stamped with the time it was measured.
"""

from __future__ import annotations

import uuid
from typing import Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from config.plan import TherapyPlan
from config.units import STANDARD_GRAVITY, parse_force
from firmware.algometry.decisions import TrialOutcome
from firmware.algometry.measurement import SpotTrials
from firmware.algometry.result import AlgometryResult
from firmware.algometry.standard import combine
from firmware.algometry.suggestions import LimitSuggestion, limits_if_any, suggested_plan
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.topics import Topics
from firmware.session.states import AbortReason

PPT_SCHEMA: Final = "presspoint.ppt/1"
PPT_SCHEMA_2: Final = "presspoint.ppt/2"
#: Consumers match ``measurement_id`` and ``device_id`` against this.
ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"


class PptAbort(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: AbortReason
    at_s: float
    force_n: float | None
    detail: str = ""


class PptMeasurement(BaseModel):
    """``presspoint/<device>/ppt`` (QoS 1, retained: the latest): one threshold measurement."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.ppt/1"] = Field(PPT_SCHEMA, alias="schema")
    measurement_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="unique; consumers drop repeats")
    device_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    measured_at: str = Field(description="ISO 8601 UTC")
    outcome: TrialOutcome
    threshold_n: float | None = Field(description="peak of the 0.1 s mean force up to the press, N")
    force_at_press_n: float | None
    peak_force_n: float
    contact_at_s: float | None
    press_at_s: float | None
    mean_rate_n_per_s: float | None
    max_rate_n_per_s: float
    rate_limit_n_per_s: float
    rate_ok: bool | None = Field(description="mean ramp rate within the margin of the limit")
    too_fast_cues: int = Field(ge=0)
    abort: PptAbort | None
    tolerance_n: float
    device_max_n: float
    suggestion: LimitSuggestion | None = None


class PptTrial(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold_n: float = Field(description="peak of the 0.1 s mean force up to the mark, N")
    threshold_kpa: float = Field(description="the same over the probe's area, kPa")
    rate_kpa_s: float | None = Field(description="mean ramp rate from contact to the mark, kPa/s")
    off_rate: bool = Field(description="the mean rate was more than 30 % off the protocol's")


class PptSuggested(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_n: float
    tolerance_n: float
    therapist_max_n: float


class PptSpotMeasurement(BaseModel):
    """``presspoint/<device>/ppt`` (QoS 1, retained: the latest): one spot's standard measurement."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.ppt/2"] = Field(PPT_SCHEMA_2, alias="schema")
    measurement_id: str = Field(pattern=ID_PATTERN, description="unique; consumers drop repeats")
    device_id: str = Field(pattern=ID_PATTERN)
    measured_at: str = Field(description="ISO 8601 UTC")
    spot: str = Field(min_length=1, max_length=80)
    trials: list[PptTrial] = Field(min_length=1, max_length=5)
    mean_n: float
    mean_kpa: float
    cv: float | None = Field(description="coefficient of variation of the used trials (null with one)")
    used_trials: list[int] = Field(min_length=1, description="1-based trials the mean is over")
    suggested: PptSuggested | None = Field(description="starting limits for the therapist (never applied alone)")
    change_kpa: float | None = Field(description="against the person's previous measurement at this spot")
    real_change: bool | None = Field(description="the change is larger than the minimum detectable change")


def spot_measurement(
    spot: SpotTrials,
    *,
    device_id: str,
    previous_kpa: float | None,
    mdc_kpa: float,
    device_max_n: float,
    band: float = 0.15,
    measured_at: str | None = None,
    measurement_id: str | None = None,
) -> PptSpotMeasurement:
    """The ``ppt/2`` payload of one spot, with limits suggested from its mean when the plan rules allow."""
    combined = combine(list(spot.trials), previous_mean_kpa=previous_kpa, mdc_kpa=mdc_kpa)
    limits = limits_if_any(combined.mean_n, band=band, device_max_n=device_max_n)
    suggested: PptSuggested | None = None
    if limits is not None:
        suggested = PptSuggested(
            target_n=limits.target_n, tolerance_n=limits.tolerance_n, therapist_max_n=limits.therapist_max_n
        )
    return PptSpotMeasurement(
        measurement_id=measurement_id or uuid.uuid4().hex,
        device_id=device_id,
        measured_at=measured_at or utc_now_iso(),
        spot=spot.spot,
        trials=[PptTrial.model_validate(trial, from_attributes=True) for trial in spot.trials],  # the same fields
        mean_n=combined.mean_n,
        mean_kpa=combined.mean_kpa,
        cv=combined.cv,
        used_trials=list(combined.used_trials),
        suggested=suggested,
        change_kpa=combined.change_kpa,
        real_change=combined.real_change,
    )


def measurement(
    result: AlgometryResult,
    *,
    device_id: str,
    band: float = 0.15,
    measured_at: str | None = None,
    measurement_id: str | None = None,
) -> PptMeasurement:
    """The payload for a finished trial, with a limit suggestion when a threshold was recorded."""
    suggestion = (
        None
        if result.threshold_n is None
        else limits_if_any(result.threshold_n, band=band, device_max_n=result.device_max_n)
    )
    abort = result.abort
    return PptMeasurement(
        measurement_id=measurement_id or uuid.uuid4().hex,
        device_id=device_id,
        measured_at=measured_at or utc_now_iso(),
        outcome=result.outcome,
        threshold_n=result.threshold_n,
        force_at_press_n=result.force_at_press_n,
        peak_force_n=result.peak_force_n,
        contact_at_s=result.contact_at_s,
        press_at_s=result.press_at_s,
        mean_rate_n_per_s=result.mean_rate_n_per_s,
        max_rate_n_per_s=result.max_rate_n_per_s,
        rate_limit_n_per_s=result.rate_limit_n_per_s,
        rate_ok=result.rate_ok,
        too_fast_cues=result.too_fast_cues,
        abort=None
        if abort is None
        else PptAbort(reason=abort.reason, at_s=abort.t, force_n=abort.force_n, detail=abort.detail),
        tolerance_n=result.tolerance_n,
        device_max_n=result.device_max_n,
        suggestion=suggestion,
    )


def ppt_topic(topics: Topics) -> str:
    """``<prefix>/<device>/ppt``."""
    return topics.ppt


def ppt_payload(m: PptMeasurement | PptSpotMeasurement) -> bytes:
    return m.model_dump_json(by_alias=True).encode("utf-8")


def suggestion_plan(m: PptMeasurement, base: TherapyPlan) -> TherapyPlan:
    """``base`` with the measurement's suggested forces, checked against its device; ``ValueError`` if none."""
    if m.suggestion is None:
        raise ValueError(f"measurement {m.measurement_id} has no limit suggestion (no threshold was recorded)")
    return suggested_plan(base, m.suggestion, m.device_max_n)


def plan_toml(plan: TherapyPlan, header: list[str]) -> str:
    """``plan`` as a plan file ``plan push`` and ``config check`` accept: every key, forces in newtons."""
    lines = [f"# {line}" if line else "#" for line in header]
    for name, field in TherapyPlan.model_fields.items():
        value = getattr(plan, name)
        if value is None or name == "spots":  # defaults stand; a suggestion is for one spot
            continue
        text = str(value) if isinstance(value, int) else repr(round(float(value), 3))
        is_force = any(isinstance(m, BeforeValidator) and m.func is parse_force for m in field.metadata)
        note = f"  # N ({value / STANDARD_GRAVITY:.1f} kgf)" if is_force else ""
        lines.append(f"{name} = {text}{note}")
    return "\n".join(lines) + "\n"
