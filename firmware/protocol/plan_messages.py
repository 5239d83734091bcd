"""The device's answers to a plan push: ``plan/state`` (the plan in force) and ``plan/error`` (the last refusal).

Both sides use these models: the device publishes them, the therapist's
tools parse them, so they live with the other payloads and not in the
device's updater.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from firmware.protocol.plan_envelope import canonical_json

STATE_SCHEMA: Final = "presspoint.plan-state/1"
ERROR_SCHEMA: Final = "presspoint.plan-error/1"


class RefusalCode(StrEnum):
    """Why a ``plan/set`` message was refused (stable, for scripts)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    UNSIGNED = "unsigned"
    BAD_ENVELOPE = "bad_envelope"
    WRONG_DEVICE = "wrong_device"
    NO_KEY = "no_key"
    BAD_SIGNATURE = "bad_signature"
    OLD_VERSION = "old_version"
    INVALID_PLAN = "invalid_plan"
    STORAGE_FAILED = "storage_failed"


class PlanState(BaseModel):
    """``presspoint/<device>/plan/state`` (retained): the plan in force and its version."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.plan-state/1"] = Field(STATE_SCHEMA, alias="schema")
    device_id: str
    version: int = Field(ge=0, description="0 = the device's local plan, never set remotely")
    source: Literal["local", "remote"]
    plan: dict[str, Any] = Field(description="the plan in force, forces in newtons")
    plan_sha256: str
    applied_at: str | None = None
    issued_at: str | None = None
    request_id: str | None = Field(None, description="request_id of the push that set it")
    key_id: str | None = None
    pending_version: int | None = Field(None, description="a verified plan waiting for the session to end")
    pending_request_id: str | None = None
    updated_at: str


class PlanError(BaseModel):
    """``presspoint/<device>/plan/error`` (retained until the next applied plan): the last refusal."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.plan-error/1"] = Field(ERROR_SCHEMA, alias="schema")
    device_id: str
    code: RefusalCode
    reason: str
    version: int | None = Field(None, description="the version the message claimed, if readable")
    request_id: str | None = Field(None, description="the push's request_id, if readable")
    version_in_force: int
    payload_sha256: str
    at: str


def plan_digest(plan: dict[str, Any]) -> str:
    """``plan_sha256``: SHA-256 of the plan's canonical JSON, the same on device and therapist side."""
    return hashlib.sha256(canonical_json(plan)).hexdigest()
