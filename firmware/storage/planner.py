"""Turns queued requests into writes: session rows, checked events, one-second sample batches.

No I/O but one count per session (where its event numbering resumes), so it
runs on the writer thread before the transaction: a bad event is dropped here
and cannot fail the commit of the rest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from config.errors import one_line
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.topics import check_level
from firmware.storage.messages import checked_event
from firmware.storage.ops import (
    CloseBatches,
    Enqueue,
    FinishSession,
    Flush,
    RecordEvent,
    RecordSample,
    Request,
    StartSession,
    Write,
    WriteBatch,
    WriteEvent,
)
from firmware.storage.session_store import SessionStore

log = logging.getLogger("presspoint.store")

_NOUN = {StartSession: "start", RecordEvent: "event", RecordSample: "sample", FinishSession: "finish"}


@dataclass
class _OpenBatch:
    index: int
    times: list[float] = field(default_factory=list)
    forces: list[float] = field(default_factory=list)
    raws: list[int | None] = field(default_factory=list)


class WritePlanner:
    """Keeps what preparing needs between commits: open batches, event numbers, known sessions."""

    def __init__(self, store: SessionStore, *, device_id: str, batch_s: float) -> None:
        self._store = store
        self._device_id = device_id
        self._batch_s = batch_s
        self._batches: dict[str, _OpenBatch] = {}
        self._event_index: dict[str, int] = {}
        self._known_sessions: set[str] = set()
        self._bad_sessions: set[str] = set()

    def adopt(self, session_id: str) -> None:
        """A session already stored (being recovered): write no new row for it."""
        self._known_sessions.add(session_id)

    def prepare(self, items: Iterable[Request]) -> list[Write]:
        """The writes for ``items``, in order; a bad item is logged and left out."""
        writes: list[Write] = []
        for item in items:
            try:
                self._prepare_one(item, writes)
            except _AlreadyReported:
                pass
            except Exception as exc:  # a bad event from the core must not lose the rest
                noun = _NOUN.get(type(item), "item")
                log.error("store writer: dropped a bad %s (%s)", noun, one_line(exc, with_type=True))
        return writes

    def _prepare_one(self, item: Request, writes: list[Write]) -> None:
        match item:
            case RecordSample(sid, t, force_n, raw):
                self._add_sample(writes, sid, t, force_n, raw)
            case RecordEvent(sid, event):
                self._ensure_session(writes, sid)
                parsed = checked_event(event)
                writes.append(WriteEvent(sid, self.next_event_index(sid), parsed))
            case StartSession(sid, started_at, meta):
                self._known_sessions.add(sid)
                writes.append(StartSession(sid, started_at, {"device_id": self._device_id, **meta}))
            case FinishSession(sid):
                self._ensure_session(writes, sid)
                self._close_batch(writes, sid)
                writes.append(item)
                self._event_index.pop(sid, None)
                self._known_sessions.discard(sid)
            case CloseBatches():
                for sid in list(self._batches):
                    self._close_batch(writes, sid)
            case Enqueue() | Flush():
                writes.append(item)

    def next_event_index(self, session_id: str) -> int:
        """The next event's position in its session (resumes after a restart)."""
        if session_id not in self._event_index:
            self._event_index[session_id] = self._store.event_count(session_id)
        index = self._event_index[session_id]
        self._event_index[session_id] = index + 1
        return index

    def _ensure_session(self, writes: list[Write], sid: str) -> None:
        if sid not in self._known_sessions:
            if sid in self._bad_sessions:
                raise _AlreadyReported
            try:
                check_level(sid, "session id")
            except ValueError:
                self._bad_sessions.add(sid)
                raise
            self._known_sessions.add(sid)
            writes.append(StartSession(sid, utc_now_iso(), {"device_id": self._device_id}))

    def _add_sample(self, writes: list[Write], sid: str, t: float, force_n: float, raw: int | None) -> None:
        index = max(0, math.floor(t / self._batch_s))
        batch = self._batches.get(sid)
        if batch is not None and batch.index != index:
            self._close_batch(writes, sid)
            batch = None
        if batch is None:
            self._ensure_session(writes, sid)
            batch = self._batches[sid] = _OpenBatch(index)
        batch.times.append(float(t))
        batch.forces.append(float(force_n))
        batch.raws.append(None if raw is None else int(raw))

    def _close_batch(self, writes: list[Write], sid: str) -> None:
        batch = self._batches.pop(sid, None)
        if batch is not None and batch.times:
            writes.append(WriteBatch(sid, batch.index, tuple(batch.times), tuple(batch.forces), tuple(batch.raws)))


class _AlreadyReported(Exception):
    """An item for a session id that was already logged as unusable."""
