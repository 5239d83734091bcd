"""``presspoint/<device>/ppt`` (QoS 1, retained: the latest): one pressure-pain-threshold measurement.

The trial itself (and its limit suggestions) is pure maths in
``firmware.algometry``; this is what goes on the wire, stamped with the time
it was measured.
"""

from __future__ import annotations

import uuid
from typing import Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from config.plan import TherapyPlan
from config.units import STANDARD_GRAVITY, parse_force
from firmware.algometry.decisions import TrialOutcome
from firmware.algometry.result import AlgometryResult
from firmware.algometry.suggestions import LimitSuggestion, suggest_limits, suggested_plan
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.topics import Topics
from firmware.session.states import AbortReason

PPT_SCHEMA: Final = "presspoint.ppt/1"


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


def measurement(
    result: AlgometryResult,
    *,
    device_id: str,
    band: float = 0.15,
    measured_at: str | None = None,
    measurement_id: str | None = None,
) -> PptMeasurement:
    """The payload for a finished trial, with a limit suggestion when a threshold was recorded."""
    suggestion: LimitSuggestion | None = None
    if result.threshold_n is not None:
        try:
            suggestion = suggest_limits(result.threshold_n, band=band, device_max_n=result.device_max_n)
        except ValueError:
            suggestion = None
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


def ppt_payload(m: PptMeasurement) -> bytes:
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
