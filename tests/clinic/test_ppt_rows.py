"""The person page's PPT rows from what the device really sends: ``presspoint simulate --mode ppt --json``
(``presspoint.ppt/2``) stored by the collector's ingest, read back from its kPa / change / real-change columns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import sqlalchemy as sa
from starlette.testclient import TestClient

from config.plan import TherapyPlan
from firmware.clinic import person_queries
from firmware.clinic import schema as t
from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.clinic.settings import ClinicSettings
from firmware.protocol.plan_messages import PlanState, plan_digest
from tests.clinic.clinic_process import presspoint
from tests.clinic.person_data import DEVICE, PERSON, summary
from tests.clinic.test_web import PASSWORD, login


def _measure(config: Path) -> bytes:
    done = presspoint("simulate", "--mode", "ppt", "--json", "--config", str(config), timeout=120)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    return line.encode()


def test_the_devices_ppt_2_is_stored_in_its_columns_and_shown_on_the_persons_page(tmp_path: Path) -> None:
    config = tmp_path / "device.toml"
    config.write_text(f'device_id = "{DEVICE}"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    first, second = _measure(config), _measure(config)
    engine = open_database(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    add_user(engine, "vic", "viewer", PASSWORD)
    store = ClinicStore(engine)
    s = summary(0, pain_before=5, pain_after=3)
    store.ingest(f"presspoint/{DEVICE}/session/{s.session_id}/summary", s.to_json().encode())
    assert [store.ingest(f"presspoint/{DEVICE}/ppt", p) for p in (first, second, second)] == [
        Ingested.NEW, Ingested.NEW, Ingested.DUPLICATE]
    sent = [json.loads(p) for p in (first, second)]
    with engine.connect() as conn:
        stored = conn.execute(sa.select(t.ppt.c.spot, t.ppt.c.mean_kpa, t.ppt.c.change_kpa, t.ppt.c.real_change,
                                        t.ppt.c.threshold_n).order_by(t.ppt.c.measured_at)).all()
    assert [tuple(r) for r in stored] == [
        (m["spot"], m["mean_kpa"], m["change_kpa"], m["real_change"], m["mean_n"]) for m in sent]
    assert stored[0].spot == "plan" and stored[0].mean_kpa is not None and stored[0].mean_kpa > 0
    points = person_queries.ppt_history(engine, PERSON)
    assert [(p.spot, p.mean_kpa, p.change_kpa, p.real_change, p.has_suggestion) for p in points] == [
        (m["spot"], m["mean_kpa"], m["change_kpa"], bool(m["real_change"]), True) for m in sent]
    client = TestClient(create_app(ClinicContext(engine=engine, settings=ClinicSettings(db="sqlite:///unused"),
                                                 mqtt=None)), follow_redirects=False)
    login(client, "vic")
    rows = re.findall(r'<tr class="ppt">(.*?)</tr>', client.get(f"/persons/{PERSON}").text, re.S)
    assert len(rows) == 2 and f"<td>{sent[0]['mean_kpa']:.0f}</td>" in rows[1]
    assert f"<td>{sent[1]['mean_kpa']:.0f}</td>" in rows[0]
    _the_suggestion_prefills_the_editor(client, store, sent)
    engine.dispose()


def _the_suggestion_prefills_the_editor(client: TestClient, store: ClinicStore, sent: list[dict[str, object]]
                                        ) -> None:
    """"use this threshold's suggestion" from a ppt/2: its target, tolerance and therapist max; the other fields
    stay as the plan in force (the clinic's device_max_n checks them when the form is sent, as any value)."""
    in_force = TherapyPlan(hold_s=75.0).model_dump(mode="json")
    state = PlanState(device_id=DEVICE, version=4, source="remote", plan=in_force, plan_sha256=plan_digest(in_force),
                      updated_at="2026-11-30T00:00:00Z")
    assert store.ingest(f"presspoint/{DEVICE}/plan/state", state.model_dump_json(by_alias=True).encode()) \
        is Ingested.NEW
    links = re.findall(r'class="use-suggestion" href="([^"]+)"', client.get(f"/persons/{PERSON}").text)
    assert links == [f"/devices/{DEVICE}/plan?suggestion={m['measurement_id']}" for m in reversed(sent)]
    plain = client.get(f"/devices/{DEVICE}/plan").text
    offered = re.search(r'id="use-suggestion" href="([^"]+)"', plain)
    assert offered is not None and offered.group(1) == links[0]  # the device's latest measurement is offered
    older = sent[0]["suggested"]
    assert isinstance(older, dict)
    editor = client.get(links[1]).text
    for field, key in (("target", "target_n"), ("tolerance", "tolerance_n"), ("therapist_max", "therapist_max_n")):
        shown = re.search(rf'id="f-{field}" name="{field}" value="([^"]*)"', editor)
        assert shown is not None and shown.group(1) == f"{older[key]:.10g}", (field, editor[:3000])
        default = re.search(rf'id="f-{field}" name="{field}" value="([^"]*)"', plain)
        assert default is not None and default.group(1) != shown.group(1)
    kept = [re.search(r'id="f-hold_s" name="hold_s" value="([^"]*)"', page) for page in (plain, editor)]
    assert [m.group(1) if m else None for m in kept] == ["75", "75"]


def test_a_ppt_2_that_breaks_its_model_is_rejected(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    bad = {"schema": "presspoint.ppt/2", "measurement_id": "m1", "device_id": DEVICE,
           "measured_at": "2026-12-01T10:00:00Z", "spot": "neck", "mean_kpa": 300.0, "threshold_kpa": 300.0}
    assert ClinicStore(engine).ingest(f"presspoint/{DEVICE}/ppt", json.dumps(bad).encode()) == Ingested.REJECTED
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.ppt)).scalar() == 0
    engine.dispose()
