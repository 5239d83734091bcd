"""Durable, ordered, bounded outbox of MQTT messages (SQLite).

Every message the device publishes about a session is first written here, in
the same transaction as the session data it carries, and deleted only after
the broker acknowledged it.  So a dead network, a dead broker or a killed
process loses nothing: what is in the file gets sent, in ``seq`` order, once a
broker is reachable.

Identity: each message gets a UUID (``msg_id``) and a per-device ``seq`` that
only increases, also across restarts (the next value is kept in ``meta``).
Payload builders receive both, so the JSON itself carries them and consumers
can drop duplicates.

Bound: at most ``max_messages`` rows.  When full, the oldest *sample batches*
go first, in chunks of a tenth of the bound so that the drop report is not one
message per new batch; events and summaries are never dropped.  Drops are
counted in ``meta`` (persisted) and handed to ``on_drop`` inside the same
transaction so the caller can report them (see ``StoreWriter``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypedDict, Unpack

from firmware.storage.database import LocalDb

log = logging.getLogger("presspoint.outbox")


class Kind(StrEnum):
    """What a message is; decides whether it may be dropped when the outbox is full."""

    STATUS = "status"
    EVENT = "event"
    SAMPLES = "samples"
    SUMMARY = "summary"
    DISCOVERY = "discovery"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class MessageIdentity:
    """What the outbox assigns to a message before its payload is built."""

    seq: int
    msg_id: str
    created_at: float  # Unix time

    @property
    def created_at_iso(self) -> str:
        stamp = datetime.fromtimestamp(self.created_at, UTC)
        return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One stored message, as the publisher sends it."""

    seq: int
    msg_id: str
    kind: Kind
    topic: str
    payload: bytes
    qos: int
    retain: bool
    session_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class DroppedBatch:
    """A sample batch removed to keep the outbox within its bound."""

    seq: int
    session_id: str | None
    t_from: float | None
    t_to: float | None
    items: int


class Delivery(TypedDict, total=False):
    """How a message is published and what it covers; a missing key takes the default below.

    Defaults: ``qos`` 1, ``retain`` False, ``kind`` OTHER, ``session_id`` None,
    ``t_from``/``t_to`` None (the time span of a sample batch), ``items`` 1.
    """

    qos: int
    retain: bool
    kind: Kind
    session_id: str | None
    t_from: float | None
    t_to: float | None
    items: int


PayloadBuilder = Callable[[MessageIdentity], bytes]
DropHandler = Callable[[Sequence[DroppedBatch]], None]

_COLUMNS = "seq, msg_id, kind, topic, payload, qos, retain, session_id, created_at"


class Outbox:
    """The outbox table.  Not thread-safe: used by the thread that owns the ``LocalDb``."""

    def __init__(
        self,
        db: LocalDb,
        *,
        max_messages: int,
        on_drop: DropHandler | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_messages < 10:
            raise ValueError("outbox max_messages must be at least 10")
        self._db = db
        self.max_messages = max_messages
        self.on_drop = on_drop
        self._clock = clock
        self._over_bound_logged = False
        self.resync()

    def resync(self) -> None:
        """Re-read counters from the file (at open, and after a rolled-back transaction)."""
        conn = self._db.conn
        self._count = int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        max_seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
        self._next_seq = max(int(self._db.get_meta("next_seq", "1") or 1), max_seq + 1)
        self._dropped = int(self._db.get_meta("dropped_batches", "0") or 0)
        self._dropped_samples = int(self._db.get_meta("dropped_samples", "0") or 0)

    # -- writing ---------------------------------------------------------

    def enqueue(self, topic: str, payload: bytes | PayloadBuilder, **delivery: Unpack[Delivery]) -> OutboxMessage:
        """Store one message; ``payload`` may be a builder that gets its identity.

        Runs in the caller's transaction if there is one, else in its own
        (durable) transaction.
        """
        qos = delivery.get("qos", 1)
        if qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, got {qos}")
        retain = delivery.get("retain", False)
        kind = Kind(delivery.get("kind", Kind.OTHER))
        session_id = delivery.get("session_id")
        ident = MessageIdentity(self._next_seq, uuid.uuid4().hex, self._clock())
        body = payload(ident) if callable(payload) else bytes(payload)
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO outbox (seq, msg_id, kind, topic, payload, qos, retain, session_id,"
                " t_from, t_to, items, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ident.seq,
                    ident.msg_id,
                    kind.value,
                    topic,
                    body,
                    qos,
                    int(retain),
                    session_id,
                    delivery.get("t_from"),
                    delivery.get("t_to"),
                    delivery.get("items", 1),
                    ident.created_at,
                ),
            )
            self._next_seq += 1
            self._db.set_meta("next_seq", str(self._next_seq))
            self._count += 1
            if self._count > self.max_messages:
                self._enforce_bound()
        return OutboxMessage(ident.seq, ident.msg_id, kind, topic, body, qos, retain, session_id, ident.created_at)

    def _enforce_bound(self) -> None:
        """Drop the oldest sample batches down to 90 % of the bound (inside a transaction)."""
        target = self.max_messages - max(1, self.max_messages // 10)
        need = self._count - target
        conn = self._db.conn
        rows = conn.execute(
            "SELECT seq, session_id, t_from, t_to, items FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?",
            (Kind.SAMPLES.value, need),
        ).fetchall()
        if not rows:
            if not self._over_bound_logged:
                log.warning(
                    "outbox holds %d messages, over its bound of %d, and none is a sample batch: "
                    "events and summaries are never dropped",
                    self._count,
                    self.max_messages,
                )
                self._over_bound_logged = True
            return
        dropped = [DroppedBatch(int(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows]
        conn.executemany("DELETE FROM outbox WHERE seq = ?", [(d.seq,) for d in dropped])
        self._count -= len(dropped)
        self._dropped += len(dropped)
        self._dropped_samples += sum(d.items for d in dropped)
        self._db.set_meta("dropped_batches", str(self._dropped))
        self._db.set_meta("dropped_samples", str(self._dropped_samples))
        log.warning(
            "outbox full (%d messages): dropped the %d oldest sample batches (%d dropped in total)",
            self.max_messages,
            len(dropped),
            self._dropped,
        )
        if self.on_drop is not None:
            self.on_drop(dropped)

    # -- reading and acknowledging ----------------------------------------

    def peek(self, n: int, after_seq: int = 0) -> list[OutboxMessage]:
        """Up to ``n`` messages with ``seq > after_seq``, oldest first."""
        rows = self._db.conn.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, n),
        ).fetchall()
        return [
            OutboxMessage(
                int(r[0]),
                str(r[1]),
                Kind(r[2]),
                str(r[3]),
                bytes(r[4]),
                int(r[5]),
                bool(r[6]),
                r[7],
                float(r[8]),
            )
            for r in rows
        ]

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete acknowledged messages; returns how many were still there.

        Not durable on purpose: if a power cut undoes an ack, the message is
        sent again and the consumer drops it by ``msg_id``.
        """
        keys = [(int(s),) for s in seqs]
        if not keys:
            return 0
        with self._db.transaction(durable=False) as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM outbox WHERE seq = ?", keys)
            removed = conn.total_changes - before
        self._count -= removed
        return removed

    # -- figures ------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    @property
    def dropped_batches(self) -> int:
        """Sample batches dropped because the outbox was full, since the file was made."""
        return self._dropped

    @property
    def dropped_samples(self) -> int:
        return self._dropped_samples

    @property
    def next_seq(self) -> int:
        return self._next_seq
