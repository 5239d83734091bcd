"""A person's CSV and PDF show the ratings and follow-ups as the person's page does: the value sent from the
clinic with its state, a refused one beside the device's with the reason (SQLite and a real PostgreSQL; the PDF
read back by a real parser)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from firmware.clinic import clinic_answers
from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.settings import ClinicSettings
from firmware.protocol.person import PersonStatus, clear_refused_event, sign_answer
from firmware.protocol.plan_envelope import DeviceKey
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.person_data import DEVICE, PERSON, store_weeks
from tests.clinic.postgres_server import PostgresServer
from tests.clinic.signed_in import sign_in_ahead
from tests.clinic.test_web import PASSWORD, login

SENT_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seed(url: str) -> None:
    """Four sessions (device pain s003 4 > 3, s002 5 > 4, s001 6 > 4), then the clinic's answers and the device's."""
    engine = open_database(url)
    add_user(engine, "vic", "viewer", PASSWORD)
    store = ClinicStore(engine)
    store_weeks(store)
    key = DeviceKey.generate()
    answers = [sign_answer("s003", "pain_before", 2, device_id=DEVICE, version=10, key=key),
               sign_answer("s003", "follow_up", "better", device_id=DEVICE, version=10, key=key),
               sign_answer("s002", "pain_after", 1, device_id=DEVICE, version=11, key=key)]
    clinic_answers.record_sent(engine, answers, person=PERSON, sent_by="ann", sent_at=_iso(SENT_AT))
    status = PersonStatus(device_id=DEVICE, person=PERSON, updated_at=_iso(SENT_AT + timedelta(seconds=3)),
                          course=None, flags=[])
    store.ingest(f"presspoint/{DEVICE}/person/status", status.model_dump_json(by_alias=True).encode())
    refusal = clear_refused_event(answers[2].to_json(), "answer: old_version", device_id=DEVICE,
                                  event_type="person_answer_refused")
    store.ingest(f"presspoint/{DEVICE}/event", refusal)
    sign_in_ahead(engine, PASSWORD, "vic")
    engine.dispose()


@pytest.fixture
def db_url(db_server: PostgresServer | None, db_templates: DatabaseTemplates, tmp_path: Path) -> str:
    """On SQLite and on a real PostgreSQL: a copy of one database seeded as ``_seed`` says."""
    return db_templates.copy("person_exports", _seed, tmp_path, db_server)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"), mqtt=None))
    client = TestClient(app, follow_redirects=False)
    login(client, "vic")
    return client


def test_the_person_csv_has_the_values_sent_from_the_clinic_with_their_state(client: TestClient) -> None:
    page = client.get(f"/persons/{PERSON}").text  # what the page shows, which the CSV follows
    assert re.search(r'id="sent-s003-pain_before"[^>]*>2 \(acknowledged\)<', page), page
    assert re.search(r'id="sent-s003-follow_up"[^>]*>better \(sent\)<', page)
    assert re.search(r'>4 <span class="sent refused" id="sent-s002-pain_after"[^>]*>1 refused: answer: old_version<',
                     page)

    rows = list(csv.DictReader(io.StringIO(client.get(f"/persons/{PERSON}/sessions.csv").text)))
    assert len(rows) == 8
    by_session = {r["session_id"]: r for r in rows}  # both spots of a session carry its ratings
    s003, s002, s001 = by_session["s003"], by_session["s002"], by_session["s001"]
    assert (s003["pain_before"], s003["pain_before_sent"], s003["pain_before_sent_state"]) == ("2", "2", "acknowledged")
    assert (s003["pain_after"], s003["pain_after_sent"], s003["pain_after_sent_state"]) == ("3", "", "")
    assert (s003["follow_up"], s003["follow_up_sent"], s003["follow_up_sent_state"]) == ("better", "better", "sent")
    assert (s002["pain_after"], s002["pain_after_sent"], s002["pain_after_sent_state"],
            s002["pain_after_refused_because"]) == ("4", "1", "refused", "answer: old_version")
    assert (s001["pain_before"], s001["pain_after"], s001["pain_before_sent_state"]) == ("6", "4", "")


def test_the_command_line_export_has_them_too(client: TestClient, db_url: str) -> None:
    from tests.clinic.clinic_process import presspoint

    done = presspoint("clinic", "person", "export", PERSON, "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == client.get(f"/persons/{PERSON}/sessions.csv").text
    assert "acknowledged" in done.stdout


def test_the_person_pdf_has_the_values_sent_from_the_clinic_with_their_state(client: TestClient) -> None:
    from pypdf import PdfReader

    answer = client.get(f"/persons/{PERSON}/report.pdf")
    assert answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages[1:])  # page 1: the trends
    newest = re.search(r"2026-11-11T09:00:00 upper trapezius completed (\S+) 90% 33.0 (\S+)", text)
    assert newest is not None, text
    assert newest.groups() == ("2>3", "better")  # the clinic's pain_before and follow-up in the session's line
    assert "from the clinic: pain_before 2 (acknowledged); follow_up better (sent)" in text
    refused = re.search(r"2026-11-08T09:00:00 upper trapezius completed (\S+) ", text)
    assert refused is not None and refused.group(1) == "5>4"  # a refused answer leaves the device's value
    assert "from the clinic: pain_after 1 refused: answer: old_version" in text
