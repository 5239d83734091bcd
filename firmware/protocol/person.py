"""The person's outcomes on the wire: ``person/status``, ``session/<sid>/follow_up`` and the signed clear.

* ``<p>/<device>/person/status`` (retained): the course, the flags and the
  pending follow-up, republished whenever one of them changes;
* ``<p>/<device>/session/<sid>/follow_up`` (QoS 1, retained): the answer to
  the next-day soreness check of that session;
* ``<p>/<device>/person/clear``: the therapist clears a flag.  Signed like a
  plan - same key, same HMAC and canonical JSON (``plan_envelope``), its own
  ``schema`` inside what is signed (so neither message passes for the other)
  and a ``version`` that must rise, so a replayed clear is refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from config.loader import describe_validation_error
from config.profile import Profile
from firmware.outcomes.course import course_status
from firmware.outcomes.follow_up import CLOSES_AFTER, OPENS_AFTER, due_follow_up
from firmware.outcomes.records import CourseStatus, Flag, FollowUpAnswer, PersonRecord, SessionOutcome
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.plan_envelope import DeviceKey, SignedEnvelope, Version, signed_fields, verify_fields
from firmware.protocol.plan_messages import RefusalCode
from firmware.protocol.topics import Topics, check_level

PERSON_STATUS_SCHEMA: Final = "presspoint.person-status/1"
FOLLOW_UP_SCHEMA: Final = "presspoint.follow-up/1"
CLEAR_SCHEMA: Final = "presspoint.person-clear/1"
MAX_CLEAR_BYTES: Final = 4096
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class PendingFollowUp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    ended_at: AwareDatetime
    due_until: AwareDatetime


class PersonStatus(BaseModel):
    """``<p>/<device>/person/status`` (retained)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.person-status/1"] = Field(PERSON_STATUS_SCHEMA, alias="schema")
    device_id: str = Field(pattern=_ID)
    person: str | None = Field(description="the profile's name; null without a profile")
    updated_at: str = Field(description="ISO 8601 UTC")
    course: CourseStatus | None
    flags: list[Flag] = Field(description="soreness_not_improving and/or reevaluate")
    soreness_since: AwareDatetime | None = None
    pending_follow_up: PendingFollowUp | None = Field(None, description="a session whose follow-up is due now")
    clear_version: int = Field(0, ge=0, description="highest signed clear used: the next must be above it")


class FollowUpMessage(BaseModel):
    """``<p>/<device>/session/<sid>/follow_up`` (QoS 1, retained)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.follow-up/1"] = Field(FOLLOW_UP_SCHEMA, alias="schema")
    device_id: str = Field(pattern=_ID)
    session_id: str = Field(pattern=_ID)
    answer: FollowUpAnswer
    answered_at: AwareDatetime
    answered_by: str | None = None
    hours_after: float = Field(description="hours from the session's end to the answer")


class SignedClear(SignedEnvelope):
    """``<p>/<device>/person/clear``: the therapist clears a flag; strict, as a signed plan."""

    schema_: Literal["presspoint.person-clear/1"] = Field(CLEAR_SCHEMA, alias="schema")
    version: Version = Field(description="must be higher than every clear used before")
    flag: Literal["soreness_not_improving", "reevaluate"] = Field(
        description="soreness_not_improving: cleared; reevaluate: the therapist reevaluated, a new course starts"
    )


class ClearRefused(ValueError):
    """A clear message the device will not act on: a ``RefusalCode`` and one line."""

    what = "clear"

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(f"{self.what} refused ({code.value}): {reason}")
        self.code = code


_Signed = TypeVar("_Signed", bound=BaseModel)


def sign_clear(
    flag: str, *, device_id: str, version: int, key: DeviceKey, issued_at: str | None = None
) -> SignedClear:
    """A clear of ``flag`` (``soreness_not_improving``, or ``reevaluate``: a course reset) signed with the plan key."""
    fields = signed_fields(
        CLEAR_SCHEMA, {"flag": Flag(flag).value}, device_id=device_id, version=version, key=key, issued_at=issued_at
    )
    return SignedClear.model_validate(fields)


def check_clear(payload: bytes, *, device_id: str, key: DeviceKey | None, floor: int) -> SignedClear:
    """The clear if it is signed with this device's key, for this device, and newer than ``floor``."""
    clear = check_signed(payload, SignedClear, ClearRefused, device_id=device_id, key=key)
    check_floor(clear.version, floor, ClearRefused)
    return clear


def check_signed(
    payload: bytes, model: type[_Signed], refused: type[ClearRefused], *, device_id: str, key: DeviceKey | None
) -> _Signed:
    """A person message signed with this device's key and for this device (its version not yet checked)."""
    what = refused.what
    if len(payload) > MAX_CLEAR_BYTES:
        raise refused(RefusalCode.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {MAX_CLEAR_BYTES}")
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise refused(RefusalCode.NOT_JSON, "message is not UTF-8 JSON") from None
    if not isinstance(data, dict) or not data.get("signature"):
        raise refused(RefusalCode.UNSIGNED, f"message is not a signed {what}")
    try:
        message = model.model_validate(data)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        raise refused(RefusalCode.BAD_ENVELOPE, f"field {where!r}: {problem}") from None
    if data["device_id"] != device_id:  # validated: every signed person message names its device
        raise refused(RefusalCode.WRONG_DEVICE, f"{what} is for device {data['device_id']!r}, this is {device_id!r}")
    if key is None:
        raise refused(RefusalCode.NO_KEY, "this device has no signing key installed")
    if not verify_fields(data, key):
        raise refused(RefusalCode.BAD_SIGNATURE, "signature does not match (wrong key or altered message)")
    return message


def check_floor(version: int, floor: int, refused: type[ClearRefused]) -> None:
    """A signed person message's version must rise above every one used before: a replay is refused."""
    if version <= floor:
        raise refused(RefusalCode.OLD_VERSION, f"version {version} is not newer than {floor} (replayed or stale)")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def person_status(record: PersonRecord, profile: Profile | None, *, device_id: str, now: datetime) -> PersonStatus:
    """What ``person/status`` says now."""
    status = course_status(record, profile.reevaluate_after) if profile is not None else None
    flags: list[Flag] = [flag for flag in record.flags if flag is Flag.SORENESS_NOT_IMPROVING]
    if status is not None and status.reevaluate:
        flags.append(Flag.REEVALUATE)
    soreness = record.flags.get(Flag.SORENESS_NOT_IMPROVING)
    due = due_follow_up(record, now)
    pending = (
        None
        if due is None
        else PendingFollowUp(session_id=due.session_id, ended_at=due.ended_at, due_until=due.ended_at + CLOSES_AFTER)
    )
    return PersonStatus(
        device_id=device_id,
        person=profile.name if profile is not None else None,
        updated_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        course=status,
        flags=flags,
        soreness_since=soreness.set_at if soreness is not None else None,
        pending_follow_up=pending,
        clear_version=record.clear_floor,
    )


def follow_up_message(session: SessionOutcome, *, device_id: str) -> FollowUpMessage:
    if session.follow_up is None or session.answered_at is None:
        raise ValueError(f"session {session.session_id} has no follow-up answer")
    return FollowUpMessage(
        device_id=device_id,
        session_id=session.session_id,
        answer=session.follow_up,
        answered_at=session.answered_at,
        answered_by=session.answered_by,
        hours_after=round((session.answered_at - session.ended_at).total_seconds() / 3600, 3),
    )


def person_status_topic(topics: Topics) -> str:
    return f"{topics.base}/person/status"


def person_clear_topic(topics: Topics) -> str:
    return f"{topics.base}/person/clear"


def person_event_topic(topics: Topics) -> str:
    """Where a refused signed clear is reported (the device's event topic)."""
    return f"{topics.base}/event"


def clear_refused_event(
    payload: bytes, reason: str, *, device_id: str, event_type: str = "person_clear_refused"
) -> bytes:
    """The event for a refused clear (or answer), with the message's ``request_id`` when it had one."""
    request_id: object = None
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_no_constant)
        request_id = data.get("request_id") if isinstance(data, dict) else None
    except (UnicodeDecodeError, ValueError):
        pass
    event = {
        "type": event_type,
        "device_id": device_id,
        "request_id": request_id if isinstance(request_id, str) else None,
        "reason": reason,
        "at": utc_now_iso(),
    }
    return json.dumps(event).encode("utf-8")


def follow_up_topic(topics: Topics, session_id: str) -> str:
    return f"{topics.base}/session/{check_level(session_id, 'session id')}/follow_up"


#: The follow-up window, for texts.
WINDOW_TEXT: Final = f"{OPENS_AFTER.total_seconds() / 3600:g}-{CLOSES_AFTER.total_seconds() / 3600:g} h"


ANSWER_SCHEMA: Final = "presspoint.person-answer/1"
AnswerKind = Literal["pain_before", "pain_after", "follow_up"]
PAIN_KINDS: Final = ("pain_before", "pain_after")
_FOLLOW_UP_VALUES: Final = ["better", "not_better"]


class AnswerRefused(ClearRefused):
    """An answer from the clinic app the device will not act on."""

    what = "answer"


class SignedAnswer(SignedEnvelope):
    """``<p>/<device>/person/answer/<sid>/<kind>``: a rating or follow-up answer given in the clinic app.

    Signed exactly like the clear (plan key, canonical JSON, its own ``schema``
    inside what is signed); its ``version`` must rise above the last answer of
    the same kind used for that session, so a replay is refused.
    """

    schema_: Literal["presspoint.person-answer/1"] = Field(ANSWER_SCHEMA, alias="schema")
    version: Version = Field(description="must be higher than the last answer of this kind used")
    session_id: StrictStr = Field(pattern=_ID)
    kind: AnswerKind
    value: StrictInt | StrictStr = Field(
        description="pain_before/pain_after: 0..10 (NRS); follow_up: better or not_better",
        json_schema_extra={
            "anyOf": [{"type": "integer", "minimum": 0, "maximum": 10}, {"enum": ["better", "not_better"]}]
        },
    )

    @model_validator(mode="after")
    def _value_fits_kind(self) -> SignedAnswer:
        check_answer_value(self.kind, self.value)
        return self


def check_answer_value(kind: str, value: object) -> None:
    """``ValueError`` in one line unless ``value`` is an answer of ``kind``."""
    if kind in PAIN_KINDS:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10:
            raise ValueError(f"{kind} must be a whole number 0..10, not {value!r}")
    elif value not in _FOLLOW_UP_VALUES:
        raise ValueError(f"follow_up must be better or not_better, not {value!r}")


def sign_answer(
    session_id: str,
    kind: str,
    value: int | str,
    *,
    device_id: str,
    version: int,
    key: DeviceKey,
    issued_at: str | None = None,
) -> SignedAnswer:
    """An answer for one session signed with the plan key (``ValueError`` for a value that does not fit)."""
    check_answer_value(kind, value)
    body: dict[str, Any] = {"session_id": session_id, "kind": kind, "value": value}
    fields = signed_fields(ANSWER_SCHEMA, body, device_id=device_id, version=version, key=key, issued_at=issued_at)
    return SignedAnswer.model_validate(fields)


def check_answer(payload: bytes, *, device_id: str, key: DeviceKey | None) -> SignedAnswer:
    """The answer if signed with this device's key and for this device; the caller checks its floor."""
    return check_signed(payload, SignedAnswer, AnswerRefused, device_id=device_id, key=key)


def person_answer_topic(topics: Topics, session_id: str, kind: str) -> str:
    """One retained topic per session and kind, so a device that was offline gets every answer."""
    return f"{topics.base}/person/answer/{check_level(session_id, 'session id')}/{kind}"


def person_answer_filter(topics: Topics) -> str:
    return f"{topics.base}/person/answer/#"
