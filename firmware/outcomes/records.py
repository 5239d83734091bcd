"""What the device keeps about one person's outcomes: the course, each session's ratings and follow-up, flags.

Plain pydantic models, stored as one JSON document in the state directory
(``firmware.outcomes.store``) and read back strictly: a record that does not
fit is reported, never half-used.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RECORD_SCHEMA: Final = "presspoint.person-record/1"
_ID = r"^[A-Za-z0-9_-]{1,64}$"

#: One answer on the 11-point numeric rating scale (0 = no pain, 10 = worst imaginable).
PainRating = Annotated[int, Field(strict=True, ge=0, le=10)]


class FollowUpAnswer(StrEnum):
    BETTER = "better"
    NOT_BETTER = "not_better"
    SKIPPED = "skipped"


class Flag(StrEnum):
    """Flags a therapist sees; only ``soreness_not_improving`` is stored (``reevaluate`` is computed)."""

    SORENESS_NOT_IMPROVING = "soreness_not_improving"
    REEVALUATE = "reevaluate"


class SessionOutcome(BaseModel):
    """One session as the outcomes see it: ratings, whether it had a hold, its follow-up."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str = Field(pattern=_ID)
    course_id: str = Field(pattern=_ID)
    ended_at: AwareDatetime
    had_hold: bool = Field(description="only a session with a hold is followed up")
    pain_before: PainRating | None = None
    pain_after: PainRating | None = None
    follow_up: FollowUpAnswer | None = None
    answered_at: AwareDatetime | None = None
    answered_by: str | None = Field(None, max_length=40, description="device, cli or clinic")
    follow_up_published: bool = Field(False, description="the follow_up message has gone to the outbox")
    answer_versions: dict[str, int] = Field(
        default_factory=dict, description="per kind, the highest signed clinic answer used: replays are refused"
    )


class CourseRecord(BaseModel):
    """A run of sessions of one person under one plan version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    person: str = Field(min_length=1, max_length=64, description="the profile's name")
    plan_version: int = Field(ge=0, description="0: the local plan")
    started_at: AwareDatetime
    started_because: str = Field(max_length=120)


class FlagRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    set_at: AwareDatetime
    session_id: str | None = None


class PersonRecord(BaseModel):
    """Everything stored: the course in force, recent sessions (all courses), flags, the signed-clear floor."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.person-record/1"] = Field(RECORD_SCHEMA, alias="schema")
    course: CourseRecord | None = None
    sessions: tuple[SessionOutcome, ...] = ()
    flags: dict[Flag, FlagRecord] = Field(default_factory=dict)
    clear_floor: int = Field(0, ge=0, description="highest signed clear version used: replays are refused")


class CourseStatus(BaseModel):
    """The course as a summary and ``person/status`` carry it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    sessions_rated: int = Field(ge=0, description="sessions of this course with a pain_before rating")
    baseline_pain: PainRating | None = Field(description="pain_before of the course's first rated session")
    latest_pain: PainRating | None = Field(description="pain_before of its latest rated session")
    reevaluate: bool = Field(description="enough rated sessions without significant relief: see the therapist")
    reason: str | None = Field(description="why reevaluate is set, one line")
