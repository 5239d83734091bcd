"""Remote plan updates on the device: verify, queue while a session runs, store atomically, answer, audit.

``presspoint/<device>/plan/set`` carries a ``SignedPlan``.  ``PlanUpdater.handle``
checks it in this order, refusing at the first problem with a stable code and
a readable reason:

1. size (``MAX_PAYLOAD_BYTES``, before anything is parsed),
2. UTF-8 JSON object (NaN/Infinity refused),
3. signed at all, then the envelope's strict schema,
4. addressed to this device, a key installed, the HMAC (constant time),
5. version higher than every version applied or queued (an identical repeat
   of the plan in force - a retained or redelivered copy - is ``unchanged``,
   not an error),
6. the plan's own rules against this device's ``device_max``.

Only then is it applied - or, while a session runs, stored as *pending* and
applied by ``apply_pending`` when the session ends, so a session never
changes plan half-way.  Current and pending plans are stored with
temp file + fsync + ``os.replace``, together with their version and the
signed envelope (proof of origin).  Every applied, queued, superseded or
refused change is appended to a JSON-lines audit log (fsynced); a refusal
repeated byte for byte (a retained bad message on every reconnect) is
audited once per process.  Nothing in here raises on bad input: the device
keeps its plan and says why on ``plan/error``.

``PlanUpdateService`` puts the core on MQTT.  It reuses the device's
``Publisher`` connection (``subscribe`` + ``set_retained``) rather than a
second client: one client id and ACL identity per device, one reconnect
loop, and ``plan/state`` is re-published on every reconnect by the
publisher's retained-state machinery.  That connection starts clean, so a
push made while the device is offline is not queued for it by the broker -
which is why the therapist CLI publishes ``plan/set`` *retained*: the device
gets the latest signed plan when it connects, and repeats are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.atomic import append_line_durably, atomic_write_bytes
from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.plan_envelope import (
    DEFAULT_DEVICE_KEY_FILE,
    DeviceKey,
    KeyFileError,
    SignedPlan,
    canonical_json,
    load_key,
    verify_fields,
)
from firmware.protocol.topics import Topics

log = logging.getLogger("presspoint.plan")

MAX_PAYLOAD_BYTES: Final = 16 * 1024
STATE_SCHEMA: Final = "presspoint.plan-state/1"
ERROR_SCHEMA: Final = "presspoint.plan-error/1"
STORE_SCHEMA: Final = "presspoint.plan-store/1"
AUDIT_MAX_BYTES: Final = 1024 * 1024
_REPEATS_REMEMBERED = 64


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


class UpdateStatus(StrEnum):
    APPLIED = "applied"  # in force now
    QUEUED = "queued"  # valid; applies when the running session ends
    UNCHANGED = "unchanged"  # a repeat of the plan in force (or queued)
    REFUSED = "refused"
    IGNORED = "ignored"  # an empty payload: someone cleared the retained plan/set


# ---------------------------------------------------------------- payloads


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


def plan_digest(plan: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(plan)).hexdigest()


# ---------------------------------------------------------------- results


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


class _Refused(Exception):
    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


# ---------------------------------------------------------------- audit log


class AuditLog:
    """Append-only JSON lines, fsynced per line; rotated once to ``.1`` past ``max_bytes``."""

    def __init__(self, path: Path, *, max_bytes: int = AUDIT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def append(self, record: dict[str, Any]) -> None:
        try:
            if self.path.exists() and self.path.stat().st_size > self.max_bytes:
                self.path.replace(self.path.with_name(self.path.name + ".1"))
            append_line_durably(self.path, json.dumps(record, sort_keys=True, allow_nan=False))
        except OSError as exc:
            log.error("plan audit log %s: cannot append (%s); the change itself stands", self.path, exc.strerror)

    def records(self) -> list[dict[str, Any]]:
        """Every readable line, oldest first (the rotated file first); bad lines skipped."""
        out: list[dict[str, Any]] = []
        for path in (self.path.with_name(self.path.name + ".1"), self.path):
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError:
                continue
            for line in lines:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    out.append(record)
        return out

    def highest_version(self) -> int:
        """Highest version ever applied or queued: the replay floor if the plan file is lost."""
        best = 0
        for record in self.records():
            version = record.get("version")
            if record.get("action") in ("applied", "queued") and isinstance(version, int):
                best = max(best, version)
        return best


# ---------------------------------------------------------------- the core


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
    ) -> None:
        self.device_id = device_id
        self.device_max_n = device_max_n
        self._key = key
        self._local_plan = local_plan
        self._max_payload = max_payload_bytes
        self._now = now
        self.folder = state_dir / "remote-plan"
        self.current_path = self.folder / "current.json"
        self.pending_path = self.folder / "pending.json"
        self.audit = AuditLog(self.folder / "audit.jsonl")
        self._audited_refusals: OrderedDict[str, None] = OrderedDict()
        self._current, self._current_plan = self._load(self.current_path, "plan in force")
        self._pending, _ = self._load(self.pending_path, "pending plan")
        self._floor = max(self._current.version if self._current else 0, self.audit.highest_version())

    # -- what is in force ------------------------------------------------------

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
        claimed_version: int | None = None
        claimed_request: str | None = None
        try:
            if len(payload) > self._max_payload:
                raise _Refused(
                    RefusalCode.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {self._max_payload}"
                )
            data = self._parse(payload)
            claimed_version, claimed_request = _claims(data)
            envelope = self._authenticate(data)
            return self._accept(envelope, data, digest, session_running)
        except _Refused as refused:
            return self._refuse(refused, claimed_version, claimed_request, digest, len(payload))
        except Exception as exc:  # a bug must not take the device (or its plan) down
            log.exception("plan update: unexpected error")
            return self._refuse(
                _Refused(RefusalCode.STORAGE_FAILED, f"internal error ({type(exc).__name__})"),
                claimed_version,
                claimed_request,
                digest,
                len(payload),
            )

    def apply_pending(self) -> UpdateResult | None:
        """Apply the plan queued during a session; call when the session has ended."""
        pending = self._pending
        if pending is None:
            return None
        try:
            plan = validate_plan(pending.plan, self.device_max_n)
            self._store_current(pending, plan)
        except ValidationError as err:  # only if device_max shrank since it was queued
            where, problem = describe_validation_error(err)
            self._drop_pending()
            return self._refuse(
                _Refused(RefusalCode.INVALID_PLAN, f"queued plan refused: field {where!r}: {problem}"),
                pending.version,
                pending.request_id,
                pending.signature,
                0,
            )
        except OSError as exc:  # kept queued: the next session end tries again
            return self._refuse(
                _Refused(RefusalCode.STORAGE_FAILED, f"could not store the queued plan ({exc.strerror})"),
                pending.version,
                pending.request_id,
                pending.signature,
                0,
            )
        self._drop_pending()
        self._audit_change("applied", pending, previous=None, note="queued during a session")
        return UpdateResult(UpdateStatus.APPLIED, pending.version, pending.request_id, reason="applied after session")

    # -- steps -------------------------------------------------------------------

    @staticmethod
    def _parse(payload: bytes) -> dict[str, Any]:
        try:
            data = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise _Refused(RefusalCode.NOT_JSON, "message is not UTF-8 text") from None
        except ValueError as exc:
            raise _Refused(RefusalCode.NOT_JSON, f"message is not valid JSON ({str(exc)[:120]})") from None
        if not isinstance(data, dict):
            raise _Refused(RefusalCode.BAD_ENVELOPE, "message is not a JSON object (expected a signed plan envelope)")
        return data

    def _authenticate(self, data: dict[str, Any]) -> SignedPlan:
        if not data.get("signature"):
            raise _Refused(RefusalCode.UNSIGNED, "message is not signed; plans must be signed with the device key")
        try:
            envelope = SignedPlan.model_validate(data)
        except ValidationError as err:
            where, problem = describe_validation_error(err)
            raise _Refused(
                RefusalCode.BAD_ENVELOPE, f"not a signed plan envelope: field {where!r}: {problem}"
            ) from None
        if envelope.device_id != self.device_id:
            raise _Refused(
                RefusalCode.WRONG_DEVICE,
                f"plan is for device {envelope.device_id!r}, this is {self.device_id!r}",
            )
        if self._key is None:
            raise _Refused(RefusalCode.NO_KEY, "this device has no plan-signing key installed")
        if envelope.key_id is not None and envelope.key_id != self._key.key_id:
            raise _Refused(
                RefusalCode.BAD_SIGNATURE,
                f"signed with key {envelope.key_id}, but this device's key is {self._key.key_id}",
            )
        if not verify_fields(data, self._key):
            raise _Refused(RefusalCode.BAD_SIGNATURE, "signature does not match (wrong key or altered message)")
        return envelope

    def _accept(self, envelope: SignedPlan, data: dict[str, Any], digest: str, session_running: bool) -> UpdateResult:
        for held in (self._current, self._pending):
            if held is not None and held.signature == envelope.signature:
                return UpdateResult(
                    UpdateStatus.UNCHANGED,
                    envelope.version,
                    envelope.request_id,
                    reason=f"version {envelope.version} is already {'in force' if held is self._current else 'queued'}",
                    payload_sha256=digest,
                )
        floor = max(self._floor, self.pending_version or 0)
        if envelope.version <= floor:
            raise _Refused(
                RefusalCode.OLD_VERSION,
                f"version {envelope.version} is not newer than version {floor} already "
                f"{'queued' if floor == self.pending_version else 'applied'} (replayed or stale); "
                f"push version {floor + 1} or higher",
            )
        try:
            plan = validate_plan(envelope.plan, self.device_max_n)
        except ValidationError as err:
            where, problem = describe_validation_error(err)
            raise _Refused(RefusalCode.INVALID_PLAN, f"plan refused: field {where!r}: {problem}") from None
        record = StoredPlan(
            version=envelope.version,
            plan=plan.model_dump(mode="json"),
            request_id=envelope.request_id,
            issued_at=envelope.issued_at,
            key_id=envelope.key_id,
            signature=envelope.signature,
            stored_at=self._now(),
            envelope=data,
        )
        previous = self.version
        try:
            if session_running:
                atomic_write_bytes(self.pending_path, _store_bytes(record))
            else:
                self._store_current(record, plan)
        except OSError as exc:
            raise _Refused(RefusalCode.STORAGE_FAILED, f"could not store the plan ({exc.strerror})") from None
        superseded = self._pending
        if session_running:
            self._pending = record
            self._floor = max(self._floor, record.version)
        else:
            self._drop_pending()
        if superseded is not None:
            self._audit_change("superseded", superseded, previous=None, note=f"replaced by version {record.version}")
        if session_running:
            self._audit_change("queued", record, previous=previous, note="a session is running")
            return UpdateResult(
                UpdateStatus.QUEUED,
                record.version,
                record.request_id,
                reason="a session is running; the plan applies when it ends",
                payload_sha256=digest,
            )
        self._audit_change("applied", record, previous=previous)
        return UpdateResult(
            UpdateStatus.APPLIED, record.version, record.request_id, reason="applied", payload_sha256=digest
        )

    def _store_current(self, record: StoredPlan, plan: TherapyPlan) -> None:
        atomic_write_bytes(self.current_path, _store_bytes(record))
        self._current, self._current_plan = record, plan
        self._floor = max(self._floor, record.version)

    def _drop_pending(self) -> None:
        self._pending = None
        try:
            self.pending_path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("plan update: cannot remove %s (%s)", self.pending_path, exc.strerror)

    def _refuse(
        self, refused: _Refused, version: int | None, request_id: str | None, digest: str, size: int
    ) -> UpdateResult:
        log.warning("plan update refused (%s): %s", refused.code, refused.reason)
        if digest not in self._audited_refusals:
            self._audited_refusals[digest] = None
            while len(self._audited_refusals) > _REPEATS_REMEMBERED:
                self._audited_refusals.popitem(last=False)
            self.audit.append(
                {
                    "at": self._now(),
                    "action": "refused",
                    "code": str(refused.code),
                    "reason": refused.reason,
                    "claimed_version": version,
                    "request_id": request_id,
                    "version_in_force": self.version,
                    "payload_sha256": digest,
                    "payload_bytes": size,
                }
            )
        return UpdateResult(UpdateStatus.REFUSED, version, request_id, refused.code, refused.reason, digest)

    def _audit_change(self, action: str, record: StoredPlan, *, previous: int | None, note: str = "") -> None:
        self.audit.append(
            {
                "at": self._now(),
                "action": action,
                "version": record.version,
                "previous_version": previous,
                "request_id": record.request_id,
                "issued_at": record.issued_at,
                "key_id": record.key_id,
                "plan_sha256": plan_digest(record.plan),
                "plan": record.plan,
                "note": note,
            }
        )

    def _load(self, path: Path, what: str) -> tuple[StoredPlan | None, TherapyPlan | None]:
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
            plan = validate_plan(record.plan, self.device_max_n)
        except ValidationError as err:
            where, problem = describe_validation_error(err)
            log.error(
                "%s %s is unusable (%s: %s); using the local plan. Replays stay refused (audit log).",
                what,
                path,
                where,
                problem,
            )
            return None, None
        return record, plan


def _claims(data: dict[str, Any]) -> tuple[int | None, str | None]:
    """The version and request id a message claims, if they are readable (for plan/error)."""
    version = data.get("version")
    request = data.get("request_id")
    return (
        version if isinstance(version, int) and not isinstance(version, bool) else None,
        request if isinstance(request, str) and 0 < len(request) <= 64 else None,
    )


def _store_bytes(record: StoredPlan) -> bytes:
    return record.model_dump_json(by_alias=True, indent=2).encode("utf-8")


# ---------------------------------------------------------------- on MQTT


class ReceivedMessage(Protocol):
    @property
    def payload(self) -> Any: ...


class RetainedTransport(Protocol):
    """What the service needs from an MQTT connection (``firmware.mqtt.publisher.Publisher`` has it)."""

    def subscribe(self, topic_filter: str, handler: Callable[[Any], Awaitable[None] | None]) -> None: ...

    def set_retained(self, topic: str, payload: bytes | None) -> None: ...


class PlanUpdateService:
    """The updater on MQTT, plus the session bracket that keeps plans from changing mid-session.

    Thread-safe: MQTT messages arrive on the publisher's thread, sessions
    start and end on the session loop; one lock orders them, so a push can
    never slip in between reading the plan and marking the session running.
    """

    def __init__(
        self,
        updater: PlanUpdater,
        topics: Topics,
        *,
        on_applied: Callable[[TherapyPlan, int], None] | None = None,
    ) -> None:
        self.updater = updater
        self.topics = topics
        self._on_applied = on_applied
        self._lock = threading.RLock()  # re-entrant: on_applied may ask the service for its state
        self._running = False
        self._transport: RetainedTransport | None = None
        self.results: list[UpdateResult] = []  # last few, for status and tests
        self._changed = threading.Condition(self._lock)
        # A plan queued during a session that a crash or power cut interrupted: no session runs now.
        with self._lock:
            started = self.updater.apply_pending()
            if started is not None:
                self._publish(started)

    def attach(self, transport: RetainedTransport) -> None:
        """Subscribe to ``plan/set`` and publish the current ``plan/state`` (retained)."""
        self._transport = transport
        transport.set_retained(self.topics.plan_state, self._state_bytes())
        transport.subscribe(self.topics.plan_set, self._on_message)

    async def _on_message(self, message: ReceivedMessage) -> None:
        raw = message.payload
        payload = raw if isinstance(raw, bytes | bytearray) else str(raw).encode("utf-8")
        await asyncio.to_thread(self.receive, bytes(payload))

    def receive(self, payload: bytes) -> UpdateResult:
        """Handle one ``plan/set`` payload and publish the answer."""
        with self._lock:
            result = self.updater.handle(payload, session_running=self._running)
            self._publish(result)
        return result

    def begin_session(self) -> TherapyPlan:
        """Mark a session running and return the plan it must use (atomically)."""
        with self._lock:
            self._running = True
            return self.updater.plan

    @contextlib.contextmanager
    def session(self) -> Iterator[TherapyPlan]:
        """``with service.session() as plan:`` around everything from choosing the plan to the
        session's end - including a refusal or a failed tare - so a queued plan is never left waiting
        for a session that did not happen."""
        plan = self.begin_session()
        try:
            yield plan
        finally:
            self.end_session()

    def end_session(self) -> UpdateResult | None:
        """Mark the session over and apply a plan queued during it, if any."""
        with self._lock:
            self._running = False
            result = self.updater.apply_pending()
            if result is not None:
                self._publish(result)
        return result

    @property
    def session_running(self) -> bool:
        return self._running

    def wait_for(self, predicate: Callable[[list[UpdateResult]], bool], timeout_s: float) -> bool:
        """Block (bounded) until ``predicate(results)``; for tests and the CLI."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.results), timeout_s)

    def _state_bytes(self) -> bytes:
        return self.updater.state().model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")

    def _publish(self, result: UpdateResult) -> None:
        self.results = [*self.results[-31:], result]
        self._changed.notify_all()
        transport = self._transport
        if result.status is UpdateStatus.IGNORED:
            return
        if result.status is UpdateStatus.REFUSED:
            payload = self.updater.error(result).model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")
            if transport is not None:
                transport.set_retained(self.topics.plan_error, payload)
            return
        if transport is not None:
            transport.set_retained(self.topics.plan_state, self._state_bytes())
            if result.status is UpdateStatus.APPLIED:
                transport.set_retained(self.topics.plan_error, None)
        if result.status is UpdateStatus.APPLIED and self._on_applied is not None:
            try:
                self._on_applied(self.updater.plan, self.updater.version)
            except Exception:
                log.exception("plan update: on_applied callback failed")


def build_plan_service(
    *,
    device_id: str,
    device_max_n: float,
    state_dir: Path,
    local_plan: TherapyPlan,
    topics: Topics,
    key_file: Path | None = DEFAULT_DEVICE_KEY_FILE,
    on_applied: Callable[[TherapyPlan, int], None] | None = None,
) -> PlanUpdateService:
    """The device's plan service; without a readable key every remote plan is refused (``no_key``).

    A missing key is logged once (path only, never contents) rather than
    stopping the device: it still runs its local or stored plan.
    """
    key: DeviceKey | None = None
    if key_file is not None:
        try:
            key = load_key(key_file)
        except KeyFileError as exc:
            log.warning("remote plans disabled: %s", exc)
    updater = PlanUpdater(
        device_id=device_id, device_max_n=device_max_n, key=key, state_dir=state_dir, local_plan=local_plan
    )
    return PlanUpdateService(updater, topics, on_applied=on_applied)
