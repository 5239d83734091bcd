"""Signed plan envelopes: proof that a plan came from the therapist, for this device, and is new.

A plan is a safety setting, so the device must refuse anything it cannot
prove came from the therapist.  Therapist and device share a per-device
secret key; the therapist signs the envelope with HMAC-SHA256, the device
recomputes it and compares in constant time (``hmac.compare_digest``).  The
signature covers the device id (a plan for one device cannot be replayed on
another even if keys were ever shared), the version (which must increase,
so an old signed plan cannot be replayed), and the plan itself.

What is signed: every envelope field except ``signature``, encoded as
*canonical JSON* - keys sorted, no whitespace, UTF-8, no NaN/Infinity,
numbers as Python's ``json`` writes them (shortest round-trip float repr) -
prefixed with the domain tag ``presspoint-plan-v1\\n``.  The device computes
this from the JSON it *parsed*, after strict validation (no type coercion,
no unknown fields), so the bytes it verifies describe exactly the values it
will use.

Key files hold the key as hex (preferred, what ``keygen`` writes) or base64,
at least 32 bytes, with optional ``#`` comment lines.  A key is never
printed or logged; ``key_id`` (a short hash) identifies it instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import stat
import uuid
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from config.errors import PresspointError
from config.plan import TherapyPlan
from firmware.protocol.payloads import utc_now_iso

log = logging.getLogger("presspoint.plan")

ENVELOPE_SCHEMA: Final = "presspoint.plan-envelope/1"
ALGORITHM: Final = "HMAC-SHA256"
DOMAIN_TAG: Final = b"presspoint-plan-v1\n"
MIN_KEY_BYTES: Final = 32
#: Where the device reads its key by default (root-owned, group presspoint, mode 0640).
DEFAULT_DEVICE_KEY_FILE: Final = Path("/etc/presspoint/plan.key")
_ID = r"^[A-Za-z0-9_-]{1,64}$"
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_B64 = re.compile(r"^[A-Za-z0-9+/_-]+={0,2}$")


class KeyFileError(PresspointError):
    """A key file that is missing, unreadable or too short; one line, never the key itself."""


class DeviceKey:
    """A per-device secret.  ``repr``/``str`` never show it; ``key_id`` names it safely."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise KeyFileError(f"a plan key needs at least {MIN_KEY_BYTES} bytes, got {len(secret)}")
        self._secret = bytes(secret)

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 over a tag and the key: safe to print, compare, log."""
        return hashlib.sha256(b"presspoint-key-id\n" + self._secret).hexdigest()[:16]

    def mac(self, message: bytes) -> str:
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def hex(self) -> str:
        """The key as hex, for writing a key file only."""
        return self._secret.hex()

    def __repr__(self) -> str:
        return f"DeviceKey(key_id={self.key_id})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DeviceKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.key_id)

    @classmethod
    def generate(cls) -> DeviceKey:
        return cls(secrets.token_bytes(MIN_KEY_BYTES))


def parse_key_text(text: str, source: str = "key") -> DeviceKey:
    """A key from hex or base64 text (``#`` comment lines and blanks ignored)."""
    body = "".join(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    if not body:
        raise KeyFileError(f"{source}: no key in it (expected hex or base64 of at least {MIN_KEY_BYTES} bytes)")
    secret: bytes | None = None
    if _HEX.match(body) and len(body) % 2 == 0:
        secret = bytes.fromhex(body)
    elif _B64.match(body):
        alphabet_fixed = body.replace("-", "+").replace("_", "/")  # accept URL-safe base64 too
        try:
            secret = base64.b64decode(alphabet_fixed + "=" * (-len(alphabet_fixed) % 4), validate=True)
        except (binascii.Error, ValueError):
            secret = None
    if secret is None:
        raise KeyFileError(f"{source}: not hex or base64")
    if len(secret) < MIN_KEY_BYTES:
        raise KeyFileError(f"{source}: the key is {len(secret)} bytes; at least {MIN_KEY_BYTES} are needed")
    return DeviceKey(secret)


def load_key(path: Path) -> DeviceKey:
    """Read a key file.  Warns (once, in the log) if anyone but owner and group can read it."""
    try:
        info = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: key file not found") from None
    except PermissionError:
        raise KeyFileError(f"{path}: permission denied reading the key file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({type(exc).__name__})") from None
    if info.st_mode & stat.S_IROTH:
        log.warning("key file %s is readable by every user; chmod 600 (or 640 with a service group)", path)
    return parse_key_text(text, str(path))


def write_key_file(path: Path, key: DeviceKey, *, device_id: str, force: bool = False) -> None:
    """Create a key file readable by its owner only.  Never overwrites unless ``force``.

    Overwriting a key by mistake would lock the therapist out of the device
    (or the device out of every plan), hence the refusal by default.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; not overwriting a key (use --force to replace it)") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the key file ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        text = (
            f"# presspoint plan-signing key for device {device_id} (key id {key.key_id})\n"
            "# Secret: keep it on the therapist's computer and on that device only.\n"
            f"{key.hex()}\n"
        )
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- the envelope


#: A signed message's version: it must rise above the one used before, so a replay is refused.
Version = Annotated[StrictInt, Field(ge=1, le=2**53)]
#: Echoed in what the device says about the message.
RequestId = Annotated[StrictStr, Field(pattern=_ID)]


class SignedEnvelope(BaseModel):
    """The fields every signed message carries around its body (plan, clear, answer).

    Strict: no type coercion and no unknown fields, so what is verified is
    exactly what is used.  Subclasses set ``schema`` and describe ``version``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    schema_: str = Field(alias="schema")
    alg: Literal["HMAC-SHA256"] = ALGORITHM
    device_id: StrictStr = Field(pattern=_ID)
    version: Version
    issued_at: StrictStr = Field(max_length=40, description="when the therapist signed it, ISO 8601 UTC")
    request_id: RequestId
    key_id: StrictStr | None = Field(None, pattern=r"^[0-9a-f]{16}$", description="which key signed it")
    signature: StrictStr = Field(pattern=r"^[0-9a-f]{64}$", description="HMAC-SHA256, hex")

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(by_alias=True, exclude_none=True), allow_nan=False).encode("utf-8")


class SignedPlan(SignedEnvelope):
    """``presspoint/<device>/plan/set``: a plan for one device, versioned and signed.

    Strict: no type coercion and no unknown fields, so what is verified is
    exactly what is used.
    """

    schema_: Literal["presspoint.plan-envelope/1"] = Field(ENVELOPE_SCHEMA, alias="schema")
    version: Version = Field(description="must be higher than the version in force")
    request_id: RequestId = Field(description="echoed in plan/state and plan/error")
    plan: dict[str, Any] = Field(description="the therapy plan, forces in newtons")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: the same bytes on both sides."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def signing_input(fields: dict[str, Any]) -> bytes:
    """What the HMAC covers: the domain tag and every field but ``signature``."""
    return DOMAIN_TAG + canonical_json({k: v for k, v in fields.items() if k != "signature"})


def sign_plan(
    plan: TherapyPlan | dict[str, Any],
    *,
    device_id: str,
    version: int,
    key: DeviceKey,
    issued_at: str | None = None,
    request_id: str | None = None,
) -> SignedPlan:
    """Sign ``plan`` for ``device_id`` as ``version``: a validated plan (forces go out in newtons),
    or a mapping as it is (no validation here: the device validates on receipt)."""
    if isinstance(plan, TherapyPlan):
        plan = plan.model_dump(mode="json")
    fields = signed_fields(
        ENVELOPE_SCHEMA, {"plan": plan}, device_id=device_id, version=version, key=key, issued_at=issued_at,
        request_id=request_id,
    )
    return SignedPlan.model_validate(fields)


def signed_fields(
    schema: str,
    body: dict[str, Any],
    *,
    device_id: str,
    version: int,
    key: DeviceKey,
    issued_at: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The envelope fields every signed message carries (schema, alg, device, version, times, key id), then
    ``body``, then the HMAC ``signature`` over them all: one signing mechanism for plans and clears."""
    fields: dict[str, Any] = {
        "schema": schema,
        "alg": ALGORITHM,
        "device_id": device_id,
        "version": version,
        "issued_at": issued_at or utc_now_iso("seconds"),
        "request_id": request_id or uuid.uuid4().hex,
        "key_id": key.key_id,
        # Round-trip through JSON so the signed values are exactly what the device will parse.
        **json.loads(json.dumps(body, allow_nan=False)),
    }
    fields["signature"] = key.mac(signing_input(fields))
    return fields


def verify_fields(fields: dict[str, Any], key: DeviceKey) -> bool:
    """True when ``fields['signature']`` is the HMAC of the other fields under ``key`` (constant time)."""
    claimed = fields.get("signature")
    if not isinstance(claimed, str):
        return False
    expected = key.mac(signing_input(fields))
    return hmac.compare_digest(expected.encode("ascii"), claimed.encode("utf-8", "replace"))
