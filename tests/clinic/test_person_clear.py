"""Clearing the soreness flag from a person's page: signed with the server-held key, retained on a real
Mosquitto, accepted by the device's own check, audit-logged; a second clear has a higher version."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiomqtt
import pytest
from starlette.testclient import TestClient

from firmware.clinic import actions
from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.server import mqtt_settings
from firmware.clinic.settings import ClinicSettings
from firmware.protocol.person import ClearRefused, SignedClear, check_clear
from firmware.protocol.plan_envelope import DeviceKey
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.person_data import DEVICE, PERSON, store_weeks
from tests.clinic.signing_app import signing_app
from tests.clinic.test_web import PASSWORD, login
from tests.mqtt_broker import Mosquitto

pytestmark = [pytest.mark.broker]


async def _retained(url: str, topic: str) -> bytes:
    settings = mqtt_settings(ClinicSettings(db="sqlite:///unused", broker=url))
    assert settings is not None
    async with aiomqtt.Client(settings.host, settings.port, identifier="clear-reader") as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError("no retained clear")


def test_a_therapist_clears_the_soreness_flag_with_a_signed_retained_message(
    mosquitto: Mosquitto, tmp_path: Path, db_templates: DatabaseTemplates
) -> None:
    engine, key, app = signing_app(mosquitto, tmp_path, db_templates)
    client = TestClient(app, follow_redirects=False)
    csrf = login(client)
    assert 'id="clear-soreness"' in client.get(f"/persons/{PERSON}").text

    answer = client.post(f"/persons/{PERSON}/clear", data={"csrf": csrf})
    assert answer.status_code == 200, answer.text
    shown = re.search(r'id="cleared">.*version (\d+)', answer.text)
    assert shown is not None
    topic = f"presspoint/{DEVICE}/person/clear"
    payload = asyncio.run(_retained(mosquitto.url, topic))
    accepted = check_clear(payload, device_id=DEVICE, key=key, floor=0)
    assert accepted.flag == "soreness_not_improving" and accepted.version == int(shown.group(1))
    with pytest.raises(ClearRefused, match="replayed"):
        check_clear(payload, device_id=DEVICE, key=key, floor=accepted.version)
    with pytest.raises(ClearRefused, match="signature"):
        check_clear(payload, device_id=DEVICE, key=DeviceKey.generate(), floor=0)
    assert key.hex() not in answer.text

    client.post(f"/persons/{PERSON}/clear", data={"csrf": csrf})
    second = SignedClear.model_validate(json.loads(asyncio.run(_retained(mosquitto.url, topic))))
    assert second.version > accepted.version
    entries = actions.audit_entries(engine)
    assert [e["action"] for e in entries] == ["person_clear", "person_clear"]
    assert json.loads(entries[-1]["detail"])["person"] == PERSON and entries[-1]["user_name"] == "ann"
    engine.dispose()


def test_without_a_broker_the_clear_says_so_and_sends_nothing(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    add_user(engine, "ann", "therapist", PASSWORD)
    store_weeks(ClinicStore(engine))
    app = create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"), mqtt=None))
    client = TestClient(app, follow_redirects=False)
    csrf = login(client)
    answer = client.post(f"/persons/{PERSON}/clear", data={"csrf": csrf})
    assert answer.status_code == 502 and "no broker configured" in answer.text
    assert actions.audit_entries(engine) == []


def test_a_therapist_resets_the_course_with_a_signed_clear_of_reevaluate_and_a_viewer_cannot(
    mosquitto: Mosquitto, tmp_path: Path, db_templates: DatabaseTemplates
) -> None:
    engine, key, app = signing_app(mosquitto, tmp_path, db_templates)
    viewer = TestClient(app, follow_redirects=False)
    refused = viewer.post(f"/persons/{PERSON}/course-reset", data={"csrf": login(viewer, "vic")})
    assert refused.status_code == 403 and "viewers cannot reset courses" in refused.text
    assert 'id="course-reset"' not in viewer.get(f"/persons/{PERSON}").text
    assert actions.audit_entries(engine) == []

    client = TestClient(app, follow_redirects=False)
    csrf = login(client)
    assert client.post(f"/persons/{PERSON}/course-reset", data={}).status_code == 403  # no CSRF token
    answer = client.post(f"/persons/{PERSON}/course-reset", data={"csrf": csrf})
    assert answer.status_code == 200, answer.text
    shown = re.search(r'id="cleared">course reset sent \(signed, version (\d+)\)', answer.text)
    assert shown is not None
    payload = asyncio.run(_retained(mosquitto.url, f"presspoint/{DEVICE}/person/clear"))
    accepted = check_clear(payload, device_id=DEVICE, key=key, floor=0)
    assert accepted.flag == "reevaluate" and accepted.version == int(shown.group(1))
    with pytest.raises(ClearRefused, match="signature"):
        check_clear(payload, device_id=DEVICE, key=DeviceKey.generate(), floor=0)
    [entry] = actions.audit_entries(engine)
    assert entry["action"] == "course_reset" and entry["user_name"] == "ann" and entry["device_id"] == DEVICE
    assert json.loads(entry["detail"]) == {"person": PERSON, "flag": "reevaluate", "version": accepted.version,
                                           "request_id": accepted.request_id}
    engine.dispose()
