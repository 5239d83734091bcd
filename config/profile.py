"""A person's profile on the device: who (a pseudonym is enough), the plan, and what may stop a session.

Why a profile and not just a plan: trigger-point pressure is unsafe for some
people without a clinician's clearance (recent surgery or injury, blood
thinners, osteoporosis, blood clots, ...).  The profile records each such
condition with a ``cleared_by_clinician`` flag and ``check_start`` refuses a
session while any is uncleared, naming every reason, so the device can play
the ``refused`` cue and publish why.

The person may *lower* their own tolerance (``personal_tolerance``), never
raise it above the therapist's: ``set_personal_tolerance`` and
``step_down_tolerance`` refuse anything else with a readable reason, and the
band rule ``target*(1+band) < tolerance`` still holds for the lowered value.
When a therapist later changes the plan, ``check_start`` re-checks the
personal value against the plan in force: a personal tolerance above the new
therapist tolerance is capped (lower is always allowed), one at or below the
new band top refuses the session rather than being silently dropped (that
would raise the person's limit without asking them).

TOML layout (see ``config/examples/profiles/``)::

    name = "P-017"
    screened_on = 2026-11-02
    personal_tolerance = "3.5 kgf"        # optional
    [plan]                                # a therapy plan, as in plan files
    target = "3 kgf"
    [contraindications.blood_thinners]
    cleared_by_clinician = true
    cleared_by = "Dr. A. Example"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from config.atomic import atomic_write_bytes
from config.device import DEFAULT_DEVICE_MAX_N, DeviceConfig
from config.errors import InputFileError
from config.loader import describe_validation_error, read_toml
from config.plan import DEVICE_MAX_CONTEXT_KEY, TherapyPlan, validate_plan
from config.units import Force, force_text, kgf

#: Button gesture "lower my tolerance": one press lowers it by this much.
DEFAULT_TOLERANCE_STEP_N = kgf(0.25)


class Contraindication(StrEnum):
    """Conditions that need a clinician's clearance before trigger-point pressure."""

    RECENT_SURGERY_OR_INJURY = "recent_surgery_or_injury"
    RECENT_ILLNESS = "recent_illness"
    BLOOD_THINNERS = "blood_thinners"
    CORTISONE_TREATMENT = "cortisone_treatment"
    OSTEOPOROSIS = "osteoporosis"
    RHEUMATOID_ARTHRITIS = "rheumatoid_arthritis"
    ADVANCED_DEGENERATIVE_JOINT_DISEASE = "advanced_degenerative_joint_disease"
    BLOOD_CLOTS_DVT = "blood_clots_dvt"
    ADVANCED_DIABETES = "advanced_diabetes"
    OTHER = "other"


LABELS: dict[Contraindication, str] = {
    Contraindication.RECENT_SURGERY_OR_INJURY: "recent surgery or injury",
    Contraindication.RECENT_ILLNESS: "recent illness",
    Contraindication.BLOOD_THINNERS: "blood thinners",
    Contraindication.CORTISONE_TREATMENT: "cortisone treatment",
    Contraindication.OSTEOPOROSIS: "osteoporosis",
    Contraindication.RHEUMATOID_ARTHRITIS: "rheumatoid arthritis",
    Contraindication.ADVANCED_DEGENERATIVE_JOINT_DISEASE: "advanced degenerative joint disease",
    Contraindication.BLOOD_CLOTS_DVT: "blood clots / deep vein thrombosis",
    Contraindication.ADVANCED_DIABETES: "advanced diabetes",
    Contraindication.OTHER: "other condition",
}


def _date_not_number(value: Any) -> Any:
    """A date is a TOML date or ``YYYY-MM-DD``; a number (read as Unix time) would screen anyone."""
    if isinstance(value, bool | int | float):
        raise ValueError("must be a date like 2026-11-02, not a number")
    return value


#: A calendar date from a file: never coerced from a number.
InputDate = Annotated[date, BeforeValidator(_date_not_number)]


class ContraindicationRecord(BaseModel):
    """One condition the person has.  Listed means present; cleared or not is the flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cleared_by_clinician: StrictBool = False
    cleared_by: str | None = Field(None, max_length=120, description="clinician who cleared it")
    cleared_on: InputDate | None = None
    note: str | None = Field(None, max_length=500, description="what it is (required for 'other')")


class PptProtocol(BaseModel):
    """``[ppt]``: the standard pressure-pain-threshold protocol (DFNS: 50 kPa/s, three trials, the mean)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_kpa_s: float = Field(50.0, ge=10, le=200, strict=True, allow_inf_nan=False, description="ramp rate, kPa/s")
    trials: StrictInt = Field(3, ge=1, le=5, description="trials per spot")
    trial_rest_s: float = Field(10.0, ge=5, le=120, strict=True, allow_inf_nan=False, description="rest, s")
    mdc_kpa: float = Field(
        40.0, gt=0, le=500, strict=True, allow_inf_nan=False, description="minimum detectable change: larger is real"
    )


class Profile(BaseModel):
    """One person: pseudonym, plan, contraindications, optional lowered tolerance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, description="name or pseudonym")
    screened_on: InputDate | None = Field(
        None, description="when the contraindications were last reviewed; without it no session starts"
    )
    contraindications: dict[Contraindication, ContraindicationRecord] = Field(default_factory=dict)
    plan: TherapyPlan = Field(default_factory=TherapyPlan)
    personal_tolerance: Force | None = Field(
        None, gt=0, description="the person's own, lower tolerance, N (never above the plan's)"
    )
    reevaluate_after: StrictInt = Field(
        3, ge=2, le=5, description="rated sessions without significant relief before 'see your therapist'"
    )
    stop_on_reevaluate: StrictBool = Field(False, description="refuse sessions while the reevaluate flag is set")
    pause_on_soreness: StrictBool = Field(True, description="refuse sessions while soreness is not improving")
    rate_pain: StrictBool = Field(
        False, description="ask for a 0-10 pain rating with the button before and after each session on the device"
    )
    ppt: PptProtocol = Field(default_factory=PptProtocol)

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> Profile:
        other = self.contraindications.get(Contraindication.OTHER)
        if other is not None and not (other.note or "").strip():
            raise ValueError("contraindications.other: needs a note saying what the condition is")
        if self.personal_tolerance is not None:
            context: dict[str, Any] = info.context or {}
            device_max = float(context.get(DEVICE_MAX_CONTEXT_KEY, DEFAULT_DEVICE_MAX_N))
            problem = tolerance_problem(self.plan, self.personal_tolerance, device_max)
            if problem is not None:
                raise ValueError(f"personal_tolerance: {problem}")
        return self

    def uncleared(self) -> list[tuple[Contraindication, ContraindicationRecord]]:
        """Conditions present and not cleared by a clinician, in a fixed order."""
        return [
            (kind, self.contraindications[kind])
            for kind in Contraindication
            if kind in self.contraindications and not self.contraindications[kind].cleared_by_clinician
        ]


def tolerance_problem(plan: TherapyPlan, tolerance_n: float, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> str | None:
    """Why ``tolerance_n`` cannot be the person's tolerance under ``plan``, or ``None`` if it can."""
    if tolerance_n > plan.tolerance * (1 + 1e-9):
        return (
            f"may only lower the tolerance: at most the therapist's tolerance {force_text(plan.tolerance)}, "
            f"got {force_text(tolerance_n)}"
        )
    try:
        validate_plan({**plan.model_dump(), "tolerance": tolerance_n}, device_max_n)
    except ValidationError as err:
        _, problem = describe_validation_error(err)
        return problem
    return None


# ---------------------------------------------------------------- may a session start?


@dataclass(frozen=True)
class Refusal:
    """One reason a session may not start: a stable ``code`` and a sentence for people."""

    code: str
    text: str


@dataclass(frozen=True)
class StartDecision:
    """``allowed`` with the plan to run (personal tolerance applied), or the reasons why not."""

    allowed: bool
    plan: TherapyPlan | None
    reasons: tuple[Refusal, ...] = field(default=())

    def describe(self) -> str:
        if self.allowed:
            return "session may start"
        return "session refused: " + "; ".join(r.text for r in self.reasons)

    def as_event(self) -> dict[str, Any]:
        """A session-event-shaped dict for the device to store/publish (type ``session_refused``)."""
        return {
            "type": "session_refused",
            "t": None,
            "codes": [r.code for r in self.reasons],
            "reasons": [r.text for r in self.reasons],
        }


def check_start(
    profile: Profile, plan: TherapyPlan | None = None, device_max_n: float = DEFAULT_DEVICE_MAX_N
) -> StartDecision:
    """May a session start for ``profile`` under ``plan`` (default: the profile's own)?

    ``plan`` is the plan in force on the device (a remotely pushed one may have
    replaced the profile's).  Every reason is listed, not just the first, so the
    person and the therapist see the whole picture at once.
    """
    plan = plan if plan is not None else profile.plan
    reasons: list[Refusal] = []
    if profile.screened_on is None:
        reasons.append(Refusal("not_screened", "no contraindication screening recorded (screened_on is missing)"))
    for kind, record in profile.uncleared():
        text = f"{LABELS[kind]}: not cleared by a clinician"
        if record.note:
            text += f" ({record.note.strip()})"
        reasons.append(Refusal(f"uncleared:{kind.value}", text))
    effective = plan
    if profile.personal_tolerance is not None:
        personal = min(profile.personal_tolerance, plan.tolerance)  # capping only ever lowers it
        problem = tolerance_problem(plan, personal, device_max_n)
        if problem is not None:
            reasons.append(
                Refusal(
                    "personal_tolerance",
                    f"your personal tolerance {force_text(personal)} does not fit the plan in force ({problem}); "
                    "reset it or ask your therapist",
                )
            )
        else:
            effective = validate_plan({**plan.model_dump(), "tolerance": personal}, device_max_n)
    if reasons:
        return StartDecision(False, None, tuple(reasons))
    return StartDecision(True, effective)


# ---------------------------------------------------------------- the person lowers the tolerance


@dataclass(frozen=True)
class ToleranceChange:
    """The profile after a change the person asked for, or the unchanged one and why not."""

    ok: bool
    profile: Profile
    reason: str = ""


def set_personal_tolerance(
    profile: Profile,
    tolerance_n: float,
    plan: TherapyPlan | None = None,
    device_max_n: float = DEFAULT_DEVICE_MAX_N,
) -> ToleranceChange:
    """Set the person's own tolerance to ``tolerance_n`` if that is allowed (never above the therapist's)."""
    plan = plan if plan is not None else profile.plan
    problem = tolerance_problem(plan, tolerance_n, device_max_n)
    if problem is not None:
        return ToleranceChange(False, profile, f"tolerance not changed: {problem}")
    changed = profile.model_copy(update={"personal_tolerance": tolerance_n})
    return ToleranceChange(True, changed, f"tolerance lowered to {force_text(tolerance_n)}")


def step_down_tolerance(
    profile: Profile,
    step_n: float = DEFAULT_TOLERANCE_STEP_N,
    plan: TherapyPlan | None = None,
    device_max_n: float = DEFAULT_DEVICE_MAX_N,
) -> ToleranceChange:
    """The button gesture: lower the tolerance in force by ``step_n`` (refused at the band's top)."""
    if step_n <= 0:
        raise ValueError("step_n must be positive")
    plan = plan if plan is not None else profile.plan
    current = min(profile.personal_tolerance or plan.tolerance, plan.tolerance)
    return set_personal_tolerance(profile, current - step_n, plan, device_max_n)


def clear_personal_tolerance(profile: Profile) -> Profile:
    """Back to the therapist's tolerance (which the person may always have)."""
    return profile.model_copy(update={"personal_tolerance": None})


# ---------------------------------------------------------------- files


def validate_profile(data: dict[str, Any], device_max_n: float = DEFAULT_DEVICE_MAX_N) -> Profile:
    """A profile mapping validated against a device's safe range."""
    return Profile.model_validate(data, context={DEVICE_MAX_CONTEXT_KEY: device_max_n})


def load_profile(path: Path, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> Profile:
    """Read and validate a profile TOML; any problem is an ``InputFileError`` naming the field."""
    data = read_toml(path)
    try:
        return validate_profile(data, device_max_n)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        head, sep, rest = problem.partition(": ")
        if sep and head.isidentifier() and err.errors()[0]["type"] == "value_error":
            # A cross-field rule of the nested plan names its field: "plan" + "tolerance: ..."
            where, problem = (head if where == "(top level)" else f"{where}.{head}"), rest
        raise InputFileError(path, f"field {where!r}", problem) from None


def load_person(device: DeviceConfig) -> Profile | None:
    """The person's profile named by the device config, if it names one."""
    return load_profile(device.profile_file, device.device_max) if device.profile_file else None


def save_profile(path: Path, profile: Profile) -> None:
    """Write ``profile`` atomically (for the tolerance gesture); forces are written in newtons."""
    data = profile.model_dump(mode="python", exclude_none=True)
    data["contraindications"] = {
        str(kind): {k: v for k, v in record.items() if v is not None}
        for kind, record in data.get("contraindications", {}).items()
    }
    header = "# presspoint person profile (forces in newtons); written by the device\n"
    atomic_write_bytes(path, header.encode() + tomli_w.dumps(data).encode("utf-8"))
