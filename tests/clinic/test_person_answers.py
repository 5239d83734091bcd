"""Ratings and follow-ups sent from a person's page: therapists only, checked field by field (a bad value is
shown next to its field and nothing is sent), signed with the server-held key, retained on a real Mosquitto
per session and kind, accepted by the device's own check, audit-logged."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from firmware.clinic import actions
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.messages import now_iso
from firmware.protocol.person import PersonStatus, check_answer
from firmware.protocol.plan_envelope import DeviceKey
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.person_data import DEVICE, PERSON
from tests.clinic.signing_app import signing_app
from tests.clinic.test_web import login
from tests.mqtt_broker import Mosquitto

pytestmark = [pytest.mark.broker]
BASE = f"presspoint/{DEVICE}/person/answer"


async def _retained(port: int, wait_s: float = 3.0) -> dict[str, bytes]:
    """Every retained answer on the broker (read until ``wait_s`` passes without one more)."""
    found: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", port, identifier="answer-reader") as client:
        await client.subscribe(f"{BASE}/#", qos=1)
        try:
            async with asyncio.timeout(wait_s):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    found[str(message.topic)] = message.payload
        except TimeoutError:
            pass
    return found


def _app(tmp_path: Path, mosquitto: Mosquitto, templates: DatabaseTemplates) -> tuple[Engine, DeviceKey, TestClient]:
    engine, key, app = signing_app(mosquitto, tmp_path, templates)
    return engine, key, TestClient(app, follow_redirects=False)


def test_a_therapist_sends_signed_ratings_and_a_follow_up(
    mosquitto: Mosquitto, tmp_path: Path, db_templates: DatabaseTemplates
) -> None:
    engine, key, client = _app(tmp_path, mosquitto, db_templates)
    csrf = login(client)
    page = client.get(f"/persons/{PERSON}").text
    assert page.count('class="inline answer-form"') == 4 and 'id="answer-s003"' in page

    form = {"csrf": csrf, "session_id": "s003", "pain_before": "4", "pain_after": "2", "follow_up": "not_better"}
    sent = client.post(f"/persons/{PERSON}/answer", data=form)
    assert sent.status_code == 200, sent.text
    shown = re.search(r'id="answered">sent: pain_before 4, pain_after 2, follow_up not_better for session s003 '
                      r"\(signed, version (\d+)\)", sent.text)
    assert shown is not None, sent.text
    retained = asyncio.run(_retained(mosquitto.port))
    assert sorted(retained) == [f"{BASE}/s003/follow_up", f"{BASE}/s003/pain_after", f"{BASE}/s003/pain_before"]
    checked = {t.rsplit("/", 1)[1]: check_answer(p, device_id=DEVICE, key=key) for t, p in retained.items()}
    assert {k: (a.session_id, a.value, a.version) for k, a in checked.items()} == {
        "pain_before": ("s003", 4, int(shown.group(1))),
        "pain_after": ("s003", 2, int(shown.group(1))),
        "follow_up": ("s003", "not_better", int(shown.group(1))),
    }
    assert key.hex() not in sent.text
    # shown at once in the session's row (the device never re-sends the summary), then acknowledged
    assert re.search(r'id="sent-s003-pain_before"[^>]*>4 \(sent\)<', sent.text), sent.text
    assert re.search(r'id="sent-s003-follow_up"[^>]*>not_better \(sent\)<', sent.text)
    status = PersonStatus(device_id=DEVICE, person=PERSON, updated_at=now_iso(), course=None, flags=[])
    ClinicStore(engine).ingest(f"presspoint/{DEVICE}/person/status", status.model_dump_json(by_alias=True).encode())
    page = client.get(f"/persons/{PERSON}").text
    assert re.search(r'id="sent-s003-pain_after"[^>]*>2 \(acknowledged\)<', page), page
    assert re.search(r'id="sent-s003-follow_up"[^>]*>not_better \(sent\)<', page)  # its own answer comes later
    entries = actions.audit_entries(engine)
    assert [e["action"] for e in entries] == ["person_answer"] * 3
    assert {json.loads(e["detail"])["kind"] for e in entries} == {"pain_before", "pain_after", "follow_up"}
    assert all(e["user_name"] == "ann" for e in entries)
    engine.dispose()


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("pain_before", "11", "pain_before must be a whole number 0..10, not 11"),
        ("pain_after", "-1", "pain_after must be a whole number 0..10, not &#39;-1&#39;"),
        ("pain_after", "2.5", "pain_after must be a whole number 0..10, not &#39;2.5&#39;"),
        ("follow_up", "worse", "follow_up must be better or not_better, not &#39;worse&#39;"),
    ],
)
def test_a_bad_value_is_shown_at_its_field_and_nothing_is_sent(
    mosquitto: Mosquitto, tmp_path: Path, db_templates: DatabaseTemplates, field: str, value: str, problem: str
) -> None:
    engine, _key, client = _app(tmp_path, mosquitto, db_templates)
    csrf = login(client)
    form = {"csrf": csrf, "session_id": "s001", "pain_before": "3", field: value}
    answer = client.post(f"/persons/{PERSON}/answer", data=form)
    assert answer.status_code == 400
    error = re.search(rf'id="error-{field}">([^<]*)<', answer.text)
    assert error is not None and error.group(1) == problem, answer.text
    assert 'id="answered"' not in answer.text
    assert asyncio.run(_retained(mosquitto.port, 1.0)) == {}
    assert actions.audit_entries(engine) == []
    engine.dispose()


def test_a_viewer_and_an_unknown_or_empty_session_send_nothing(
    mosquitto: Mosquitto, tmp_path: Path, db_templates: DatabaseTemplates
) -> None:
    engine, _key, client = _app(tmp_path, mosquitto, db_templates)
    csrf = login(client)
    unknown = client.post(f"/persons/{PERSON}/answer", data={"csrf": csrf, "session_id": "zzz", "pain_before": "3"})
    assert unknown.status_code == 404
    empty = client.post(f"/persons/{PERSON}/answer", data={"csrf": csrf, "session_id": "s001"})
    assert empty.status_code == 400 and 'id="error-session"' in empty.text

    viewer = TestClient(client.app, follow_redirects=False)
    viewer_csrf = login(viewer, "vic")
    assert "answer-form" not in viewer.get(f"/persons/{PERSON}").text
    refused = viewer.post(f"/persons/{PERSON}/answer",
                          data={"csrf": viewer_csrf, "session_id": "s001", "pain_before": "3"})
    assert refused.status_code == 403
    assert asyncio.run(_retained(mosquitto.port, 1.0)) == {}
    assert actions.audit_entries(engine) == []
    engine.dispose()
