"""Pydantic models for every JSON payload the device publishes over MQTT.

Each session message carries an envelope (``msg_id``, ``seq``, ``device_id``,
``session_id``, ``created_at``) so a consumer can drop duplicates: after a lost
connection the device re-sends what the broker had not acknowledged, and MQTT
QoS 1 may itself deliver twice.  ``seq`` increases per device across restarts,
so a consumer can also see order and gaps.  ``created_at`` is when the message
was made (stored), not when it was sent: with store-and-forward those differ.

The session summary is not modelled here: it is the session core's
``SessionSummary`` JSON, byte for byte the same as ``presspoint simulate
--json``; its ``msg_id``/``seq`` travel as MQTT v5 user properties and its
natural duplicate key is ``session_id``.

Consumers should validate with these models (``parse_payload``) and treat a
payload that fails as bad input, never as a reason to crash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

EVENT_SCHEMA: Final = "presspoint.event/1"
SAMPLES_SCHEMA: Final = "presspoint.samples/1"
STATUS_SCHEMA: Final = "presspoint.status/1"

_ID = r"^[A-Za-z0-9_-]{1,64}$"

_Model = TypeVar("_Model", bound=BaseModel)


def utc_now_iso(timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """Current UTC time, ISO 8601 with a ``Z``: the one time-stamp format of every payload."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class Envelope(BaseModel):
    """Fields every session message carries, for de-duplication and ordering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    msg_id: str = Field(description="unique id of this message (UUID4 hex); drop repeats")
    seq: int = Field(ge=1, description="per-device sequence number, increasing across restarts")
    device_id: str = Field(pattern=_ID)
    session_id: str = Field(pattern=_ID)
    created_at: str = Field(description="when the message was stored, ISO 8601 UTC")


class SessionEvent(BaseModel):
    """One event of the session core: a ``type``, a time ``t`` and free fields.

    The core defines the types (phase changes, cues, hold start/end, abort);
    the device adds ``samples_dropped`` (outbox bound reached) and
    ``interrupted`` (the session was closed at restart after a crash).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1, max_length=64)
    t: float | None = Field(description="seconds since the session's first sample")


class EventMessage(Envelope):
    """``presspoint/<device>/session/<sid>/event`` (QoS 1)."""

    schema_: Literal["presspoint.event/1"] = Field(EVENT_SCHEMA, alias="schema")
    index: int = Field(ge=0, description="position of the event within its session")
    event: SessionEvent

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SamplesBatch(Envelope):
    """``presspoint/<device>/session/<sid>/samples`` (QoS 1): about one second of samples.

    Compact: sample *i* is at ``t0 + i*dt`` unless ``t`` is given, which it is
    only when the samples are not evenly spaced (a sensor gap).  Forces are
    rounded to 1 mN; ``raw`` holds the ADC counts (``null`` when unknown).
    """

    schema_: Literal["presspoint.samples/1"] = Field(SAMPLES_SCHEMA, alias="schema")
    batch: int = Field(ge=0, description="index of this batch in the session (second number)")
    t0: float
    dt: float = Field(gt=0, description="nominal sample period, s")
    n: int = Field(ge=1)
    force_n: list[float | None] = Field(description="newtons; null for a non-finite reading")
    raw: list[int | None]
    t: list[float] | None = Field(None, description="explicit times, only if unevenly spaced")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def times(self) -> list[float]:
        """The time of every sample."""
        if self.t is not None:
            return list(self.t)
        return [self.t0 + i * self.dt for i in range(self.n)]


class DeviceStatus(BaseModel):
    """``presspoint/<device>/status/info`` (retained): what the device is and does now.

    ``presspoint/<device>/status`` itself is the plain ``online``/``offline``
    availability (retained, last will), which Home Assistant reads as is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.status/1"] = Field(STATUS_SCHEMA, alias="schema")
    device_id: str = Field(pattern=_ID)
    firmware_version: str
    calibrated: bool
    session_id: str | None = Field(None, description="the running session, or null")
    phase: str | None = None
    force_n: float | None = Field(None, description="latest force, N (at most once a second)")
    last_session_id: str | None = None
    last_outcome: str | None = None
    refused: str | None = Field(None, description="why the last start was refused (cleared when a session starts)")
    measured_rate_hz: float | None = Field(None, description="sample rate measured at start-up")
    plan_source: Literal["local", "remote"] | None = Field(
        None, description="the plan in force: the device's own (local) or one the therapist pushed (remote)"
    )
    plan_version: int | None = Field(None, ge=0, description="version of the plan in force (0: the local plan)")
    outbox_pending: int = Field(0, ge=0)
    outbox_dropped: int = Field(0, ge=0, description="sample batches dropped since first start")
    updated_at: str


class HaDevice(BaseModel):
    """The ``device`` block of a Home Assistant discovery config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    identifiers: list[str]
    name: str
    model: str
    manufacturer: str
    sw_version: str


class HaSensorConfig(BaseModel):
    """Home Assistant MQTT discovery config of one sensor (retained)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    unique_id: str
    object_id: str
    state_topic: str
    value_template: str
    availability_topic: str
    payload_available: str = "online"
    payload_not_available: str = "offline"
    unit_of_measurement: str | None = None
    state_class: str | None = None
    icon: str | None = None
    device: HaDevice


MODELS: dict[str, type[BaseModel]] = {
    "event": EventMessage,
    "samples": SamplesBatch,
    "status": DeviceStatus,
    "ha_sensor_config": HaSensorConfig,
}


def dump(model: BaseModel) -> bytes:
    """Compact JSON bytes, with aliases (``schema``) and without ``null`` extras."""
    return model.model_dump_json(by_alias=True, exclude_none=True).encode()


class BadPayload(ValueError):
    """A received payload that is not valid JSON for its model; one line, never a crash."""


def parse_or_none(model: type[_Model], payload: bytes) -> _Model | None:
    """A received payload as ``model``, or ``None``: empty (a cleared retained topic) or not that model."""
    if not payload:
        return None
    try:
        return model.model_validate_json(payload)
    except ValidationError:
        return None


def parse_payload(kind: str, payload: bytes | str) -> BaseModel:
    """Validate a received payload as ``kind`` (a key of ``MODELS``).

    Raises ``BadPayload`` with a one-line reason for anything malformed.
    """
    model = MODELS.get(kind)
    if model is None:
        raise BadPayload(f"unknown payload kind {kind!r}")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
        raise BadPayload(f"bad {kind} payload: {where}: {first.get('msg', 'invalid')}") from None
