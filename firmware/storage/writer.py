"""The one thread that writes the local database, so the session loop never waits on a disk.

The session controller calls ``session_started``, ``event``, ``sample`` and
``session_finished`` from its loop; each call only puts a tuple on a queue
(well under a microsecond) and never blocks, whatever the disk, the network or
the broker are doing.  If the writer falls hopelessly behind (a stuck SD card),
new *samples* are counted and dropped at the queue instead of growing memory;
events and summaries are always queued.

The writer thread turns the calls into session rows, one-second sample
batches and outbox messages, and commits them together (``synchronous=FULL``)
about once a second, at once for events and session ends.  The publisher
reads the outbox through ``peek``/``ack``, which run on the same thread and so
only ever see committed messages.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from config.errors import one_line
from firmware.protocol.payloads import EventMessage, SamplesBatch, SessionEvent, dump, utc_now_iso
from firmware.protocol.topics import Topics, check_level
from firmware.storage.database import LocalDb
from firmware.storage.outbox import DroppedBatch, Kind, MessageIdentity, Outbox, OutboxMessage, PayloadBuilder
from firmware.storage.session_store import (
    InterruptedSummaryBuilder,
    SessionStore,
    fallback_interrupted_summary,
)

log = logging.getLogger("presspoint.store")

T = TypeVar("T")

_STOP = ("stop",)


@dataclass
class _OpenBatch:
    index: int
    times: list[float] = field(default_factory=list)
    forces: list[float] = field(default_factory=list)
    raws: list[int | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters for status and benchmarks."""

    outbox_pending: int
    outbox_dropped_batches: int
    samples_dropped_at_queue: int
    commits: int
    write_errors: int


class StoreWriter:
    """Owns the ``LocalDb``; a writer thread applies queued calls in batched transactions.

    Open it, call ``recover_interrupted`` once (before or after ``start``),
    ``start`` it, feed it from the session loop, and ``close`` it at exit.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        topics: Topics,
        outbox_max_messages: int = 200_000,
        sample_period_s: float = 1 / 80,
        batch_s: float = 1.0,
        commit_interval_s: float = 1.0,
        max_queue: int = 100_000,
    ) -> None:
        self.topics = topics
        self.device_id = topics.device_id
        self.db = LocalDb(path)
        self.store = SessionStore(self.db)
        self.outbox = Outbox(self.db, max_messages=outbox_max_messages, on_drop=self._report_drops)
        self._sample_period_s = sample_period_s
        self._batch_s = batch_s
        self._commit_interval_s = commit_interval_s
        self._max_queue = max_queue
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._puts = 0  # written by producers only
        self._taken = 0  # written by the writer thread only
        self._queue_drops = 0
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[], None]] = []
        self._batches: dict[str, _OpenBatch] = {}
        self._event_index: dict[str, int] = {}
        self._known_sessions: set[str] = set()
        self._bad_sessions: set[str] = set()
        self._commits = 0
        self._write_errors = 0
        self._last_error: str | None = None

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="presspoint-store", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, close open sample batches, commit and stop the thread."""
        if self._thread is None:
            self._close_batches_inline()
            self.db.close()
            return
        self._q.put(_STOP)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("store writer did not finish within %.1f s; unwritten data is lost", timeout_s)
            return
        self._thread = None
        self.db.close()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs on the writer thread after each commit that added messages."""
        self._listeners.append(callback)

    # -- producer side: never blocks -------------------------------------------

    def session_started(
        self, session_id: str, started_at: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None:
        check_level(session_id, "session id")
        self._put(("start", session_id, started_at or utc_now_iso(), dict(meta or {})))

    def event(self, session_id: str, event: Mapping[str, Any]) -> None:
        """One event dict of the session core (``type``, ``t`` and any fields)."""
        self._put(("event", session_id, dict(event)))

    def sample(self, session_id: str, t: float, force_n: float, raw: int | None = None) -> None:
        if self._puts - self._taken > self._max_queue:
            self._queue_drops += 1
            return
        self._puts += 1
        self._q.put(("sample", session_id, t, force_n, raw))

    def session_finished(self, session_id: str, summary: bytes, outcome: str) -> Future[None]:
        """Queue the end of a session; the future completes once the summary is on disk."""
        fut: Future[None] = Future()
        self._put(("finish", session_id, bytes(summary), outcome, fut))
        return fut

    def enqueue(
        self,
        topic: str,
        payload: bytes | PayloadBuilder,
        *,
        qos: int = 1,
        retain: bool = False,
        kind: Kind = Kind.OTHER,
        session_id: str | None = None,
    ) -> Future[OutboxMessage]:
        """Queue any other message for the outbox (e.g. an audit record)."""
        fut: Future[OutboxMessage] = Future()
        self._put(("enqueue", topic, payload, qos, retain, Kind(kind), session_id, fut))
        return fut

    def flush(self) -> Future[None]:
        """A future that completes when everything queued before it is committed."""
        fut: Future[None] = Future()
        self._put(("flush", fut))
        return fut

    def _put(self, item: tuple[Any, ...]) -> None:
        self._puts += 1
        self._q.put(item)

    # -- consumer side (publisher) --------------------------------------------

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the writer thread (it owns the connection); thread-safe."""
        fut: Future[T] = Future()
        if self._thread is None:
            try:
                fut.set_result(fn())
            except Exception as exc:
                fut.set_exception(exc)
            return fut
        self._q.put(("call", fn, fut))
        return fut

    async def peek(self, n: int, after_seq: int = 0) -> list[OutboxMessage]:
        """Committed messages after ``after_seq``, oldest first."""
        return await asyncio.wrap_future(self.submit(lambda: self.outbox.peek(n, after_seq)))

    async def ack(self, seqs: Sequence[int]) -> None:
        """Delete messages the broker acknowledged."""
        keys = list(seqs)
        await asyncio.wrap_future(self.submit(lambda: self.outbox.ack(keys)))

    def pending(self) -> int:
        """Messages in the outbox (committed or about to be)."""
        return len(self.outbox)

    def dropped_batches(self) -> int:
        """Sample batches the outbox bound has dropped since the file was made."""
        return self.outbox.dropped_batches

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def stats(self) -> WriterStats:
        return WriterStats(
            outbox_pending=len(self.outbox),
            outbox_dropped_batches=self.outbox.dropped_batches,
            samples_dropped_at_queue=self._queue_drops,
            commits=self._commits,
            write_errors=self._write_errors,
        )

    # -- recovery -----------------------------------------------------------------

    def recover_interrupted(self, build: InterruptedSummaryBuilder | None = None) -> list[str]:
        """Close every session a crash left ``running`` as ``interrupted`` and queue its summary.

        ``build(row, events, samples) -> bytes`` is the session core's summary
        builder; if it is missing or fails, a minimal summary is used so the
        session is still closed and reported.  Returns the session ids.
        Blocking: call it at start-up, before sessions run.
        """
        return self.submit(lambda: self._recover(build)).result()

    def _recover(self, build: InterruptedSummaryBuilder | None) -> list[str]:
        closed = []
        for row in self.store.find_unfinished():
            events = self.store.events(row.session_id)
            samples = self.store.samples(row.session_id)
            summary: bytes | None = None
            if build is not None:
                try:
                    summary = build(row, events, samples)
                except Exception as exc:
                    log.error("session %s: summary builder failed (%s); using a minimal one", row.session_id, exc)
            if summary is None:
                summary = fallback_interrupted_summary(row, events, samples)
            last_t = max([s.t for s in samples] + [float(e["t"]) for e in events if _is_num(e.get("t"))], default=0.0)
            ops: list[tuple[Any, ...]] = [
                (
                    "event",
                    row.session_id,
                    {
                        "type": "interrupted",
                        "t": last_t,
                        "reason": "the device stopped during the session; closed at restart",
                    },
                ),
                ("finish", row.session_id, summary, "interrupted", None),
            ]
            self._known_sessions.add(row.session_id)
            self._apply(self._prepare(ops))
            closed.append(row.session_id)
            log.warning(
                "session %s was left running (crash or power loss): closed as interrupted "
                "with %d events and %d samples",
                row.session_id,
                len(events),
                len(samples),
            )
        return closed

    # -- writer thread --------------------------------------------------------

    def _run(self) -> None:
        pending: list[tuple[Any, ...]] = []
        deadline = math.inf  # commit by then
        not_before = 0.0  # after a failed write: no retry before then
        urgent = False
        stopping = False
        while True:
            wake = max(deadline, not_before) if pending else math.inf
            timeout = None if wake == math.inf else max(0.0, wake - time.monotonic())
            try:
                item: tuple[Any, ...] | None = self._q.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                op = item[0]
                if op == "call":
                    self._call(item[1], item[2])
                elif op == "stop":
                    stopping = True
                else:
                    self._taken += 1
                    if not pending:
                        deadline = time.monotonic() + self._commit_interval_s
                    pending.append(item)
                    urgent = urgent or op != "sample"
                try:
                    item = self._q.get_nowait() if len(pending) < 20_000 else None
                except queue.Empty:
                    item = None
            if stopping:
                pending.append(("close_batches",))
            now = time.monotonic()
            if pending and (urgent or stopping or now >= deadline) and (stopping or now >= not_before):
                if self._write(pending):
                    pending = []
                    deadline = math.inf
                else:
                    not_before = now + max(1.0, self._commit_interval_s)
                urgent = False
            if stopping:
                return

    def _call(self, fn: Callable[[], Any], fut: Future[Any]) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except Exception as exc:
            fut.set_exception(exc)

    def _write(self, items: list[tuple[Any, ...]]) -> bool:
        """Prepare and commit ``items``; on a database error keep them for a retry."""
        ops = self._prepare(items)
        items[:] = ops  # prepared ops are what a retry applies
        return self._apply(ops)

    def _prepare(self, items: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Turn queued calls into store operations (no I/O; may close sample batches)."""
        ops: list[tuple[Any, ...]] = []
        for item in items:
            op = item[0]
            try:
                if op == "sample":
                    self._add_sample(ops, item[1], item[2], item[3], item[4])
                elif op == "event":
                    sid, event = item[1], item[2]
                    self._ensure_session(ops, sid)
                    # Validate and make JSON-clean here, not inside the transaction,
                    # so one odd event cannot fail (and stall) a whole commit.
                    body = SessionEvent.model_validate(event).model_dump(mode="json")
                    json.dumps(body)
                    index = self._next_event_index(sid)
                    ops.append(("w_event", sid, index, SessionEvent.model_validate(body)))
                elif op == "start":
                    self._known_sessions.add(item[1])
                    ops.append(("w_start", item[1], item[2], {"device_id": self.device_id, **item[3]}))
                elif op == "finish":
                    sid = item[1]
                    self._ensure_session(ops, sid)
                    self._close_batch(ops, sid)
                    ops.append(("w_finish", sid, item[2], item[3], item[4]))
                    self._event_index.pop(sid, None)
                    self._known_sessions.discard(sid)
                elif op == "close_batches":
                    for sid in list(self._batches):
                        self._close_batch(ops, sid)
                elif op in ("enqueue", "flush") or op.startswith("w_"):
                    ops.append(item)
                else:
                    log.error("store writer: unknown operation %r ignored", op)
            except _AlreadyReported:
                pass
            except Exception as exc:  # a bad event from the core must not lose the rest
                log.error("store writer: dropped a bad %s (%s)", op, one_line(exc, with_type=True))
        return ops

    def _ensure_session(self, ops: list[tuple[Any, ...]], sid: str) -> None:
        if sid not in self._known_sessions:
            if sid in self._bad_sessions:
                raise _AlreadyReported
            try:
                check_level(sid, "session id")
            except ValueError:
                self._bad_sessions.add(sid)
                raise
            self._known_sessions.add(sid)
            ops.append(("w_start", sid, utc_now_iso(), {"device_id": self.device_id}))

    def _next_event_index(self, sid: str) -> int:
        if sid not in self._event_index:
            self._event_index[sid] = self.store.event_count(sid)
        index = self._event_index[sid]
        self._event_index[sid] = index + 1
        return index

    def _add_sample(self, ops: list[tuple[Any, ...]], sid: str, t: float, force_n: float, raw: int | None) -> None:
        index = max(0, math.floor(t / self._batch_s))
        batch = self._batches.get(sid)
        if batch is not None and batch.index != index:
            self._close_batch(ops, sid)
            batch = None
        if batch is None:
            self._ensure_session(ops, sid)
            batch = self._batches[sid] = _OpenBatch(index)
        batch.times.append(float(t))
        batch.forces.append(float(force_n))
        batch.raws.append(None if raw is None else int(raw))

    def _close_batch(self, ops: list[tuple[Any, ...]], sid: str) -> None:
        batch = self._batches.pop(sid, None)
        if batch is not None and batch.times:
            ops.append(("w_batch", sid, batch))

    def _close_batches_inline(self) -> None:
        ops: list[tuple[Any, ...]] = []
        for sid in list(self._batches):
            self._close_batch(ops, sid)
        if ops:
            self._apply(ops)

    def _apply(self, ops: list[tuple[Any, ...]]) -> bool:
        """Commit ``ops`` in one durable transaction; resolve futures; notify listeners."""
        if not ops:
            return True
        before = self.outbox.next_seq
        done: list[tuple[Future[Any], Any]] = []
        try:
            with self.db.transaction(durable=True):
                for op in ops:
                    self._apply_one(op, done)
        except Exception as exc:
            self.outbox.resync()
            self._write_errors += 1
            message = f"local database {self.db.path}: write failed ({one_line(exc, with_type=True)}); will retry"
            if message != self._last_error:
                log.error("%s", message)
            self._last_error = message
            for fut, _ in done:
                if not fut.done():
                    fut.set_exception(OSError(message))
            return False
        if self._last_error is not None:
            log.info("local database %s: writing again", self.db.path)
            self._last_error = None
        self._commits += 1
        for fut, value in done:
            if not fut.done():
                fut.set_result(value)
        if self.outbox.next_seq != before:
            for callback in self._listeners:
                try:
                    callback()
                except Exception as exc:
                    log.debug("outbox listener failed: %s", exc)
        return True

    def _apply_one(self, op: tuple[Any, ...], done: list[tuple[Future[Any], Any]]) -> None:
        kind = op[0]
        if kind == "w_start":
            _, sid, started_at, meta = op
            self.store.start(sid, started_at, meta)
        elif kind == "w_event":
            _, sid, index, parsed = op
            self._write_event(sid, index, parsed)
        elif kind == "w_batch":
            _, sid, batch = op
            self._write_batch(sid, batch)
        elif kind == "w_finish":
            _, sid, summary, outcome, fut = op
            self.store.finish(sid, outcome, summary, utc_now_iso())
            self.outbox.enqueue(
                self.topics.session_summary(sid),
                summary,
                qos=1,
                retain=True,
                kind=Kind.SUMMARY,
                session_id=sid,
            )
            if fut is not None:
                done.append((fut, None))
        elif kind == "enqueue":
            _, topic, payload, qos, retain, kind_, sid, fut = op
            msg = self.outbox.enqueue(topic, payload, qos=qos, retain=retain, kind=kind_, session_id=sid)
            done.append((fut, msg))
        elif kind == "flush":
            done.append((op[1], None))

    def _write_event(self, sid: str, index: int, event: SessionEvent) -> None:
        body = event.model_dump(mode="json")
        self.store.add_event(sid, index, event.t, body)
        device_id = self.device_id

        def build(ident: MessageIdentity) -> bytes:
            return dump(
                EventMessage(
                    msg_id=ident.msg_id,
                    seq=ident.seq,
                    device_id=device_id,
                    session_id=sid,
                    created_at=ident.created_at_iso,
                    index=index,
                    event=event,
                )
            )

        self.outbox.enqueue(self.topics.session_event(sid), build, qos=1, kind=Kind.EVENT, session_id=sid)

    def _write_batch(self, sid: str, batch: _OpenBatch) -> None:
        self.store.add_sample_batch(sid, batch.index, batch.times, batch.forces, batch.raws)
        times, dt = batch.times, self._sample_period_s
        t0 = times[0]
        even = all(abs(t - (t0 + i * dt)) <= dt * 0.1 for i, t in enumerate(times))
        forces = [round(f, 3) if math.isfinite(f) else None for f in batch.forces]
        device_id = self.device_id

        def build(ident: MessageIdentity) -> bytes:
            return dump(
                SamplesBatch(
                    msg_id=ident.msg_id,
                    seq=ident.seq,
                    device_id=device_id,
                    session_id=sid,
                    created_at=ident.created_at_iso,
                    batch=batch.index,
                    t0=round(t0, 6),
                    dt=dt,
                    n=len(times),
                    force_n=forces,
                    raw=batch.raws,
                    t=None if even else [round(t, 6) for t in times],
                )
            )

        self.outbox.enqueue(
            self.topics.session_samples(sid),
            build,
            qos=1,
            kind=Kind.SAMPLES,
            session_id=sid,
            t_from=t0,
            t_to=times[-1],
            items=len(times),
        )

    def _report_drops(self, dropped: Sequence[DroppedBatch]) -> None:
        """Outbox bound hit: tell each affected session's consumers what it lost (an event)."""
        by_session: dict[str, list[DroppedBatch]] = {}
        for d in dropped:
            if d.session_id is not None:
                by_session.setdefault(d.session_id, []).append(d)
        for sid, batches in by_session.items():
            t_from = min((b.t_from for b in batches if b.t_from is not None), default=None)
            t_to = max((b.t_to for b in batches if b.t_to is not None), default=None)
            event = SessionEvent.model_validate(
                {
                    "type": "samples_dropped",
                    "t": t_to,
                    "batches": len(batches),
                    "samples": sum(b.items for b in batches),
                    "from_t": t_from,
                    "to_t": t_to,
                    "reason": "outbox full while the broker was unreachable",
                    "dropped_total": self.outbox.dropped_batches,
                }
            )
            self._write_event(sid, self._next_event_index(sid), event)


class _AlreadyReported(Exception):
    """An item for a session id that was already logged as unusable."""


def _is_num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
