"""The signed answer from the clinic app: values that fit their kind, one-line refusals, the clear's checks."""

from __future__ import annotations

import json

import pytest

from firmware.protocol.person import AnswerRefused, check_answer, check_clear, sign_answer, sign_clear
from firmware.protocol.plan_envelope import DeviceKey
from firmware.protocol.schemas import json_schema

KEY = DeviceKey.generate()


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("pain_before", 11, "pain_before must be a whole number 0..10, not 11"),
        ("pain_after", -1, "pain_after must be a whole number 0..10, not -1"),
        ("pain_before", True, "pain_before must be a whole number 0..10, not True"),
        ("pain_before", "5", "pain_before must be a whole number 0..10, not '5'"),
        ("follow_up", "worse", "follow_up must be better or not_better, not 'worse'"),
        ("follow_up", 3, "follow_up must be better or not_better, not 3"),
    ],
)
def test_a_value_that_does_not_fit_its_kind_is_refused_in_one_line(kind: str, value: object, problem: str) -> None:
    with pytest.raises(ValueError) as err:
        sign_answer("s1", kind, value, device_id="d-1", version=1, key=KEY)  # type: ignore[arg-type]
    assert str(err.value) == problem


def test_signed_answer_round_trips_and_is_checked_like_the_clear() -> None:
    signed = sign_answer("s1", "pain_after", 0, device_id="d-1", version=5, key=KEY)
    assert check_answer(signed.to_json(), device_id="d-1", key=KEY) == signed
    with pytest.raises(AnswerRefused, match=r"^answer refused \(wrong_device\)"):
        check_answer(signed.to_json(), device_id="d-2", key=KEY)
    with pytest.raises(AnswerRefused, match=r"^answer refused \(bad_signature\)"):
        check_answer(signed.to_json(), device_id="d-1", key=DeviceKey.generate())
    altered = json.loads(signed.to_json()) | {"value": 9}
    with pytest.raises(AnswerRefused, match="bad_signature"):
        check_answer(json.dumps(altered).encode(), device_id="d-1", key=KEY)


def test_a_clear_is_not_an_answer_nor_the_other_way_round() -> None:
    clear = sign_clear("soreness_not_improving", device_id="d-1", version=5, key=KEY).to_json()
    answer = sign_answer("s1", "follow_up", "better", device_id="d-1", version=5, key=KEY).to_json()
    with pytest.raises(AnswerRefused, match="bad_envelope"):
        check_answer(clear, device_id="d-1", key=KEY)
    with pytest.raises(ValueError, match=r"^clear refused \(bad_envelope\)"):
        check_clear(answer, device_id="d-1", key=KEY, floor=0)


def test_the_schema_lists_the_values() -> None:
    schema = json_schema("mqtt-person-answer")
    assert schema["properties"]["kind"]["enum"] == ["pain_before", "pain_after", "follow_up"]
    assert {"enum": ["better", "not_better"]} in schema["properties"]["value"]["anyOf"]
