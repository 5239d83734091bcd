"""The device's plan updater without a broker: every refusal, queueing, storage, audit, restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.plan import TherapyPlan
from config.units import kgf
from firmware.plans.service import PlanUpdateService
from firmware.plans.updater import PlanUpdater, UpdateStatus
from firmware.plans.validator import MAX_PAYLOAD_BYTES
from firmware.protocol.plan_envelope import DeviceKey, sign_plan
from firmware.protocol.plan_messages import PlanState, RefusalCode
from firmware.protocol.topics import Topics

DEVICE = "dev1"
KEY = DeviceKey(bytes(range(32)))
LOCAL = TherapyPlan()
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")
FIRM = TherapyPlan(target="3.5 kgf", tolerance="4.4 kgf", therapist_max="5 kgf")


def updater(state_dir: Path, *, key: DeviceKey | None = KEY, device_max_n: float = kgf(9.0)) -> PlanUpdater:
    return PlanUpdater(device_id=DEVICE, device_max_n=device_max_n, key=key, state_dir=state_dir, local_plan=LOCAL)


def signed(plan: TherapyPlan, version: int, **kw: Any) -> bytes:
    return sign_plan(plan, device_id=kw.pop("device_id", DEVICE), version=version, key=kw.pop("key", KEY)).to_json()


def audit(u: PlanUpdater) -> list[dict[str, Any]]:
    """The applied history and the refusals, one list (the order within each file is kept)."""
    return [*u.audit.records(), *u.audit.refusals.records()]


def history(u: PlanUpdater) -> list[tuple[str, int | None]]:
    return [(e["action"], e.get("version")) for e in u.audit.records()]


def refusals(u: PlanUpdater) -> list[str]:
    return [e["code"] for e in u.audit.refusals.records()]


def test_a_valid_plan_applies_and_is_stored(tmp_path: Path) -> None:
    u = updater(tmp_path)
    assert (u.version, u.plan, u.state().source) == (0, LOCAL, "local")
    result = u.handle(signed(GENTLE, 1), session_running=False)
    assert result.status is UpdateStatus.APPLIED and result.version == 1
    assert u.version == 1 and u.plan == GENTLE
    state = u.state()
    assert state.source == "remote" and state.request_id == result.request_id
    assert TherapyPlan.model_validate(state.plan) == GENTLE
    stored = json.loads(u.current_path.read_text())
    assert stored["version"] == 1 and stored["envelope"]["signature"] == stored["signature"]
    assert sorted(p.name for p in u.folder.iterdir()) == ["audit.jsonl", "current.json", "floor.json"]  # no temp files
    (entry,) = audit(u)
    assert entry["action"] == "applied" and entry["version"] == 1 and entry["previous_version"] == 0
    assert TherapyPlan.model_validate(entry["plan"]) == GENTLE


def _refusal_cases() -> dict[str, tuple[bytes, RefusalCode, str]]:
    good = json.loads(signed(FIRM, 5))
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    tampered = {**good, "plan": {**good["plan"], "tolerance": kgf(4.9)}}
    out_of_bounds = sign_plan({**FIRM.model_dump(), "tolerance": kgf(5.5)}, device_id=DEVICE, version=6,
                                   key=KEY).to_json()
    return {
        "malformed": (b'{"schema": "presspoint.plan-envelope/1", ', RefusalCode.NOT_JSON, "not valid JSON"),
        "binary": (b"\xff\xfe\x00", RefusalCode.NOT_JSON, "not UTF-8"),
        "nan": (b'{"version": NaN}', RefusalCode.NOT_JSON, "NaN is not allowed"),
        "array": (b"[1, 2]", RefusalCode.BAD_ENVELOPE, "not a JSON object"),
        "oversized": (b" " * (MAX_PAYLOAD_BYTES + 1) + b"{}", RefusalCode.TOO_LARGE, "the limit is 16384"),
        "unsigned": (json.dumps(unsigned).encode(), RefusalCode.UNSIGNED, "not signed"),
        "bad envelope": (json.dumps({**good, "version": "5"}).encode(), RefusalCode.BAD_ENVELOPE, "'version'"),
        "wrong key": (signed(FIRM, 5, key=DeviceKey(bytes(32))), RefusalCode.BAD_SIGNATURE, "signed with key"),
        "tampered": (json.dumps(tampered).encode(), RefusalCode.BAD_SIGNATURE, "signature does not match"),
        "wrong device": (signed(FIRM, 5, device_id="dev2"), RefusalCode.WRONG_DEVICE, "for device 'dev2'"),
        "out of bounds": (out_of_bounds, RefusalCode.INVALID_PLAN, "field 'tolerance': must be <= therapist_max"),
    }


@pytest.mark.parametrize("case", list(_refusal_cases()))
def test_every_bad_message_is_refused_and_the_plan_kept(tmp_path: Path, case: str) -> None:
    payload, code, reason = _refusal_cases()[case]
    u = updater(tmp_path)
    u.handle(signed(GENTLE, 1), session_running=False)
    result = u.handle(payload, session_running=False)
    assert result.status is UpdateStatus.REFUSED and result.code is code
    assert reason in result.reason
    assert u.version == 1 and u.plan == GENTLE
    error = u.error(result)
    assert error.code is code and error.version_in_force == 1
    if case in ("wrong key", "wrong device", "out of bounds", "unsigned", "tampered"):
        assert error.version in (5, 6) and error.request_id is not None  # readable claims are echoed
    entries = audit(u)
    assert entries[-1]["action"] == "refused" and entries[-1]["code"] == code.value
    # Nothing stored changed.
    assert updater(tmp_path).plan == GENTLE


def test_old_and_replayed_versions_are_refused_and_repeats_are_unchanged(tmp_path: Path) -> None:
    u = updater(tmp_path)
    first = signed(GENTLE, 1)
    assert u.handle(first, session_running=False).status is UpdateStatus.APPLIED
    assert u.handle(first, session_running=False).status is UpdateStatus.UNCHANGED  # a retained/redelivered copy
    assert u.handle(signed(FIRM, 3), session_running=False).status is UpdateStatus.APPLIED
    replay = u.handle(first, session_running=False)
    assert replay.code is RefusalCode.OLD_VERSION and "push version 4 or higher" in replay.reason
    same_version = u.handle(signed(GENTLE, 3), session_running=False)
    assert same_version.code is RefusalCode.OLD_VERSION
    assert u.version == 3 and u.plan == FIRM
    assert history(u) == [("applied", 1), ("applied", 3)]
    assert refusals(u) == ["old_version", "old_version"]


def test_a_repeated_bad_message_is_audited_once(tmp_path: Path) -> None:
    u = updater(tmp_path)
    for _ in range(3):
        assert u.handle(b"garbage", session_running=False).refused
    assert len(audit(u)) == 1


def test_empty_payload_clears_nothing(tmp_path: Path) -> None:
    u = updater(tmp_path)
    assert u.handle(b"", session_running=False).status is UpdateStatus.IGNORED
    assert not u.audit.path.exists() and not u.audit.refusals.path.exists()


def test_no_key_installed(tmp_path: Path) -> None:
    result = updater(tmp_path, key=None).handle(signed(GENTLE, 1), session_running=False)
    assert result.code is RefusalCode.NO_KEY


def test_device_max_of_this_device_is_the_limit(tmp_path: Path) -> None:
    u = updater(tmp_path, device_max_n=kgf(4.5))
    result = u.handle(signed(FIRM, 1), session_running=False)
    assert result.code is RefusalCode.INVALID_PLAN and "device_max" in result.reason


def test_during_a_session_a_plan_is_queued_then_applied(tmp_path: Path) -> None:
    u = updater(tmp_path)
    first = signed(GENTLE, 1)
    queued = u.handle(first, session_running=True)
    assert queued.status is UpdateStatus.QUEUED
    assert u.version == 0 and u.plan == LOCAL and u.pending_version == 1
    assert u.state().pending_version == 1 and u.state().pending_request_id == queued.request_id
    assert u.handle(first, session_running=True).status is UpdateStatus.UNCHANGED  # a redelivered copy
    newer = u.handle(signed(FIRM, 2), session_running=True)  # supersedes the queued one
    assert newer.status is UpdateStatus.QUEUED and u.pending_version == 2
    assert u.handle(signed(GENTLE, 2), session_running=True).code is RefusalCode.OLD_VERSION
    # The device restarts mid-session: the queued plan survives.
    u = updater(tmp_path)
    assert u.version == 0 and u.pending_version == 2
    applied = u.apply_pending()
    assert applied is not None and applied.status is UpdateStatus.APPLIED and applied.version == 2
    assert u.plan == FIRM and u.pending_version is None and not u.pending_path.exists()
    assert u.apply_pending() is None
    assert history(u) == [("queued", 1), ("superseded", 1), ("queued", 2), ("applied", 2)]
    assert refusals(u) == ["old_version"]


def test_lost_plan_file_keeps_replays_refused(tmp_path: Path) -> None:
    u = updater(tmp_path)
    old = signed(GENTLE, 1)
    u.handle(old, session_running=False)
    u.handle(signed(FIRM, 2), session_running=False)
    u.current_path.write_text("{ corrupted")
    again = updater(tmp_path)
    assert again.plan == LOCAL and again.version == 0  # falls back to the local plan, says so in the log
    assert again.handle(old, session_running=False).code is RefusalCode.OLD_VERSION  # the audit log's floor


def test_service_queues_during_a_session_and_publishes(tmp_path: Path) -> None:
    published: dict[str, bytes | None] = {}

    class Transport:
        def subscribe(self, topic_filter: str, handler: Any) -> None:
            published["subscribed"] = topic_filter.encode()

        def set_retained(self, topic: str, payload: bytes | None) -> None:
            published[topic] = payload

    topics = Topics(DEVICE)
    applied: list[int] = []
    service = PlanUpdateService(updater(tmp_path), topics, on_applied=lambda plan, version: applied.append(version))
    service.attach(Transport())
    assert published["subscribed"] == topics.plan_set.encode()
    state = published[topics.plan_state]
    assert state is not None and PlanState.model_validate_json(state).version == 0
    assert service.begin_session() == LOCAL
    service.receive(signed(GENTLE, 1))
    state = published[topics.plan_state]
    assert state is not None and PlanState.model_validate_json(state).pending_version == 1
    assert service.begin_session() == LOCAL  # still the old plan while the session runs
    result = service.end_session()
    assert result is not None and result.status is UpdateStatus.APPLIED and applied == [1]
    state = published[topics.plan_state]
    assert state is not None and PlanState.model_validate_json(state).version == 1
    assert published[topics.plan_error] is None  # an applied plan clears the last refusal
    service.receive(b"junk")
    error = published[topics.plan_error]
    assert error is not None and json.loads(error)["code"] == "not_json"
    assert service.wait_for(lambda results: len(results) == 3, 0.1)


def test_session_context_releases_even_when_the_session_never_ran(tmp_path: Path) -> None:
    service = PlanUpdateService(updater(tmp_path), Topics(DEVICE))
    with pytest.raises(RuntimeError), service.session() as plan:  # e.g. refused by the profile, failed tare
        assert plan == LOCAL and service.session_running
        assert service.receive(signed(GENTLE, 1)).status is UpdateStatus.QUEUED
        raise RuntimeError("session refused")
    assert not service.session_running and service.updater.plan == GENTLE


def test_build_plan_service_without_a_key_refuses_remote_plans(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    from firmware.plans.service import build_plan_service

    service = build_plan_service(device_id=DEVICE, device_max_n=kgf(9), state_dir=tmp_path, local_plan=LOCAL,
                                 topics=Topics(DEVICE), key_file=tmp_path / "missing.key")
    assert "remote plans disabled" in caplog.text
    assert service.receive(signed(GENTLE, 1)).code is RefusalCode.NO_KEY
    key_file = tmp_path / "plan.key"
    key_file.write_text(KEY.hex())
    keyed = build_plan_service(device_id=DEVICE, device_max_n=kgf(9), state_dir=tmp_path / "b", local_plan=LOCAL,
                               topics=Topics(DEVICE), key_file=key_file)
    assert keyed.receive(signed(GENTLE, 1)).status is UpdateStatus.APPLIED


def test_a_plan_queued_before_a_crash_applies_at_start(tmp_path: Path) -> None:
    first = PlanUpdateService(updater(tmp_path), Topics(DEVICE))
    first.begin_session()
    assert first.receive(signed(GENTLE, 1)).status is UpdateStatus.QUEUED
    # power cut: end_session never runs
    restarted = PlanUpdateService(updater(tmp_path), Topics(DEVICE))
    assert restarted.updater.plan == GENTLE and restarted.updater.pending_version is None
    assert restarted.results[0].status is UpdateStatus.APPLIED
