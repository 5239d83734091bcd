"""Signed plan envelopes and key files."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest

from config.plan import TherapyPlan
from firmware.protocol.person import sign_answer, sign_clear
from firmware.protocol.plan_envelope import (
    DOMAIN_TAG,
    DeviceKey,
    KeyFileError,
    SignedPlan,
    canonical_json,
    load_key,
    parse_key_text,
    sign_plan,
    signing_input,
    verify_fields,
    write_key_file,
)

SECRET = bytes(range(32))


def test_sign_and_verify_round_trip() -> None:
    key = DeviceKey(SECRET)
    envelope = sign_plan(TherapyPlan(), device_id="dev1", version=3, key=key)
    fields = json.loads(envelope.to_json())
    assert fields["schema"] == "presspoint.plan-envelope/1" and fields["alg"] == "HMAC-SHA256"
    assert fields["key_id"] == key.key_id and len(fields["signature"]) == 64
    assert verify_fields(fields, key)
    assert SignedPlan.model_validate(fields) == envelope
    # The device verifies what it parsed: key order and whitespace do not matter.
    reordered = json.loads(json.dumps(dict(reversed(list(fields.items()))), indent=3))
    assert verify_fields(reordered, key)


@pytest.mark.parametrize(
    ("field", "value"),
    [("device_id", "dev2"), ("version", 4), ("issued_at", "2020-01-01T00:00:00Z"), ("request_id", "other"),
     ("plan", {**TherapyPlan().model_dump(), "tolerance": 45.0}), ("schema", "x")],
)
def test_any_change_breaks_the_signature(field: str, value: object) -> None:
    key = DeviceKey(SECRET)
    fields = json.loads(sign_plan(TherapyPlan(), device_id="dev1", version=3, key=key).to_json())
    fields[field] = value
    assert not verify_fields(fields, key)


def test_wrong_key_and_missing_signature_fail() -> None:
    fields = json.loads(sign_plan(TherapyPlan(), device_id="dev1", version=1, key=DeviceKey(SECRET)).to_json())
    assert not verify_fields(fields, DeviceKey(bytes(32)))
    del fields["signature"]
    assert not verify_fields(fields, DeviceKey(SECRET))


def test_signing_input_is_canonical() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "ü"]}) == '{"a":[1.5,"ü"],"b":1}'.encode()
    assert signing_input({"a": 1, "signature": "x"}) == DOMAIN_TAG + b'{"a":1}'
    with pytest.raises(ValueError):
        canonical_json({"a": float("nan")})


@pytest.mark.parametrize("signed", ["plan", "clear", "answer"])
def test_every_signed_message_is_verified_in_sorted_key_order(signed: str) -> None:
    """What is signed is the sorted fields, so the order a model declares (or dumps) its fields in is no part of it."""
    key = DeviceKey(SECRET)
    fixed = {"device_id": "dev1", "version": 7, "key": key, "issued_at": "2026-12-01T12:00:00Z"}
    message = {
        "plan": lambda: sign_plan(TherapyPlan(), request_id="r1", **fixed),  # type: ignore[arg-type]
        "clear": lambda: sign_clear("soreness_not_improving", **fixed),  # type: ignore[arg-type]
        "answer": lambda: sign_answer("s1", "pain_before", 4, **fixed),  # type: ignore[arg-type]
    }[signed]()
    fields = json.loads(message.to_json())
    unsigned = {k: v for k, v in fields.items() if k != "signature"}
    sorted_json = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert signing_input(fields) == DOMAIN_TAG + sorted_json.encode()
    for order in (sorted(fields), sorted(fields, reverse=True), list(fields)[::-1]):
        assert verify_fields({k: fields[k] for k in order}, key)
    assert type(message).model_validate({k: fields[k] for k in sorted(fields, reverse=True)}) == message


def test_envelope_is_strict() -> None:
    fields = json.loads(sign_plan(TherapyPlan(), device_id="dev1", version=1, key=DeviceKey(SECRET)).to_json())
    for bad in ({"version": "1"}, {"version": True}, {"extra": 1}, {"device_id": "a/b"}, {"version": 0}):
        with pytest.raises(ValueError):
            SignedPlan.model_validate({**fields, **bad})


def test_key_never_shows_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    key = DeviceKey(SECRET)
    assert SECRET.hex() not in repr(key) and SECRET.hex() not in str(key)
    assert repr(key) == f"DeviceKey(key_id={key.key_id})"
    caplog.set_level(logging.DEBUG)
    sign_plan(TherapyPlan(), device_id="dev1", version=1, key=key)
    assert SECRET.hex() not in caplog.text


def test_key_text_formats() -> None:
    key = DeviceKey(SECRET)
    assert parse_key_text(SECRET.hex()) == key
    assert parse_key_text(f"# comment\n\n{SECRET.hex().upper()}\n") == key
    assert parse_key_text(base64.b64encode(SECRET).decode()) == key
    assert parse_key_text(base64.urlsafe_b64encode(SECRET).decode().rstrip("=")) == key
    with pytest.raises(KeyFileError, match="at least 32"):
        parse_key_text(bytes(16).hex())
    with pytest.raises(KeyFileError, match="not hex or base64"):
        parse_key_text("not a key!")
    with pytest.raises(KeyFileError, match="no key"):
        parse_key_text("# only a comment\n")


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "dev1.key"
    key = DeviceKey.generate()
    write_key_file(path, key, device_id="dev1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_key(path) == key
    assert key.key_id in path.read_text()
    with pytest.raises(KeyFileError, match="already exists"):
        write_key_file(path, DeviceKey.generate(), device_id="dev1")
    assert load_key(path) == key
    other = DeviceKey.generate()
    write_key_file(path, other, device_id="dev1", force=True)
    assert load_key(path) == other
    with pytest.raises(KeyFileError, match="not found"):
        load_key(tmp_path / "missing.key")


def test_world_readable_key_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "k"
    path.write_text(SECRET.hex())
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="presspoint.plan"):
        load_key(path)
    assert "readable by every user" in caplog.text and SECRET.hex() not in caplog.text
