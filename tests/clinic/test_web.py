"""The web app in process (Starlette's test client over the real app and a real SQLite file): who may see what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from firmware.clinic import queries, schema
from firmware.clinic.app import create_app
from firmware.clinic.auth import UserError, add_user, authenticate, create_token, remove_user, set_password
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.security import COOKIE, CSP
from firmware.clinic.settings import ClinicSettings
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.signed_in import cookie_for, sign_in_ahead
from tests.clinic.support import SESSION, event_payload, samples_payload, topic

PASSWORD = "a long enough password"


def _seed(url: str) -> None:
    engine = open_database(url)
    add_user(engine, "ann", "therapist", PASSWORD)
    add_user(engine, "vic", "viewer", PASSWORD)
    store = ClinicStore(engine)
    store.ingest(topic("event"), event_payload("m1", 0))
    store.ingest(topic("samples"), samples_payload(0))
    sign_in_ahead(engine, PASSWORD, "ann", "vic")
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, db_templates: DatabaseTemplates) -> Engine:
    """A copy of one SQLite database with two users, an event and a batch of samples."""
    return open_database(db_templates.copy("web", _seed, tmp_path, None))


@pytest.fixture
def client(sqlite_engine: Engine) -> TestClient:
    settings = ClinicSettings(db="sqlite:///unused.sqlite3")
    app = create_app(ClinicContext(engine=sqlite_engine, settings=settings, mqtt=None))
    return TestClient(app, follow_redirects=False)


def login(client: TestClient, name: str = "ann", password: str = PASSWORD) -> str:
    """Sign ``client`` in as ``name`` (with a session made ahead if the database has one: ``signed_in``); its CSRF."""
    ahead = cookie_for(cast(Starlette, client.app).state.clinic.engine, name, password)
    if ahead is not None:
        client.cookies.set(COOKIE, ahead)
    else:
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        response = client.post("/login", data={"name": name, "password": password, "csrf": token.group(1)})
        assert response.status_code == 303, response.text
    devices = client.get("/devices")
    assert devices.status_code == 200, devices.text
    found = re.search(r'name="csrf" value="([^"]+)"', devices.text)
    assert found is not None
    return found.group(1)


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", SESSION if "session" in path else "dev1", path)


def test_every_route_but_login_and_healthz_refuses_anonymous_access(client: TestClient) -> None:
    app = client.app
    checked = 0
    for route in app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            paths, methods = [route.path + "/clinic.css", route.path + "/live.js"], {"GET"}
        else:
            assert isinstance(route, Route)
            paths, methods = [_concrete(route.path)], set(route.methods or ()) - {"HEAD"}
        for path in paths:
            for method in methods:
                response = client.request(method, path, headers={"accept": "text/html"})
                checked += 1
                if route.path in ("/login", "/healthz"):
                    assert response.status_code in (200, 403), (method, path)
                elif path.startswith("/api/") or method != "GET":
                    assert response.status_code == 401, (method, path, response.status_code)
                else:
                    assert response.status_code == 303 and response.headers["location"] == "/login", (method, path)
    assert checked > 20
    assert client.get("/static/clinic.css", headers={"accept": "text/css"}).status_code == 401


def test_a_login_gives_an_http_only_strict_cookie_and_pages_with_a_strict_csp(client: TestClient) -> None:
    assert client.get("/healthz").text == "ok"
    login(client)
    cookie = next(c for c in client.cookies.jar if c.name == "pp_session")
    assert cookie.has_nonstandard_attr("HttpOnly")
    page = client.get("/sessions")
    assert page.status_code == 200 and SESSION in page.text
    assert page.headers["content-security-policy"] == CSP and "unsafe-inline" not in CSP
    assert "<script>" not in page.text
    csv = client.get(f"/api/v1/sessions/{SESSION}/samples.csv")
    assert csv.text.splitlines()[:2] == ["time_s,force_n", "0.000,1.000"]


def test_a_form_without_the_csrf_token_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    csrf = login(client)
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/devices", headers={"accept": "text/html"}).status_code == 303  # logged out: to the login


def test_failed_logins_are_rate_limited(client: TestClient) -> None:
    for _ in range(5):
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        wrong = client.post("/login", data={"name": "ann", "password": "wrong!", "csrf": token.group(1)})
        assert wrong.status_code == 401
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    right = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf": token.group(1)})
    assert right.status_code == 429


def test_a_viewer_sees_but_cannot_push_or_erase(client: TestClient, sqlite_engine: Engine) -> None:
    csrf = login(client, "vic")
    assert client.get("/devices/dev1/plan").status_code == 200
    refused = client.post("/devices/dev1/plan", data={"csrf": csrf, "target": "30", "tolerance": "40",
                                                      "action": "push"})
    assert refused.status_code == 403
    token = create_token(sqlite_engine, "vic")
    api = client.post("/api/v1/devices/dev1/plan", json={"target": 30, "tolerance": 40},
                      headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 403
    assert client.post("/persons/p1/erase", data={"csrf": csrf, "confirm": "yes"}).status_code == 403


def test_the_plan_editor_names_the_bad_field_and_applies_nothing(client: TestClient, sqlite_engine: Engine) -> None:
    csrf = login(client)
    response = client.post("/devices/dev1/plan", data={"csrf": csrf, "target": "3 kgf", "tolerance": "4 kgf",
                                                       "hold_s": "5", "action": "push"})
    assert response.status_code == 400
    assert re.search(r'id="error-hold_s">[^<]*greater than or equal to 30', response.text)
    preview = client.post("/devices/dev1/plan", data={"csrf": csrf, "target": "3 kgf", "tolerance": "4 kgf",
                                                      "action": "preview"})
    assert preview.status_code == 200 and 'id="diff"' in preview.text
    assert queries.devices(sqlite_engine)[0].plan_state is None


def test_a_bearer_token_reads_the_api_and_a_wrong_one_is_refused(client: TestClient, sqlite_engine: Engine) -> None:
    token = create_token(sqlite_engine, "ann")
    ok = client.get("/api/v1/sessions", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.json()[0]["session_id"] == SESSION
    assert set(ok.json()[0]) >= {"session_id", "device_id", "person", "outcome", "started_at"}
    bad = client.get("/api/v1/sessions", headers={"Authorization": "Bearer ppc_wrong"})
    assert bad.status_code == 401
    spec = client.get("/api/v1/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    assert "/api/v1/sessions/{session_id}/report.pdf" in spec["paths"]


def test_the_form_reads_back_the_plan_it_shows_so_the_diff_names_only_real_changes() -> None:
    from config.plan import TherapyPlan
    from firmware.clinic import plan_form

    in_force = TherapyPlan().model_dump()
    values = plan_form.values_of(in_force)
    plan, errors = plan_form.parse({**values, "hold_s": "45"}, 88.26)
    assert errors == {} and plan is not None
    assert plan_form.diff(in_force, plan) == [("hold_s", "60", "45")]


def _attempt(client: TestClient, password: str) -> int:
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return client.post("/login", data={"name": "ann", "password": password, "csrf": token.group(1)}).status_code


def test_the_login_limit_is_shared_by_two_instances_on_one_database(db_url: str) -> None:
    engines = [open_database(db_url) for _ in range(2)]  # two app instances, each with its own engine
    try:
        add_user(engines[0], "ann", "therapist", PASSWORD)
        first, second = (
            TestClient(create_app(ClinicContext(engine=e, settings=ClinicSettings(db=db_url), mqtt=None)),
                       follow_redirects=False)
            for e in engines
        )
        assert [_attempt(first, "wrong!") for _ in range(3)] == [401] * 3
        assert [_attempt(second, "wrong!") for _ in range(2)] == [401] * 2
        assert _attempt(second, PASSWORD) == 429 and _attempt(first, PASSWORD) == 429
        # A new instance (a restart) remembers them too.
        third = TestClient(create_app(ClinicContext(engine=engines[1], settings=ClinicSettings(db=db_url),
                                                    mqtt=None)), follow_redirects=False)
        assert _attempt(third, PASSWORD) == 429
    finally:
        for engine in engines:
            engine.dispose()


def _alerts(client: TestClient) -> list[str]:
    page = client.get("/devices").text
    assert '<meta http-equiv="refresh"' in page  # the page keeps itself current without a script
    return re.findall(r'<span class="alert">([^<]+)</span>', page)


def test_the_devices_page_alerts_on_a_device_gone_mid_session_and_on_aborts_and_timeouts(
    client: TestClient, sqlite_engine: Engine
) -> None:
    from firmware.session.states import Outcome
    from tests.clinic.person_data import summary
    from tests.clinic.support import status_payload

    login(client)
    store = ClinicStore(sqlite_engine)
    store.ingest(topic("status/info"), status_payload("2026-11-30T00:00:01.000Z", phase="hold", session_id=SESSION))
    store.ingest(topic("status"), b"online")
    assert _alerts(client) == []
    store.ingest(topic("status"), b"offline")
    assert _alerts(client) == [f"offline during session {SESSION}"]
    store.ingest(topic("status/info"), status_payload("2026-11-30T00:00:02.000Z", phase="ended", session_id=SESSION))
    assert _alerts(client) == []  # switched off after its session: no alarm
    for index, outcome, said in ((1, Outcome.ABORTED, "aborted"), (2, Outcome.TIMED_OUT, "timed out")):
        s = summary(index, pain_before=None, pain_after=None, outcome=outcome,
                    started_at=datetime.now(UTC) + timedelta(hours=index))
        store.ingest(topic("summary", s.session_id), s.to_json().encode())
        assert _alerts(client) == [f"last session {s.session_id} {said}"]
    api = client.get("/api/v1/devices").json()
    assert api[0]["alerts"] == ["last session s002 timed out"] and api[0]["last_outcome"] == "timed_out"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/v1/sessions/bad%20id", "no such session"),
        ("/api/v1/sessions/bad%20id/samples.csv", "no such session"),
        ("/api/v1/sessions/unknown/samples.csv", "no such session"),
        ("/api/v1/sessions/unknown/report.pdf", "no such session"),
        ("/api/v1/sessions/unknown", "no summary stored for this session"),
        ("/api/v1/devices/bad%20id/live", "no such device"),
        ("/sessions/bad%20id", "no such session"),
        ("/sessions/unknown", "no such session"),
        ("/sessions/unknown/plot.svg", "no such session"),
        ("/devices/bad%20id", "no such device"),
        ("/devices/bad%20id/plan", "no such device"),
    ],
)
def test_a_malformed_id_or_an_unknown_session_in_a_path_is_a_404_that_names_it(
    client: TestClient, path: str, detail: str
) -> None:
    login(client)
    response = client.get(path)
    assert (response.status_code, response.text) == (404, detail)


def test_changing_a_user_who_does_not_exist_is_refused_by_name_and_changes_nothing(sqlite_engine: Engine) -> None:
    changes = [
        lambda: set_password(sqlite_engine, "nobody", PASSWORD),
        lambda: remove_user(sqlite_engine, "nobody"),
        lambda: create_token(sqlite_engine, "nobody"),
    ]
    for change in changes:
        with pytest.raises(UserError, match=r"^no user 'nobody'$"):
            change()
    with sqlite_engine.connect() as conn:
        names = conn.execute(sa.select(schema.users.c.name).order_by(schema.users.c.name)).scalars().all()
        tokens = conn.execute(sa.select(sa.func.count()).select_from(schema.api_tokens)).scalar_one()
    assert (names, tokens) == (["ann", "vic"], 0)
    assert authenticate(sqlite_engine, "ann", PASSWORD) is not None
