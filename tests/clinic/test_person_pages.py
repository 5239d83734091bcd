"""The persons pages over the real app and a real database (SQLite and PostgreSQL): course, flags, history per
spot, trends, exports, erasing with a confirm step, the suggestion link, and who may act."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from firmware.clinic import actions, person_queries, queries
from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.settings import ClinicSettings
from firmware.outcomes.records import Flag
from firmware.protocol.person import PendingFollowUp, PersonStatus
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.person_data import DEVICE, PERSON, store_weeks, summary
from tests.clinic.postgres_server import PostgresServer
from tests.clinic.signed_in import sign_in_ahead
from tests.clinic.test_web import PASSWORD, login


def _seed(url: str) -> None:
    engine = open_database(url)
    add_user(engine, "ann", "therapist", PASSWORD)
    add_user(engine, "vic", "viewer", PASSWORD)
    store_weeks(ClinicStore(engine))
    sign_in_ahead(engine, PASSWORD, "ann", "vic")
    engine.dispose()


@pytest.fixture
def db_url(db_server: PostgresServer | None, db_templates: DatabaseTemplates, tmp_path: Path) -> str:
    """On SQLite and on a real PostgreSQL: a copy of one database with two users and a person's weeks."""
    return db_templates.copy("person_pages", _seed, tmp_path, db_server)


@pytest.fixture
def client(engine: Engine) -> TestClient:
    app = create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"), mqtt=None))
    return TestClient(app, follow_redirects=False)


def test_the_persons_page_shows_the_course_and_the_flags(client: TestClient, engine: Engine) -> None:
    flagged = summary(9, pain_before=6, pain_after=6, reevaluate=True, person="max-7",
                      started_at=datetime(2026, 11, 20, tzinfo=UTC))
    ClinicStore(engine).ingest(f"presspoint/{DEVICE}/session/{flagged.session_id}/summary", flagged.to_json().encode())
    login(client)
    page = client.get("/persons").text
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr class="person"><td><a href="/persons/([^"]+)">.*?</tr>',
                                                       page, re.S)}
    assert set(rows) == {PERSON, "max-7"}
    assert re.search(r"<td>4</td>", rows[PERSON]) and "4 / 6 / 4" in rows[PERSON]
    assert "reevaluate" not in rows[PERSON] and "reevaluate" in rows["max-7"]


def test_a_persons_history_lists_each_spot_with_the_ratings_and_the_real_ppt_change(client: TestClient) -> None:
    login(client, "vic")
    page = client.get(f"/persons/{PERSON}")
    assert page.status_code == 200
    assert "<h3>upper trapezius</h3>" in page.text and "<h3>levator scapulae</h3>" in page.text
    assert len(re.findall(r'<tr class="visit">', page.text)) == 8  # four sessions, two spots each
    first = re.search(r'<a href="/sessions/s000">s000</a></td>\s*<td>completed</td><td>6</td><td>5</td>', page.text)
    assert first is not None
    ppt = re.findall(r'<tr class="ppt( real-change)?">.*?</tr>', page.text, re.S)
    assert ppt == [" real-change", ""]  # newest first: 360 kPa, +60, a real change; then the first, 300 kPa
    assert "+60" in page.text and 'id="trends" src="/persons/jo-42/trends.svg"' in page.text
    assert "clear-soreness" not in page.text and "erase-link" not in page.text  # a viewer gets no actions
    svg = client.get(f"/persons/{PERSON}/trends.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.content.lstrip().startswith(b"<?xml")
    assert b"<script" not in svg.content


def test_the_person_csv_and_pdf_export_every_session(client: TestClient) -> None:
    login(client, "vic")
    answer = client.get(f"/persons/{PERSON}/sessions.csv")
    assert 'filename="jo-42-sessions.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 8 and {r["spot"] for r in rows} == {"upper trapezius", "levator scapulae"}
    newest = [r for r in rows if r["session_id"] == "s003"]
    assert {(r["pain_before"], r["pain_after"], r["in_band_fraction"]) for r in newest} == {("4", "3", "0.900")}
    pdf = client.get(f"/persons/{PERSON}/report.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert pdf.content.count(b"/Type /Page\n") + pdf.content.count(b"/Type /Page ") >= 2


def _status(engine: Engine, at: datetime, *, person: str = PERSON, flags: tuple[str, ...] = (),
            pending: str | None = None) -> None:
    due = None if pending is None else PendingFollowUp(session_id=pending, ended_at=at - timedelta(hours=21),
                                                       due_until=at + timedelta(hours=27))
    status = PersonStatus(device_id=DEVICE, person=person, updated_at=at.isoformat().replace("+00:00", "Z"),
                          course=None, flags=[Flag(f) for f in flags], pending_follow_up=due)
    ClinicStore(engine).ingest(f"presspoint/{DEVICE}/person/status", status.model_dump_json(by_alias=True).encode())


def test_the_flags_and_the_follow_up_due_come_from_the_devices_stored_status(
    client: TestClient, engine: Engine
) -> None:
    found = person_queries.overview(engine, PERSON)
    assert found is not None and found.pending_follow_ups == [] and not found.soreness
    _status(engine, datetime(2026, 11, 20, 9, tzinfo=UTC), flags=("soreness_not_improving",), pending="s003")
    found = person_queries.overview(engine, PERSON)
    assert found is not None and found.pending_follow_ups == ["s003"] and found.soreness and not found.reevaluate
    login(client)
    page = client.get(f"/persons/{PERSON}").text
    assert re.search(r'id="pending">s003<', page) and "soreness not improving" in client.get("/persons").text
    _status(engine, datetime(2026, 11, 21, 9, tzinfo=UTC), flags=("reevaluate",))  # newer: answered, cleared
    found = person_queries.overview(engine, PERSON)
    assert found is not None and found.pending_follow_ups == [] and not found.soreness and found.reevaluate
    _status(engine, datetime(2026, 11, 22, 9, tzinfo=UTC), person="someone-else", flags=("reevaluate",))
    found = person_queries.overview(engine, PERSON)  # the device now runs another profile: nothing of theirs
    assert found is not None and not found.reevaluate and not found.soreness


def test_a_viewer_is_refused_the_clear_and_the_erase(client: TestClient, engine: Engine) -> None:
    csrf = login(client, "vic")
    assert client.post(f"/persons/{PERSON}/clear", data={"csrf": csrf}).status_code == 403
    assert client.get(f"/persons/{PERSON}/erase").status_code == 403
    assert client.post(f"/persons/{PERSON}/erase", data={"csrf": csrf, "confirm": "yes"}).status_code == 403
    assert len(queries.sessions(engine, person=PERSON)) == 4 and actions.audit_entries(engine) == []


def test_erasing_asks_first_then_removes_the_person_and_logs_it(client: TestClient, engine: Engine) -> None:
    csrf = login(client)
    confirm = client.get(f"/persons/{PERSON}/erase")
    assert confirm.status_code == 200 and "4 session(s)" in confirm.text and 'id="confirm"' in confirm.text
    assert client.post(f"/persons/{PERSON}/erase", data={"csrf": csrf}).status_code == 400
    assert len(queries.sessions(engine, person=PERSON)) == 4
    done = client.post(f"/persons/{PERSON}/erase", data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/persons"
    assert queries.sessions(engine, person=PERSON) == [] and person_queries.ppt_history(engine, PERSON) == []
    assert [e["action"] for e in actions.audit_entries(engine)] == ["person_erase"]
    assert client.get(f"/persons/{PERSON}").status_code == 404


def test_an_older_thresholds_suggestion_prefills_the_plan_editor(client: TestClient) -> None:
    login(client)
    page = client.get(f"/persons/{PERSON}").text
    links = re.findall(r'class="use-suggestion" href="([^"]+)"', page)
    assert links == ["/devices/dev1/plan?suggestion=m1", "/devices/dev1/plan?suggestion=m0"]
    editor = client.get(links[1]).text  # the older one, 30 N: target 21 N
    assert re.search(r'id="f-target" name="target" value="21"', editor), editor[:3000]


def test_the_command_line_export_is_the_pages_csv(client: TestClient, db_url: str) -> None:
    from tests.clinic.clinic_process import presspoint

    login(client, "vic")
    done = presspoint("clinic", "person", "export", PERSON, "--db", db_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == client.get(f"/persons/{PERSON}/sessions.csv").text


def test_after_an_erase_from_the_page_the_running_collectors_store_makes_the_session_rows_again(
    engine: Engine,
) -> None:
    store = ClinicStore(engine)
    store_weeks(store)  # this store has seen the sessions: it would skip their rows
    app = create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"), mqtt=None,
                                   store=store))
    client = TestClient(app, follow_redirects=False)
    csrf = login(client)
    assert client.post(f"/persons/{PERSON}/erase", data={"csrf": csrf, "confirm": "yes"}).status_code == 303
    again = summary(0, pain_before=6, pain_after=5)  # a late copy of an erased session's summary
    store.ingest(f"presspoint/{DEVICE}/session/{again.session_id}/summary", again.to_json().encode())
    assert [s.session_id for s in queries.sessions(engine)] == ["s000"]
