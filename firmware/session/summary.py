"""The session summary: the record a therapist reviews.  SI units throughout.

The same model is printed by ``presspoint simulate --json``, stored locally
and published (retained) over MQTT, so its JSON Schema is part of the
product's interface: ``presspoint schema summary``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from config.plan import TherapyPlan, validate_plan
from config.spots import SPOT_VALUES
from firmware.outcomes.records import CourseStatus, PainRating
from firmware.session.states import AbortReason, Gesture, HoldOutcome, Outcome, SpotOutcome, Wait

if TYPE_CHECKING:
    from firmware.session.controller import SessionController


class AbortInfo(BaseModel):
    """Why and when a session was aborted."""

    model_config = ConfigDict(extra="forbid")

    reason: AbortReason
    at_s: float = Field(description="session time of the sample the decision was made on, s")
    force_n: float | None = Field(description="force of that sample (last good one for a sensor fault), N")
    detail: str = ""


class TimeoutInfo(BaseModel):
    """Which wait for the person ran out, and when."""

    model_config = ConfigDict(extra="forbid")

    wait: Wait = Field(description="contact: never pressed; band: never reached the band; release: never let go")
    at_s: float


class AdjustmentInfo(BaseModel):
    """A check-in that took effect: the target from ``at_s`` on."""

    model_config = ConfigDict(extra="forbid")

    at_s: float
    kind: Gesture
    target_n: float


class SpotSummary(BaseModel):
    """One sore spot of the session."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1)
    name: str
    outcome: SpotOutcome
    target_n: float = Field(description="as planned, N")
    final_target_n: float = Field(description="after the check-ins, N")
    holds: list[int] = Field(description="indices of this spot's holds")


class HoldSummary(BaseModel):
    """One hold: from the first sample inside the band to its end."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=1, description="1 for the first hold")
    spot: int = Field(1, ge=1, description="index into the session's spots")
    started_at_s: float
    ended_at_s: float
    duration_s: float
    outcome: HoldOutcome
    in_band_fraction: float = Field(ge=0.0, le=1.0)
    mean_force_n: float
    peak_force_n: float
    breath_cues: int = Field(ge=0)
    target_n: float | None = Field(None, description="target at the hold's start, N")
    adjustments: list[AdjustmentInfo] = Field(default_factory=list, description="check-ins applied")
    rest_stroke_s: float = Field(0.0, ge=0.0, description="time in light contact during the rest after this hold")


class ResolvedSpot(BaseModel):
    """One spot with its values in force (newtons)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    target_n: float
    band: float
    hold_s: float
    repetitions: int
    rest_s: float
    breaths_per_min: float
    tolerance_n: float


class ResolvedPlan(BaseModel):
    """The plan as the session used it: every force in newtons."""

    model_config = ConfigDict(extra="forbid")

    target_n: float
    band: float
    band_low_n: float
    band_high_n: float
    hold_s: float
    repetitions: int
    rest_s: float
    breaths_per_min: float
    tolerance_n: float
    therapist_max_n: float
    device_max_n: float
    contact_threshold_n: float
    release_grace_s: float
    abort_debounce_ms: float
    max_wait_for_contact_s: float
    spots: list[ResolvedSpot] = Field(default_factory=list, description="as the plan lists them (empty: one spot)")
    adjust_step: float = 0.10
    max_increments: int = 3
    check_in_s: float = 0.0
    stroke_max_n: float | None = Field(None, description="light-stroke limit in force during rests, N")


class SessionSummary(BaseModel):
    """Everything a therapist needs to review one session."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["presspoint.session/1"] = Field("presspoint.session/1", alias="schema")
    session_id: str
    device_id: str
    started_at: AwareDatetime
    outcome: Outcome
    abort: AbortInfo | None
    plan: ResolvedPlan
    holds: list[HoldSummary]
    peak_force_n: float
    duration_s: float
    samples: int = Field(ge=0)
    sample_rate_hz: float
    sensor_glitches: int = Field(0, ge=0, description="implausible readings counted (all used)")
    cues: dict[str, int] = Field(default_factory=dict, description="haptic cues given, by kind")
    stop_source: str | None = Field(None, description="what stopped the session, if it was stopped")
    timeout: TimeoutInfo | None = Field(None, description="which wait ran out, if the session timed out")
    spots: list[SpotSummary] = Field(default_factory=list)
    person: str | None = Field(None, description="the person's pseudonym, when a profile is in force")
    pain_before: PainRating | None = Field(None, description="the person's 0-10 rating before the session")
    pain_after: PainRating | None = Field(None, description="the person's 0-10 rating after the session")
    course: CourseStatus | None = Field(None, description="the person's course after this session (with a profile)")

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


#: The plan's values a summary records, by their plan names; the forces among them get ``_n`` there.
_PLAN_VALUES = (
    *SPOT_VALUES,
    "therapist_max",
    "contact_threshold",
    "release_grace_s",
    "abort_debounce_ms",
    "max_wait_for_contact_s",
    "adjust_step",
    "max_increments",
    "check_in_s",
)
_IN_NEWTONS = {
    "target": "target_n",
    "tolerance": "tolerance_n",
    "therapist_max": "therapist_max_n",
    "contact_threshold": "contact_threshold_n",
}


def _recorded_name(key: str) -> str:
    """A plan key's name in a summary's ``ResolvedPlan`` / ``ResolvedSpot``."""
    return _IN_NEWTONS.get(key, key)


def resolve_plan(plan: TherapyPlan, device_max_n: float) -> ResolvedPlan:
    """The plan with every force in newtons, as recorded in a summary."""
    return ResolvedPlan(
        **{_recorded_name(key): getattr(plan, key) for key in _PLAN_VALUES},
        band_low_n=plan.band_low_n,
        band_high_n=plan.band_high_n,
        device_max_n=device_max_n,
        spots=[
            ResolvedSpot(name=spot.name, **{_recorded_name(key): getattr(spot, key) for key in SPOT_VALUES})
            for spot in (plan.spot_plans() if plan.spots else ())
        ],
        stroke_max_n=plan.stroke_max_n,
    )


def plan_from_resolved(resolved: ResolvedPlan) -> TherapyPlan:
    """The plan a summary records, back as a ``TherapyPlan`` (to replay a stored session).

    Checked against the device maximum the session ran with, as when it started.
    """
    data: dict[str, object] = {key: getattr(resolved, _recorded_name(key)) for key in _PLAN_VALUES}
    data["spots"] = [
        {"name": spot.name, **{key: getattr(spot, _recorded_name(key)) for key in SPOT_VALUES}}
        for spot in resolved.spots
    ]
    plan = validate_plan(data, resolved.device_max_n)
    if resolved.stroke_max_n is None or resolved.stroke_max_n == plan.stroke_max_n:
        return plan  # the default limit (or a summary from before the key)
    return validate_plan({**data, "stroke_max": resolved.stroke_max_n}, resolved.device_max_n)


def build_summary(
    controller: SessionController,
    *,
    session_id: str,
    device_id: str,
    started_at: datetime,
    sensor_glitches: int = 0,
    person: str | None = None,
) -> SessionSummary:
    """Summarise a finished session (or one closed as interrupted)."""
    if controller.outcome is None:
        raise ValueError("the session has not ended yet")
    abort = controller.abort
    timeout = controller.timeout
    period = controller.sample_period_s
    holds = [
        HoldSummary(
            index=hold.index,
            started_at_s=hold.started_at,
            ended_at_s=hold.ended_at if hold.ended_at is not None else hold.started_at,
            duration_s=(hold.ended_at or hold.started_at) - hold.started_at,
            outcome=hold.outcome or HoldOutcome.INTERRUPTED,
            in_band_fraction=hold.in_band_fraction,
            mean_force_n=hold.mean_force_n,
            peak_force_n=hold.peak_force_n,
            breath_cues=hold.breath_cues,
            spot=hold.spot,
            target_n=hold.start_target_n,
            adjustments=[AdjustmentInfo(at_s=a.at_s, kind=a.kind, target_n=a.target_n) for a in hold.adjustments],
            rest_stroke_s=hold.rest_stroke_samples * period,
        )
        for hold in controller.holds
    ]
    return SessionSummary(
        session_id=session_id,
        device_id=device_id,
        started_at=started_at,
        outcome=controller.outcome,
        abort=None
        if abort is None
        else AbortInfo(reason=abort.reason, at_s=abort.t, force_n=abort.force_n, detail=abort.detail),
        plan=resolve_plan(controller.plan, controller.device_max_n),
        holds=holds,
        peak_force_n=controller.peak_force_n,
        duration_s=controller.ended_at or 0.0,
        samples=controller.samples,
        sample_rate_hz=controller.sample_rate_hz,
        sensor_glitches=sensor_glitches,
        cues=dict(controller.cue_counts),
        stop_source=controller.stop_source,
        timeout=None if timeout is None else TimeoutInfo(wait=timeout.wait, at_s=timeout.t),
        spots=_spot_summaries(controller),
        person=person,
    )


def _spot_summaries(controller: SessionController) -> list[SpotSummary]:
    progress = controller.spots
    outcomes = progress.outcomes(controller.outcome)
    summaries = []
    for spot, outcome in zip(progress.spots, outcomes, strict=True):
        finals = controller.final_targets
        if spot.index <= len(finals):
            final = finals[spot.index - 1]
        else:
            final = controller.target.target_n if spot.index == progress.current.index else spot.target
        summaries.append(
            SpotSummary(
                index=spot.index,
                name=spot.name,
                outcome=outcome,
                target_n=spot.target,
                final_target_n=final,
                holds=[h.index for h in controller.holds if h.spot == spot.index],
            )
        )
    return summaries
