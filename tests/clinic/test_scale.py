"""Two ``clinic serve`` processes on one real PostgreSQL and one broker: each message once, any serves any page."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from firmware.clinic import queries
from firmware.clinic import schema as t
from firmware.clinic.auth import add_user, create_token
from firmware.clinic.database import open_database
from tests.clinic.clinic_process import ClinicServer
from tests.clinic.postgres_server import PostgresServer
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import publish_session

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def get_json(url: str, token: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def device_event_count(state_dir: Path, session_id: str) -> int:
    """How many events the device stored (and so published) for the session."""
    with contextlib.closing(sqlite3.connect(state_dir / "presspoint.sqlite3")) as db:
        [(count,)] = db.execute("SELECT COUNT(*) FROM session_events WHERE session_id = ?", (session_id,)).fetchall()
    return int(count)


def test_two_instances_on_one_postgresql_store_each_message_once(
    postgres: PostgresServer, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    url = postgres.create_database()
    engine = open_database(url)
    add_user(engine, "ann", "viewer", "a long enough password")
    token = create_token(engine, "ann")
    servers = [ClinicServer(tmp_path / f"i{i}", db=url, broker=mosquitto.url, instance=f"i{i}") for i in range(2)]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_serving()
        # both collectors subscribed: the broker lists two shared-group members in its log
        deadline = time.monotonic() + 20
        while mosquitto.log_text().count("presspoint-clinic-i") < 2:
            assert time.monotonic() < deadline, mosquitto.log_text()[-2000:]
            time.sleep(0.1)
        summary = publish_session(tmp_path / "device", mosquitto.port, scenario="normal")
        published_events = device_event_count(tmp_path / "device", summary.session_id)
        deadline = time.monotonic() + 30
        while True:  # the two instances store in any order: wait for all three kinds
            data = queries.session_data(engine, summary.session_id)
            if (
                data is not None
                and data.summary is not None
                and len(data.times) == summary.samples
                and len(data.events) >= published_events
            ):
                break
            assert time.monotonic() < deadline, queries.counts(engine)
            time.sleep(0.1)
        with engine.connect() as conn:
            numbers = [b for (b,) in conn.execute(sa.select(t.sample_batches.c.batch).order_by("batch"))]
        assert numbers == list(range(len(numbers)))  # every batch, once
        counts = queries.counts(engine)
        assert counts["summaries"] == 1 and counts["rejected"] == 0
        assert counts["events"] == len(data.events) == published_events  # every event, once
        for server in servers:
            listed = get_json(server.url + "/api/v1/sessions", token)
            assert isinstance(listed, list) and [s["session_id"] for s in listed] == [summary.session_id]
    finally:
        for server in servers:
            server.stop()
        engine.dispose()
