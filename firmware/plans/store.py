"""The remote plans on the device's disk: the one in force and the one queued, with the envelope that proves each.

Every write is temp file + fsync + ``os.replace`` (``config.atomic``), so a
power cut leaves the old file or the new one, never half of either.  A file
that cannot be read or no longer passes today's plan rules is logged and
ignored: the device falls back to its local plan (and the replay floor,
``firmware.plans.floor``, keeps replays refused).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.atomic import atomic_write_bytes
from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from firmware.plans.validator import Accepted

log = logging.getLogger("presspoint.plan")

STORE_SCHEMA: Final = "presspoint.plan-store/1"


class StoredPlan(BaseModel):
    """A plan on the device's disk (current or pending), with the envelope that proves it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["presspoint.plan-store/1"] = Field(STORE_SCHEMA, alias="schema")
    version: int = Field(ge=1)
    plan: dict[str, Any]
    request_id: str
    issued_at: str
    key_id: str | None = None
    signature: str
    stored_at: str
    envelope: dict[str, Any]

    @classmethod
    def of(cls, accepted: Accepted, *, stored_at: str) -> StoredPlan:
        envelope = accepted.envelope
        return cls(
            version=envelope.version,
            plan=accepted.plan.model_dump(mode="json"),
            request_id=envelope.request_id,
            issued_at=envelope.issued_at,
            key_id=envelope.key_id,
            signature=envelope.signature,
            stored_at=stored_at,
            envelope=accepted.received,
        )


class PlanStore:
    """``<state_dir>/remote-plan/current.json`` and ``pending.json``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.current_path = folder / "current.json"
        self.pending_path = folder / "pending.json"

    def load_current(self, device_max_n: float) -> tuple[StoredPlan | None, TherapyPlan | None]:
        return _load(self.current_path, "plan in force", device_max_n)

    def load_pending(self, device_max_n: float) -> StoredPlan | None:
        return _load(self.pending_path, "pending plan", device_max_n)[0]

    def write_current(self, record: StoredPlan) -> None:
        atomic_write_bytes(self.current_path, _store_bytes(record))

    def write_pending(self, record: StoredPlan) -> None:
        atomic_write_bytes(self.pending_path, _store_bytes(record))

    def drop_pending(self) -> None:
        """Remove the queued plan's file; a failure is logged (the plan in force is unaffected)."""
        try:
            self.pending_path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("plan update: cannot remove %s (%s)", self.pending_path, exc.strerror)


def _store_bytes(record: StoredPlan) -> bytes:
    return record.model_dump_json(by_alias=True, indent=2).encode("utf-8")


def _load(path: Path, what: str, device_max_n: float) -> tuple[StoredPlan | None, TherapyPlan | None]:
    """A stored plan, re-checked against today's device_max; unusable files are logged, not fatal."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        log.error("%s %s: cannot read (%s); using the local plan", what, path, exc.strerror)
        return None, None
    try:
        record = StoredPlan.model_validate_json(raw)
        plan = validate_plan(record.plan, device_max_n)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        log.error(
            "%s %s is unusable (%s: %s); using the local plan. Replays stay refused (replay floor).",
            what,
            path,
            where,
            problem,
        )
        return None, None
    return record, plan
