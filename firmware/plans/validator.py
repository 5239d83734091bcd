"""Is this ``plan/set`` payload a plan this device may use?  Pure: bytes in, a verdict out.

Checks in this order, stopping at the first problem with a stable code and a
readable reason: size and nesting depth (before anything is parsed), UTF-8 JSON object
(NaN/Infinity refused), signed at all, the envelope's strict schema, this
device, a key installed, the HMAC (constant time), then - unless it repeats
a plan already held - a version above every version applied or queued, and
the plan's own rules against this device's ``device_max``.  No file, no
clock: what the device already holds comes in as ``Held``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError

from config.loader import describe_validation_error
from config.plan import TherapyPlan, validate_plan
from firmware.protocol.plan_envelope import DeviceKey, SignedPlan, verify_fields
from firmware.protocol.plan_messages import RefusalCode

MAX_PAYLOAD_BYTES: Final = 16 * 1024
#: Deepest nesting of JSON arrays and objects; a plan envelope needs 2.
MAX_NESTING: Final = 16


@dataclass(frozen=True)
class DeviceRules:
    """What a plan is checked against: this device, its key and its safe range."""

    device_id: str
    device_max_n: float
    key: DeviceKey | None
    max_payload_bytes: int = MAX_PAYLOAD_BYTES


@dataclass(frozen=True)
class Held:
    """What the device holds already; a new plan must be newer than all of it."""

    floor: int = 0  # highest version ever applied or queued (stored plans and the audit log)
    pending_version: int | None = None
    signatures: Mapping[str, str] = field(default_factory=dict)  # signature -> "in force" | "queued"


@dataclass(frozen=True)
class Accepted:
    envelope: SignedPlan
    received: dict[str, Any]  # the envelope as parsed: kept as proof of origin
    plan: TherapyPlan


@dataclass(frozen=True)
class Repeat:
    """An identical copy of a plan held (a retained or redelivered message): not an error."""

    envelope: SignedPlan
    held_as: str


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    reason: str
    version: int | None = None  # what the message claimed, if readable
    request_id: str | None = None


Verdict = Accepted | Repeat | Refusal


class _Refused(Exception):
    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def validate(payload: bytes, rules: DeviceRules, held: Held) -> Verdict:
    """The verdict on one non-empty ``plan/set`` payload."""
    claimed: tuple[int | None, str | None] = (None, None)
    try:
        if len(payload) > rules.max_payload_bytes:
            raise _Refused(
                RefusalCode.TOO_LARGE, f"message is {len(payload)} bytes; the limit is {rules.max_payload_bytes}"
            )
        _check_nesting(payload, MAX_NESTING)
        data = _parse(payload)
        claimed = _claims(data)
        envelope = _authenticate(data, rules)
        for signature, held_as in held.signatures.items():
            if signature == envelope.signature:
                return Repeat(envelope, held_as)
        _check_version(envelope, held)
        return Accepted(envelope, data, _check_plan(envelope.plan, rules.device_max_n, what="plan"))
    except _Refused as refused:
        return Refusal(refused.code, refused.reason, *claimed)


def _check_plan(plan: dict[str, Any], device_max_n: float, *, what: str) -> TherapyPlan:
    """The plan's own rules; a refusal names the field, and ``what`` starts its reason."""
    try:
        return validate_plan(plan, device_max_n)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        raise _Refused(RefusalCode.INVALID_PLAN, f"{what} refused: field {where!r}: {problem}") from None


def recheck_queued(plan: dict[str, Any], device_max_n: float) -> TherapyPlan | Refusal:
    """A queued plan against today's ``device_max`` (it may have shrunk since it was queued)."""
    try:
        return _check_plan(plan, device_max_n, what="queued plan")
    except _Refused as refused:
        return Refusal(refused.code, refused.reason)


def _check_nesting(payload: bytes, limit: int) -> None:
    """Refuse JSON nested deeper than ``limit`` without parsing it (the parser would recurse that deep).

    A scan of brackets outside strings: a quote toggles a string, a backslash
    in a string skips the next byte.  Malformed input is left to the parser.
    """
    depth = 0
    in_string = escaped = False
    for byte in payload:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                raise _Refused(RefusalCode.TOO_LARGE, f"message nests arrays or objects more than {limit} levels deep")
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


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


def _claims(data: dict[str, Any]) -> tuple[int | None, str | None]:
    """The version and request id a message claims, if they are readable (for plan/error)."""
    version = data.get("version")
    request = data.get("request_id")
    return (
        version if isinstance(version, int) and not isinstance(version, bool) else None,
        request if isinstance(request, str) and 0 < len(request) <= 64 else None,
    )


def _authenticate(data: dict[str, Any], rules: DeviceRules) -> SignedPlan:
    if not data.get("signature"):
        raise _Refused(RefusalCode.UNSIGNED, "message is not signed; plans must be signed with the device key")
    try:
        envelope = SignedPlan.model_validate(data)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        raise _Refused(RefusalCode.BAD_ENVELOPE, f"not a signed plan envelope: field {where!r}: {problem}") from None
    if envelope.device_id != rules.device_id:
        raise _Refused(
            RefusalCode.WRONG_DEVICE, f"plan is for device {envelope.device_id!r}, this is {rules.device_id!r}"
        )
    key = rules.key
    if key is None:
        raise _Refused(RefusalCode.NO_KEY, "this device has no plan-signing key installed")
    if envelope.key_id is not None and envelope.key_id != key.key_id:
        raise _Refused(
            RefusalCode.BAD_SIGNATURE, f"signed with key {envelope.key_id}, but this device's key is {key.key_id}"
        )
    if not verify_fields(data, key):
        raise _Refused(RefusalCode.BAD_SIGNATURE, "signature does not match (wrong key or altered message)")
    return envelope


def _check_version(envelope: SignedPlan, held: Held) -> None:
    floor = max(held.floor, held.pending_version or 0)
    if envelope.version <= floor:
        raise _Refused(
            RefusalCode.OLD_VERSION,
            f"version {envelope.version} is not newer than version {floor} already "
            f"{'queued' if floor == held.pending_version else 'applied'} (replayed or stale); "
            f"push version {floor + 1} or higher",
        )
