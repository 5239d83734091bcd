"""The pure plan validator: a verdict from bytes and what the device holds, no files, no clock."""

from __future__ import annotations

from config.plan import TherapyPlan
from config.units import kgf
from firmware.plans.validator import Accepted, DeviceRules, Held, Refusal, Repeat, recheck_queued, validate
from firmware.protocol.plan_envelope import DeviceKey, sign_plan
from firmware.protocol.plan_messages import RefusalCode

KEY = DeviceKey(bytes(range(32)))
RULES = DeviceRules(device_id="dev1", device_max_n=kgf(9.0), key=KEY)
GENTLE = TherapyPlan(target="2 kgf", tolerance="2.8 kgf", therapist_max="3.5 kgf")


def test_a_new_signed_plan_is_accepted_with_its_envelope() -> None:
    envelope = sign_plan(GENTLE, device_id="dev1", version=3, key=KEY)
    verdict = validate(envelope.to_json(), RULES, Held(floor=2))
    assert isinstance(verdict, Accepted)
    assert verdict.plan == GENTLE and verdict.envelope == envelope
    assert verdict.received["signature"] == envelope.signature


def test_the_floor_and_the_queued_version_refuse_replays() -> None:
    payload = sign_plan(GENTLE, device_id="dev1", version=3, key=KEY).to_json()
    applied = validate(payload, RULES, Held(floor=3))
    assert isinstance(applied, Refusal) and applied.code is RefusalCode.OLD_VERSION
    assert "already applied" in applied.reason and (applied.version, applied.request_id) != (None, None)
    queued = validate(payload, RULES, Held(floor=1, pending_version=4))
    assert isinstance(queued, Refusal) and "version 4 already queued" in queued.reason


def test_a_copy_of_a_held_plan_is_a_repeat_not_a_refusal() -> None:
    envelope = sign_plan(GENTLE, device_id="dev1", version=3, key=KEY)
    verdict = validate(envelope.to_json(), RULES, Held(floor=3, signatures={envelope.signature: "in force"}))
    assert isinstance(verdict, Repeat) and verdict.held_as == "in force"


def test_a_queued_plan_is_rechecked_against_a_smaller_device_max() -> None:
    plan = GENTLE.model_dump(mode="json")
    assert recheck_queued(plan, kgf(9.0)) == GENTLE
    shrunk = recheck_queued(plan, kgf(3.0))
    assert isinstance(shrunk, Refusal) and shrunk.code is RefusalCode.INVALID_PLAN
    assert shrunk.reason.startswith("queued plan refused: field")
