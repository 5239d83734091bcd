"""Bursts through the clinic store's own multi-row inserts, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from firmware.clinic import queries
from firmware.clinic import schema as t
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore, Ingested
from tests.clinic.support import SESSION, event_payload, samples_payload, topic


def test_a_burst_larger_than_one_sqlite_statement_is_stored_whole_and_once(tmp_path: Path) -> None:
    """SQLite caps the ``?`` of one statement: a burst over it goes in several statements, one transaction."""
    engine = open_database(f"sqlite:///{tmp_path / 'clinic.sqlite3'}")
    engine.dispose()

    def small_limit(dbapi_connection: Any, _record: Any) -> None:
        assert isinstance(dbapi_connection, sqlite3.Connection)
        dbapi_connection.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 25)  # 2 sample batches per statement

    sa.event.listen(engine, "connect", small_limit)
    store = ClinicStore(engine)
    burst = [(topic("samples"), samples_payload(n, msg_id=f"b{n:02d}")) for n in range(11)]
    assert store.ingest_many(burst) == [Ingested.NEW] * 11
    again = [*burst[3:], (topic("samples"), samples_payload(11))]
    assert store.ingest_many(again) == [Ingested.DUPLICATE] * 8 + [
        Ingested.NEW]
    assert queries.counts(engine)["sample_batches"] == 12
    data = queries.session_data(engine, SESSION)
    assert data is not None and len(data.times) == 12 * 3
    engine.dispose()


def test_one_burst_mixing_new_rows_repeats_and_rows_already_stored(engine: Engine) -> None:
    store = ClinicStore(engine)
    assert store.ingest(topic("event"), event_payload("e0", 0)) is Ingested.NEW
    burst = [
        (topic("event"), event_payload("e0", 0)),  # stored by an earlier burst
        (topic("event"), event_payload("e1", 1)),
        (topic("event"), event_payload("e1", 1)),  # twice in this burst
        (topic("event"), event_payload("e9", 2)),  # another id at a position this burst already has
        (topic("event"), event_payload("e2", 2)),
        (topic("samples"), samples_payload(0, msg_id="s0")),
        (topic("samples"), b"{not json"),
    ]
    assert store.ingest_many(burst) == [Ingested.DUPLICATE, Ingested.NEW, Ingested.DUPLICATE, Ingested.NEW,
                                        Ingested.DUPLICATE, Ingested.NEW, Ingested.REJECTED]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.events.c.msg_id, t.events.c.idx).order_by(t.events.c.idx)).all()
    assert [tuple(r) for r in rows] == [("e0", 0), ("e1", 1), ("e9", 2)]
    assert queries.counts(engine)["rejected"] == 1
