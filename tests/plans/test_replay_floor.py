"""Replay protection that floods of refusals cannot wash away, aggregated refusals, and deep JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.plan import TherapyPlan
from config.units import kgf
from firmware.plans.updater import PlanUpdater, UpdateStatus
from firmware.protocol.plan_envelope import DeviceKey, sign_plan
from firmware.protocol.plan_messages import RefusalCode

DEVICE = "dev1"
KEY = DeviceKey(bytes(range(32)))
LOCAL = TherapyPlan()
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")
FIRM = TherapyPlan(target="3.5 kgf", tolerance="4.4 kgf", therapist_max="5 kgf")


class FakeWallClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # a minute boundary

    def __call__(self) -> float:
        return self.now


def updater(state_dir: Path, clock: FakeWallClock | None = None) -> PlanUpdater:
    return PlanUpdater(device_id=DEVICE, device_max_n=kgf(9.0), key=KEY, state_dir=state_dir, local_plan=LOCAL,
                       wall_clock=clock or FakeWallClock())


def signed(plan: TherapyPlan, version: int) -> bytes:
    return sign_plan(plan, device_id=DEVICE, version=version, key=KEY).to_json()


def forgeries(count: int) -> list[bytes]:
    """Distinct envelopes that look signed but are not (no key needed to make them)."""
    template: dict[str, Any] = json.loads(signed(FIRM, 1))
    return [json.dumps({**template, "version": 1000 + i, "request_id": f"forged-{i}"}).encode() for i in range(count)]


def test_a_flood_of_forgeries_cannot_reopen_an_old_version(tmp_path: Path) -> None:
    u = updater(tmp_path)
    old = signed(GENTLE, 1)
    assert u.handle(old, session_running=False).status is UpdateStatus.APPLIED
    assert u.handle(signed(FIRM, 202), session_running=False).status is UpdateStatus.APPLIED
    for payload in forgeries(7000):
        assert u.handle(payload, session_running=False).code is RefusalCode.BAD_SIGNATURE
    u.close()
    # The applied history is whole, and the refusals are a few lines, not 7,000.
    assert [(e["action"], e["version"]) for e in u.audit.records()] == [("applied", 1), ("applied", 202)]
    lines = u.audit.refusals.records()
    assert len(lines) <= 4
    assert sum(e.get("count", 1) for e in lines) == 7000
    # The stored plan no longer loads (a rule changed, a bad sector): the floor still holds.
    u.current_path.write_text("{ no longer a plan")
    again = updater(tmp_path)
    assert again.version == 0 and again.plan == LOCAL
    replay = again.handle(old, session_running=False)
    assert replay.code is RefusalCode.OLD_VERSION and "push version 203 or higher" in replay.reason
    assert again.plan == LOCAL


def test_the_floor_alone_keeps_replays_refused(tmp_path: Path) -> None:
    u = updater(tmp_path)
    old = signed(GENTLE, 1)
    u.handle(old, session_running=False)
    u.handle(signed(FIRM, 7), session_running=False)
    assert json.loads(u.floor.path.read_text())["version"] == 7
    u.current_path.unlink()
    u.audit.path.unlink()
    assert updater(tmp_path).handle(old, session_running=False).code is RefusalCode.OLD_VERSION


def test_a_queued_version_raises_the_floor(tmp_path: Path) -> None:
    u = updater(tmp_path)
    assert u.handle(signed(GENTLE, 4), session_running=True).status is UpdateStatus.QUEUED
    assert u.floor.version == 4


def test_an_unreadable_floor_falls_back_to_the_history_and_is_repaired(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    u = updater(tmp_path)
    old = signed(GENTLE, 1)
    u.handle(old, session_running=False)
    u.handle(signed(FIRM, 3), session_running=False)
    u.floor.path.write_text("[]")
    u.current_path.unlink()
    again = updater(tmp_path)
    assert "not a presspoint.plan-floor/1 record" in caplog.text
    assert again.floor.version == 3  # rewritten from the applied history
    assert again.handle(old, session_running=False).code is RefusalCode.OLD_VERSION


def test_refusals_are_counted_per_code_and_minute(tmp_path: Path) -> None:
    clock = FakeWallClock()
    u = updater(tmp_path, clock)
    for payload in forgeries(10):
        u.handle(payload, session_running=False)
    for i in range(5):
        u.handle(b"not json %d" % i, session_running=False)
    assert [e["code"] for e in u.audit.refusals.records()] == ["bad_signature"] * 3 + ["not_json"] * 3
    clock.now += 61
    u.handle(b"not json, a minute later", session_running=False)
    records = u.audit.refusals.records()
    aggregates = {e["code"]: e for e in records if e.get("aggregate")}
    assert aggregates["bad_signature"]["count"] == 7 and aggregates["not_json"]["count"] == 2
    assert aggregates["not_json"]["from"].endswith(":00Z") and records[-1]["reason"].startswith("message is not")
    u.close()  # nothing counted in the new minute: nothing more written
    assert len(u.audit.refusals.records()) == len(records)


def test_json_nested_deeply_is_refused_before_parsing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    u = updater(tmp_path)
    deep = b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    assert len(deep) < 16 * 1024
    result = u.handle(deep, session_running=False)
    assert result.code is RefusalCode.TOO_LARGE and "more than 16 levels deep" in result.reason
    assert "unexpected error" not in caplog.text and "Traceback" not in caplog.text
    # Brackets inside strings are text, not nesting.
    quoted = json.dumps({**json.loads(signed(GENTLE, 1)), "request_id": "[" * 40}).encode()
    assert u.handle(quoted, session_running=False).code is RefusalCode.BAD_ENVELOPE  # its pattern, not depth
    escaped = b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}'
    assert u.handle(escaped, session_running=False).code is RefusalCode.UNSIGNED
