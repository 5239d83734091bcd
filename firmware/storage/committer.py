"""Applies prepared writes in one durable transaction: session tables and outbox together.

A failed commit rolls everything back and fails the futures it would have
resolved; the caller keeps the writes and applies them again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from config.errors import one_line
from firmware.protocol.payloads import SessionEvent, utc_now_iso
from firmware.storage.database import LocalDb
from firmware.storage.messages import Outgoing, SessionMessages
from firmware.storage.ops import Enqueue, FinishSession, Flush, StartSession, Write, WriteBatch, WriteEvent
from firmware.storage.outbox import Outbox, OutboxMessage
from firmware.storage.session_store import SessionStore

log = logging.getLogger("presspoint.store")


class Committer:
    """Writes ``Write`` operations; counts commits and failures; tells listeners of new messages."""

    def __init__(self, db: LocalDb, store: SessionStore, outbox: Outbox, messages: SessionMessages) -> None:
        self._db = db
        self._store = store
        self._outbox = outbox
        self._messages = messages
        self.listeners: list[Callable[[], None]] = []
        self.commits = 0
        self.write_errors = 0
        self._failing: str | None = None  # the last failure, logged once until writing works again

    def apply(self, writes: Sequence[Write]) -> bool:
        """Commit ``writes`` in one durable transaction; resolve futures; notify listeners."""
        if not writes:
            return True
        before = self._outbox.next_seq
        done: list[tuple[Future[Any], Any]] = []
        try:
            with self._db.transaction(durable=True):
                for write in writes:
                    self._apply_one(write, done)
        except Exception as exc:
            self._failed(exc, done)
            return False
        if self._failing is not None:
            log.info("local database %s: writing again", self._db.path)
            self._failing = None
        self.commits += 1
        for fut, value in done:
            if not fut.done():
                fut.set_result(value)
        if self._outbox.next_seq != before:
            self._notify()
        return True

    def write_event(self, session_id: str, index: int, event: SessionEvent) -> None:
        """Store one event and queue its message (inside the caller's transaction)."""
        self._store.add_event(session_id, index, event.t, event.model_dump(mode="json"))
        self._send(self._messages.event(session_id, index, event))

    def _apply_one(self, write: Write, done: list[tuple[Future[Any], Any]]) -> None:
        match write:
            case StartSession(sid, started_at, meta):
                self._store.start(sid, started_at, meta)
            case WriteEvent(sid, index, event):
                self.write_event(sid, index, event)
            case WriteBatch(sid, index, times, forces, raws):
                self._store.add_sample_batch(sid, index, times, forces, raws)
                self._send(self._messages.samples(write))
            case FinishSession(sid, summary, outcome, fut):
                self._store.finish(sid, outcome, summary, utc_now_iso())
                self._send(self._messages.summary(sid, summary))
                if fut is not None:
                    done.append((fut, None))
            case Enqueue(topic, payload, delivery, fut):
                done.append((fut, self._outbox.enqueue(topic, payload, **delivery)))
            case Flush(fut):
                done.append((fut, None))

    def _send(self, message: Outgoing) -> OutboxMessage:
        return self._outbox.enqueue(message.topic, message.payload, **message.delivery)

    def _failed(self, exc: Exception, done: list[tuple[Future[Any], Any]]) -> None:
        self._outbox.resync()
        self.write_errors += 1
        message = f"local database {self._db.path}: write failed ({one_line(exc, with_type=True)}); will retry"
        if message != self._failing:
            log.error("%s", message)
        self._failing = message
        for fut, _ in done:
            if not fut.done():
                fut.set_exception(OSError(message))

    def _notify(self) -> None:
        for callback in self.listeners:
            try:
                callback()
            except Exception as exc:
                log.debug("outbox listener failed: %s", exc)
