"""The device's plan in force, and how a pushed plan replaces it: at once, or queued while a session runs.

``PlanUpdater.handle`` asks the pure ``validator`` for a verdict on a
``plan/set`` payload, then applies it - or, while a session runs, stores it
as *pending* and applies it in ``apply_pending`` when the session ends, so a
session never changes plan half-way.  Plans are kept by ``store`` (atomic
writes), the highest version ever accepted by the replay ``floor`` (its own
file, which no refusal can touch), and every change or refusal goes to the
``audit`` log.  It answers
with the ``plan/state`` and ``plan/error`` payloads.  Nothing in here raises
on bad input: the device keeps its plan and says why.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from config.plan import TherapyPlan
from firmware.plans.audit import AuditLog
from firmware.plans.floor import ReplayFloor
from firmware.plans.store import PlanStore, StoredPlan
from firmware.plans.validator import (
    MAX_PAYLOAD_BYTES,
    Accepted,
    DeviceRules,
    Held,
    Refusal,
    Repeat,
    recheck_queued,
    validate,
)
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.plan_envelope import DeviceKey
from firmware.protocol.plan_messages import PlanError, PlanState, RefusalCode, plan_digest

log = logging.getLogger("presspoint.plan")


class UpdateStatus(StrEnum):
    APPLIED = "applied"  # in force now
    QUEUED = "queued"  # valid; applies when the running session ends
    UNCHANGED = "unchanged"  # a repeat of the plan in force (or queued)
    REFUSED = "refused"
    IGNORED = "ignored"  # an empty payload: someone cleared the retained plan/set


@dataclass(frozen=True)
class UpdateResult:
    """What ``handle`` (or ``apply_pending``) did with one message."""

    status: UpdateStatus
    version: int | None = None
    request_id: str | None = None
    code: RefusalCode | None = None
    reason: str = ""
    payload_sha256: str = ""

    @property
    def refused(self) -> bool:
        return self.status is UpdateStatus.REFUSED


class PlanUpdater:
    """The device's plan in force, and the checks any replacement must pass.

    Not thread-safe on its own; ``PlanUpdateService`` serialises calls.
    """

    def __init__(
        self,
        *,
        device_id: str,
        device_max_n: float,
        key: DeviceKey | None,
        state_dir: Path,
        local_plan: TherapyPlan,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        now: Callable[[], str] = utc_now_iso,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = DeviceRules(device_id, device_max_n, key, max_payload_bytes)
        self._local_plan = local_plan
        self._now = now
        self.store = store = PlanStore(state_dir / "remote-plan")
        self.folder, self.current_path, self.pending_path = store.folder, store.current_path, store.pending_path
        self.audit = AuditLog(store.folder, clock=wall_clock)
        self.floor = ReplayFloor(store.folder / "floor.json")
        self._current, self._current_plan = self.store.load_current(device_max_n)
        self._pending = self.store.load_pending(device_max_n)
        self._floor = 0  # then the highest of all we know, written back if the floor file was behind
        known = (self.floor.version, self.version, self.pending_version or 0, self.audit.highest_version())
        self._raise_floor(max(known))

    # -- what is in force ------------------------------------------------------

    @property
    def device_id(self) -> str:
        return self.rules.device_id

    @property
    def version(self) -> int:
        """Version of the plan in force; 0 while the local plan is."""
        return self._current.version if self._current is not None else 0

    @property
    def plan(self) -> TherapyPlan:
        """The plan a session started now would use."""
        return self._current_plan if self._current_plan is not None else self._local_plan

    @property
    def pending_version(self) -> int | None:
        return self._pending.version if self._pending is not None else None

    def state(self) -> PlanState:
        current, pending = self._current, self._pending
        plan = self.plan.model_dump(mode="json")
        return PlanState(
            device_id=self.device_id,
            version=self.version,
            source="remote" if self._current_plan is not None else "local",
            plan=plan,
            plan_sha256=plan_digest(plan),
            applied_at=current.stored_at if current else None,
            issued_at=current.issued_at if current else None,
            request_id=current.request_id if current else None,
            key_id=current.key_id if current else None,
            pending_version=pending.version if pending else None,
            pending_request_id=pending.request_id if pending else None,
            updated_at=self._now(),
        )

    def error(self, result: UpdateResult) -> PlanError:
        if result.code is None:
            raise ValueError("not a refusal")
        return PlanError(
            device_id=self.device_id,
            code=result.code,
            reason=result.reason,
            version=result.version,
            request_id=result.request_id,
            version_in_force=self.version,
            payload_sha256=result.payload_sha256,
            at=self._now(),
        )

    # -- handling a message ------------------------------------------------------

    def handle(self, payload: bytes, *, session_running: bool) -> UpdateResult:
        """Check one ``plan/set`` payload and apply, queue or refuse it.  Never raises on bad input."""
        digest = hashlib.sha256(payload).hexdigest()
        if not payload.strip():
            return UpdateResult(UpdateStatus.IGNORED, payload_sha256=digest, reason="empty payload")
        claimed: tuple[int | None, str | None] = (None, None)
        try:
            verdict = validate(payload, self.rules, self._held())
            if isinstance(verdict, Refusal):
                return self._refuse(verdict, digest, len(payload))
            claimed = (verdict.envelope.version, verdict.envelope.request_id)
            if isinstance(verdict, Repeat):
                return UpdateResult(
                    UpdateStatus.UNCHANGED,
                    *claimed,
                    reason=f"version {verdict.envelope.version} is already {verdict.held_as}",
                    payload_sha256=digest,
                )
            return self._accept(verdict, digest, len(payload), session_running)
        except Exception as exc:  # a bug must not take the device (or its plan) down
            log.exception("plan update: unexpected error")
            refusal = Refusal(RefusalCode.STORAGE_FAILED, f"internal error ({type(exc).__name__})", *claimed)
            return self._refuse(refusal, digest, len(payload))

    def apply_pending(self) -> UpdateResult | None:
        """Apply the plan queued during a session; call when the session has ended."""
        pending = self._pending
        if pending is None:
            return None
        checked = recheck_queued(pending.plan, self.rules.device_max_n)
        if isinstance(checked, Refusal):  # only if device_max shrank since it was queued
            self._drop_pending()
            return self._refuse(_about(checked, pending), pending.signature, 0)
        try:
            self._store_current(pending, checked)
        except OSError as exc:  # kept queued: the next session end tries again
            refusal = Refusal(RefusalCode.STORAGE_FAILED, f"could not store the queued plan ({exc.strerror})")
            return self._refuse(_about(refusal, pending), pending.signature, 0)
        self._drop_pending()
        self.audit.change("applied", pending, at=self._now(), previous=None, note="queued during a session")
        return UpdateResult(UpdateStatus.APPLIED, pending.version, pending.request_id, reason="applied after session")

    # -- steps -------------------------------------------------------------------

    def _held(self) -> Held:
        held = ((self._current, "in force"), (self._pending, "queued"))
        signatures = {record.signature: held_as for record, held_as in held if record is not None}
        return Held(floor=self._floor, pending_version=self.pending_version, signatures=signatures)

    def _accept(self, accepted: Accepted, digest: str, size: int, session_running: bool) -> UpdateResult:
        record = StoredPlan.of(accepted, stored_at=self._now())
        previous = self.version
        try:
            if session_running:
                self.store.write_pending(record)
            else:
                self._store_current(record, accepted.plan)
        except OSError as exc:
            refusal = Refusal(RefusalCode.STORAGE_FAILED, f"could not store the plan ({exc.strerror})")
            return self._refuse(_about(refusal, record), digest, size)
        superseded = self._pending
        if session_running:
            self._pending = record
            self._raise_floor(record.version)
        else:
            self._drop_pending()
        if superseded is not None:
            note = f"replaced by version {record.version}"
            self.audit.change("superseded", superseded, at=self._now(), previous=None, note=note)
        if session_running:
            self.audit.change("queued", record, at=self._now(), previous=previous, note="a session is running")
            return UpdateResult(
                UpdateStatus.QUEUED,
                record.version,
                record.request_id,
                reason="a session is running; the plan applies when it ends",
                payload_sha256=digest,
            )
        self.audit.change("applied", record, at=self._now(), previous=previous)
        return UpdateResult(
            UpdateStatus.APPLIED, record.version, record.request_id, reason="applied", payload_sha256=digest
        )

    def _store_current(self, record: StoredPlan, plan: TherapyPlan) -> None:
        self.store.write_current(record)
        self._current, self._current_plan = record, plan
        self._raise_floor(record.version)

    def _raise_floor(self, version: int) -> None:
        """Raise the replay floor on disk (after the plan itself: a crash in between is repaired at start)."""
        self._floor = max(self._floor, version)
        try:
            self.floor.raise_to(self._floor)
        except OSError as exc:
            log.error("replay floor %s: cannot write (%s); replays stay refused while this runs", self.floor.path,
                      exc.strerror)

    def close(self) -> None:
        """Write the counts of refusals not yet written (at exit)."""
        self.audit.refusals.flush()

    def _drop_pending(self) -> None:
        self._pending = None
        self.store.drop_pending()

    def _refuse(self, refusal: Refusal, digest: str, size: int) -> UpdateResult:
        written = self.audit.refusal(refusal, at=self._now(), version_in_force=self.version, digest=digest, size=size)
        log.log(logging.WARNING if written else logging.DEBUG, "plan update refused (%s): %s", refusal.code,
                refusal.reason)
        return UpdateResult(
            UpdateStatus.REFUSED, refusal.version, refusal.request_id, refusal.code, refusal.reason, digest
        )


def _about(refusal: Refusal, record: StoredPlan) -> Refusal:
    """``refusal`` naming the version and request of a plan that passed validation."""
    return Refusal(refusal.code, refusal.reason, record.version, record.request_id)
