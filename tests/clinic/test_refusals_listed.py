"""Refused starts on the sessions page, the device page and ``GET /api/v1/refusals``: time, device, reason."""

from __future__ import annotations

import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.settings import ClinicSettings
from tests.clinic.test_web import PASSWORD, login


def _refused(device_id: str, at: str, reason: str) -> bytes:
    """The event the service publishes on ``<p>/<device>/event`` when it refuses a start."""
    return json.dumps({"type": "session_refused", "device_id": device_id, "reason": reason, "at": at}).encode()


def test_refused_starts_are_listed_newest_first_with_time_device_and_reason(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    add_user(engine, "vic", "viewer", PASSWORD)
    store = ClinicStore(engine)
    store.ingest("presspoint/dev1/event", _refused("dev1", "2026-12-01T09:00:00.000Z", "soreness_not_improving"))
    store.ingest("presspoint/dev2/event", _refused("dev2", "2026-12-01T10:00:00.000Z", "not calibrated"))
    client = TestClient(create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"),
                                                 mqtt=None)), follow_redirects=False)
    login(client, "vic")
    rows = re.findall(r'<tr class="refusal"><td>([^<]+)</td><td><a href="/devices/(\w+)">\w+</a></td><td>([^<]+)</td>',
                      client.get("/sessions").text)
    assert rows == [("2026-12-01T10:00:00.000Z", "dev2", "not calibrated"),
                    ("2026-12-01T09:00:00.000Z", "dev1", "soreness_not_improving")]
    assert re.findall(r'<tr class="refusal">', client.get("/sessions?device=dev1").text) == ['<tr class="refusal">']
    device = client.get("/devices/dev1").text
    assert "soreness_not_improving" in device and "not calibrated" not in device
    assert client.get("/api/v1/refusals?device=dev2").json() == [
        {"at": "2026-12-01T10:00:00.000Z", "device_id": "dev2", "reason": "not calibrated"}]
    assert len(client.get("/api/v1/refusals").json()) == 2
    engine.dispose()
