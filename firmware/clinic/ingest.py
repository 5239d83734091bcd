"""Storing what the devices publish: every message once, whoever receives it and however often.

MQTT QoS 1 is at-least-once, the device re-sends what was not acknowledged,
retained messages arrive at every subscribe, and several clinic instances
may share one database.  So every message row is written with ``INSERT ...
ON CONFLICT DO NOTHING`` keyed on the message's own id, and the keys the
database returns tell a new message from a repeat - on SQLite and
PostgreSQL alike.  Retained state (availability, status, plan and person
state) is an update that never goes back in time.

A burst is one transaction, written table by table: the device and session
rows it needs, then one multi-row insert per message table (rows in key
order, so two instances writing the same burst never deadlock), then the
state changes in arrival order.  A payload that fails validation, or whose
topic and body disagree, goes to ``rejected``: counted, never data.
``ingest_many`` commits before it returns, so the collector acknowledges
only what is on disk; a database error rolls back the whole burst.
"""

from __future__ import annotations

import collections
import hashlib
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from firmware.clinic import messages
from firmware.clinic import schema as t
from firmware.clinic.bulk_insert import insert_new, unique_keys
from firmware.clinic.messages import Parsed, now_iso, parse_summary, person_of, utc_iso

__all__ = ["ClinicStore", "Ingested", "now_iso", "parse_summary", "person_of", "utc_iso"]

class Ingested(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    IGNORED = "ignored"  # an empty retained payload (a cleared topic) or a topic not stored


class _Burst:
    """The rows of one burst, table by table, with repeats inside the burst already told apart."""

    def __init__(self) -> None:
        self.rows: dict[sa.Table, list[dict[str, Any]]] = collections.defaultdict(list)
        self._seen: set[tuple[str, tuple[str, ...], tuple[Any, ...]]] = set()

    def add(self, table: sa.Table, row: dict[str, Any]) -> bool:
        """``False`` when a row with one of the same keys is already in this burst."""
        keys = [(table.name, key, tuple(row[name] for name in key)) for key in unique_keys(table)]
        if any(key in self._seen for key in keys):
            return False
        self._seen.update(keys)
        self.rows[table].append(row)
        return True


class ClinicStore:
    """Writes bursts of messages, from one caller at a time (the collector; other threads make their own)."""

    def __init__(self, engine: Engine, *, prefix: str = "presspoint") -> None:
        self.engine = engine
        self.prefix = prefix
        # Devices and sessions known to have their row: most bursts then insert none.
        self._known: collections.OrderedDict[str, None] = collections.OrderedDict()

    def ingest(self, topic: str, payload: bytes) -> Ingested:
        """Store one received message (committed on return)."""
        return self.ingest_many([(topic, payload)])[0]

    def ingest_many(self, received: list[tuple[str, bytes]]) -> list[Ingested]:
        """Store messages in one transaction (committed on return); each one's result, in order."""
        parsed = [self._parse(topic, payload) for topic, payload in received]
        with self.engine.begin() as conn:
            ensured = self._ensure(conn, [p for p in parsed if isinstance(p, Parsed)])
            results = self._write(conn, received, parsed)
        known = self._known  # one dict throughout: ``forget`` may swap it from another thread meanwhile
        for key in ensured:
            known[key] = None
        while len(known) > 10_000:
            known.popitem(last=False)
        return results

    def forget(self) -> None:
        """After rows were deleted (a person erased): check every session row again (safe from any thread)."""
        self._known = collections.OrderedDict()

    def _parse(self, topic: str, payload: bytes) -> Parsed | Ingested | str:
        """What the message means, ``IGNORED``, or the reason it is rejected."""
        if not payload or not topic.startswith(self.prefix + "/"):
            return Ingested.IGNORED
        parts = topic[len(self.prefix) + 1 :].split("/")
        is_session = parts[1:2] == ["session"]
        if is_session != (len(parts) == 4):
            return Ingested.IGNORED
        reader = messages.READERS.get(f"session/{parts[3]}" if is_session else "/".join(parts[1:]))
        if reader is None:
            return Ingested.IGNORED
        try:
            return reader(parts[0], parts, payload)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "payload"
            return f"invalid: {where}: {first.get('msg', 'invalid')}"
        except (ValueError, UnicodeDecodeError) as err:
            return f"invalid: {str(err).splitlines()[0] if str(err) else type(err).__name__}"

    def _ensure(self, conn: Connection, parsed: list[Parsed]) -> list[str]:
        """The device and session rows the burst needs and no earlier burst made; the keys made."""
        devices = {p.device_id for p in parsed if f"d/{p.device_id}" not in self._known}
        known = self._known
        sessions = {(p.session_id, p.device_id) for p in parsed if p.session_id and f"s/{p.session_id}" not in known}
        devices |= {device for _, device in sessions}
        now = now_iso()
        if devices:
            insert_new(conn, t.devices, [{"device_id": d, "first_seen": now} for d in devices])
        if sessions:
            rows = [{"session_id": s, "device_id": d, "first_seen": now} for s, d in sessions]
            insert_new(conn, t.sessions, list({row["session_id"]: row for row in rows}.values()))
        return [f"d/{d}" for d in devices] + [f"s/{s}" for s, _ in sessions]

    def _write(self, conn: Connection, received: list[tuple[str, bytes]], parsed: list[Parsed | Ingested | str]
               ) -> list[Ingested]:
        burst = _Burst()
        rejected: list[dict[str, Any]] = []
        repeats: set[int] = set()
        results: list[Ingested | None] = []
        for (topic, payload), item in zip(received, parsed, strict=True):
            if isinstance(item, Ingested):
                results.append(item)
            elif isinstance(item, str):
                rejected.append(_rejected_row(topic, item, payload))
                results.append(Ingested.REJECTED)
            elif item.change is None and item.row is None:
                results.append(Ingested.IGNORED)  # a kind of event not stored
            elif item.table is not None and item.row is not None and not burst.add(item.table, item.row):
                repeats.add(len(results))  # its row is in this burst already; a state change still runs
                results.append(None if item.change is not None else Ingested.DUPLICATE)
            else:
                results.append(None)  # known once the rows are written
        new = {table: insert_new(conn, table, rows) for table, rows in burst.rows.items()}
        if rejected:
            conn.execute(t.rejected.insert(), rejected)
        out: list[Ingested] = []
        for n, (item, result) in enumerate(zip(parsed, results, strict=True)):
            if result is not None:
                out.append(result)
                continue
            assert isinstance(item, Parsed)
            stored = False
            if item.table is not None and item.row is not None and n not in repeats:
                stored = tuple(item.row[name] for name in unique_keys(item.table)[0]) in new[item.table]
            if item.change is not None:
                stored = item.change(conn) or stored
            out.append(Ingested.NEW if stored else Ingested.DUPLICATE)
        return out


def _rejected_row(topic: str, reason: str, payload: bytes) -> dict[str, Any]:
    return {"topic": topic[:1000], "reason": reason[:500], "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "received_at": now_iso()}
