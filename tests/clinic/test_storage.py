"""The clinic store on SQLite and on a real PostgreSQL: each message once, bad ones rejected, state never rewound."""

from __future__ import annotations

import json
import threading

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from firmware.clinic import history, queries
from firmware.clinic import schema as t
from firmware.clinic.alerts import device_alerts
from firmware.clinic.database import alembic_config, migrate
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.protocol.payloads import DeviceStatus, dump
from tests.clinic.support import DEVICE, SESSION, event_payload, samples_payload, status_payload, topic


def test_the_migrations_build_exactly_the_schema_the_code_uses(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), t.metadata)
    assert diffs == []
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0003"


def test_each_revision_builds_the_schema_as_it_was_and_steps_back(engine: Engine) -> None:
    """Revisions build from ``schema.py`` (never restate it): down to 0001 and up again, each matches."""
    from alembic import command

    def diffs(target: sa.MetaData) -> list[object]:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), target))

    assert "refusals" in t.metadata.tables and "refusals" not in t.metadata_at("0001").tables
    command.downgrade(alembic_config(engine), "0001")
    assert diffs(t.metadata_at("0001")) == []
    assert diffs(t.metadata) != []  # 0002 is really gone
    migrate(engine)
    assert diffs(t.metadata) == []


def test_an_event_and_a_batch_are_stored_once_however_often_they_arrive(engine: Engine) -> None:
    store = ClinicStore(engine)
    event, batch = event_payload("m1", 0), samples_payload(0, msg_id="b1")
    assert store.ingest(topic("event"), event) is Ingested.NEW
    assert store.ingest(topic("event"), event) is Ingested.DUPLICATE
    assert store.ingest(topic("samples"), batch) is Ingested.NEW
    assert store.ingest(topic("samples"), batch) is Ingested.DUPLICATE
    # the same position under another message id is a re-send of the same thing, not new data
    assert store.ingest(topic("event"), event_payload("m2", 0)) is Ingested.DUPLICATE
    counts = queries.counts(engine)
    assert (counts["events"], counts["sample_batches"], counts["sessions"], counts["devices"]) == (1, 1, 1, 1)
    data = queries.session_data(engine, SESSION)
    assert data is not None and data.forces == [1.0, 2.0, None]


def test_two_writers_racing_on_the_same_messages_store_each_once(engine: Engine) -> None:
    messages = [(topic("event"), event_payload(f"m{i}", i)) for i in range(40)]
    results: list[Ingested] = []
    lock = threading.Lock()

    def writer() -> None:
        store = ClinicStore(engine)
        for topic_name, payload in messages:
            result = store.ingest(topic_name, payload)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results.count(Ingested.NEW) == 40
    assert results.count(Ingested.DUPLICATE) == 80
    assert queries.counts(engine)["events"] == 40


def test_bad_payloads_are_rejected_and_counted_never_stored(engine: Engine) -> None:
    store = ClinicStore(engine)
    assert store.ingest(topic("event"), b"{not json") is Ingested.REJECTED
    assert store.ingest(topic("event"), b'{"msg_id": "x"}') is Ingested.REJECTED
    other = event_payload("m1", 0, session_id="20261130T000000Z-bbbbbbbb")
    assert store.ingest(topic("event"), other) is Ingested.REJECTED  # body names another session
    assert store.ingest(topic("status"), b"sleeping") is Ingested.REJECTED
    assert store.ingest(topic("summary"), b"") is Ingested.IGNORED  # a cleared retained topic
    assert store.ingest("elsewhere/dev1/status", b"online") is Ingested.IGNORED
    assert store.ingest(f"presspoint/{DEVICE}/session/summary", b"{}") is Ingested.IGNORED
    counts = queries.counts(engine)
    assert counts["rejected"] == 4
    assert counts["events"] == counts["sessions"] == 0


def test_retained_state_never_goes_back_in_time(engine: Engine) -> None:
    store = ClinicStore(engine)
    assert store.ingest(topic("status"), b"online") is Ingested.NEW
    assert store.ingest(topic("status"), b"online") is Ingested.DUPLICATE
    newer = status_payload("2026-11-30T10:00:01.000Z", phase="hold", session_id=SESSION)
    assert store.ingest(topic("status/info"), newer) is Ingested.NEW
    assert store.ingest(topic("status/info"), status_payload("2026-11-30T10:00:00.000Z")) is Ingested.DUPLICATE
    assert store.ingest(topic("status"), b"offline") is Ingested.NEW
    (row,) = queries.devices(engine)
    assert row.online is False
    assert row.status is not None and row.status.phase == "hold"
    assert device_alerts(row) == [f"offline during session {SESSION}"]


def test_a_burst_is_one_transaction_where_a_bad_message_is_rejected_and_the_rest_kept(engine: Engine) -> None:
    store = ClinicStore(engine)
    burst = [(topic("event"), event_payload(f"m{i}", i)) for i in range(3)]
    burst.insert(1, (topic("samples"), b'{"broken": true}'))
    burst.append((topic("event"), event_payload("m0", 0)))  # a redelivery inside the same burst
    results = store.ingest_many(burst)
    assert results == [Ingested.NEW, Ingested.REJECTED, Ingested.NEW, Ingested.NEW, Ingested.DUPLICATE]
    counts = queries.counts(engine)
    assert (counts["events"], counts["rejected"], counts["sessions"]) == (3, 1, 1)


def test_ppt_of_either_schema_is_stored_whole_with_its_spot_and_kpa(engine: Engine) -> None:
    store = ClinicStore(engine)
    trial = {"threshold_n": 35.5, "threshold_kpa": 355.0, "rate_kpa_s": 50.0, "off_rate": False}
    second = {"schema": "presspoint.ppt/2", "measurement_id": "m2", "device_id": DEVICE,
              "measured_at": "2026-11-30T10:00:00.000Z", "spot": "upper-trapezius", "trials": [trial],
              "mean_n": 35.5, "mean_kpa": 355.0, "cv": None, "used_trials": [1], "suggested": None,
              "change_kpa": 55.0, "real_change": True}
    payload = json.dumps(second).encode()
    assert store.ingest(topic("ppt"), payload) is Ingested.NEW
    assert store.ingest(topic("ppt"), payload) is Ingested.DUPLICATE  # retained again: keyed on its id
    assert store.ingest(topic("ppt"), json.dumps({**second, "schema": "other/1"}).encode()) is Ingested.REJECTED
    assert store.ingest(topic("ppt"), json.dumps({**second, "device_id": "dev2"}).encode()) is Ingested.REJECTED
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.ppt.c.spot, t.ppt.c.mean_kpa, t.ppt.c.real_change, t.ppt.c.threshold_n,
                                     t.ppt.c.payload)).one()
    assert row == ("upper-trapezius", 355.0, True, 35.5, payload.decode())
    assert queries.ppt_measurements(engine) == []  # the single-trial list keeps to presspoint.ppt/1


def test_a_refusal_seen_only_in_the_status_is_listed_once(engine: Engine) -> None:
    store = ClinicStore(engine)
    refused = dump(DeviceStatus(device_id=DEVICE, firmware_version="0.1.0", calibrated=True,
                                refused="soreness_not_improving", updated_at="2026-11-30T10:00:00.000Z"))
    again = dump(DeviceStatus(device_id=DEVICE, firmware_version="0.1.0", calibrated=True,
                              refused="soreness_not_improving", updated_at="2026-11-30T10:00:09.000Z"))
    assert store.ingest_many([(topic("status/info"), refused), (topic("status/info"), again)]) == [Ingested.NEW] * 2
    (only,) = history.refusals(engine)
    assert (only.reason, only.source) == ("soreness_not_improving", "status")
    event = {"type": "session_refused", "device_id": DEVICE, "reason": "soreness_not_improving",
             "at": "2026-11-30T10:00:00.500Z"}
    assert store.ingest(f"presspoint/{DEVICE}/event", json.dumps(event).encode()) is Ingested.NEW
    assert store.ingest(f"presspoint/{DEVICE}/event", json.dumps(event).encode()) is Ingested.DUPLICATE
    assert store.ingest(f"presspoint/{DEVICE}/event", b'{"type": "something_else"}') is Ingested.IGNORED
    (only,) = history.refusals(engine)  # the event tells the same refusal better
    assert (only.at, only.source) == ("2026-11-30T10:00:00.500Z", "event")
