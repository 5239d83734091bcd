"""Every payload the outcomes add validates against its committed JSON Schema, and a bad one does not.

The instances are made by the project's own code (the summary by
``simulate``, the status, follow-up, clear and answer by ``firmware.protocol.person``)
and checked with ``jsonschema`` against the files in ``config/schema/`` that a
clinic or a broker bridge would use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from config.profile import load_profile
from firmware.cli.main import main
from firmware.outcomes.actions import FinishedSession, record_session
from firmware.outcomes.follow_up import answer
from firmware.outcomes.records import FollowUpAnswer, PersonRecord
from firmware.protocol.person import follow_up_message, person_status, sign_answer, sign_clear
from firmware.protocol.plan_envelope import DeviceKey
from tests.conftest import DEVICE_MAX_N, ROOT

SCHEMAS = ROOT / "config" / "schema"
PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
QUICK = ROOT / "config" / "examples" / "quick-test.toml"
KEY = DeviceKey.generate()
ENDED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    return loaded


def sore_record() -> PersonRecord:
    finished = FinishedSession("s1", ENDED, had_hold=True, pain_before=6, pain_after=4)
    record, _ = record_session(
        PersonRecord(), finished, person="P-017", plan_version=0, reevaluate_after=3, new_course_id="c1"
    )
    record, _ = answer(record, "s1", FollowUpAnswer.NOT_BETTER, now=ENDED + timedelta(hours=21), by="device")
    return record


def instances() -> dict[str, dict[str, Any]]:
    record = sore_record()
    profile = load_profile(PROFILE, DEVICE_MAX_N)
    status = person_status(record, profile, device_id="d-1", now=ENDED + timedelta(hours=22))
    [session] = record.sessions
    return {
        "mqtt-person-status": json.loads(status.model_dump_json(by_alias=True)),
        "mqtt-follow-up": json.loads(follow_up_message(session, device_id="d-1").model_dump_json(by_alias=True)),
        "mqtt-person-clear": json.loads(
            sign_clear("soreness_not_improving", device_id="d-1", version=2, key=KEY).to_json()
        ),
        "mqtt-person-answer": json.loads(
            sign_answer("s1", "pain_before", 5, device_id="d-1", version=3, key=KEY).to_json()
        ),
    }


@pytest.mark.parametrize("name", ["mqtt-person-status", "mqtt-follow-up", "mqtt-person-clear", "mqtt-person-answer"])
def test_each_person_payload_validates_against_its_committed_schema(name: str) -> None:
    instance = instances()[name]
    jsonschema.validate(instance, schema(name))
    assert instance["schema"] == schema(name)["properties"]["schema"]["const"]


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("mqtt-person-status", {"flags": ["sore"]}),
        ("mqtt-person-status", {"course": {"id": "c1"}}),
        ("mqtt-follow-up", {"answer": "worse"}),
        ("mqtt-person-clear", {"flag": "everything"}),
        ("mqtt-person-answer", {"kind": "pain"}),
        ("mqtt-person-answer", {"extra": 1}),
    ],
)
def test_a_bad_payload_is_refused_by_its_schema(name: str, change: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(instances()[name] | change, schema(name))


def test_the_summary_with_ratings_and_course_validates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'profile_file = "{PROFILE}"\n[storage]\nstate_dir = "{tmp_path}"\n')
    args = ["simulate", "--config", str(config), "--plan", str(QUICK), "--json", "--pain-before", "6"]
    assert main([*args, "--pain-after", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["course"]["baseline_pain"] == 6 and summary["pain_after"] == 3
    jsonschema.validate(summary, schema("summary"))
    for bad in ({"pain_before": 11}, {"course": summary["course"] | {"baseline_pain": -1}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(summary | bad, schema("summary"))
