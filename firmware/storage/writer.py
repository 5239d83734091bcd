"""The one thread that writes the local database, so the session loop never waits on a disk.

The session controller calls ``session_started``, ``event``, ``sample`` and
``session_finished`` from its loop; each call only puts an operation
(``firmware.storage.ops``) on a queue, well under a microsecond, and never
blocks, whatever the disk, the network or the broker are doing.  If the writer
falls hopelessly behind (a stuck SD card), new *samples* are counted and
dropped at the queue instead of growing memory; events and summaries are
always queued.

The writer thread prepares the calls into session rows, one-second sample
batches and outbox messages (``WritePlanner``) and commits them together
(``Committer``, ``synchronous=FULL``) about once a second, at once for events
and session ends.  The publisher reads the outbox through ``peek``/``ack``,
which run on the same thread and so only ever see committed messages.
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Unpack

from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.topics import Topics, check_level
from firmware.storage.committer import Committer
from firmware.storage.database import LocalDb
from firmware.storage.messages import SessionMessages, drop_reports
from firmware.storage.ops import (
    Call,
    CloseBatches,
    Enqueue,
    FinishSession,
    Flush,
    Queued,
    RecordEvent,
    RecordSample,
    Request,
    StartSession,
    Stop,
    Write,
)
from firmware.storage.outbox import Delivery, DroppedBatch, Outbox, OutboxMessage, PayloadBuilder
from firmware.storage.planner import WritePlanner
from firmware.storage.recovery import InterruptedSummaryBuilder, recover_interrupted
from firmware.storage.session_store import SessionStore

log = logging.getLogger("presspoint.store")

T = TypeVar("T")

#: Calls taken off the queue before a commit, at the most (the rest wait for the next one).
_MAX_PENDING = 20_000


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
        self.db = LocalDb(path)
        self.store = SessionStore(self.db)
        self.outbox = Outbox(self.db, max_messages=outbox_max_messages, on_drop=self._report_drops)
        self._planner = WritePlanner(self.store, device_id=topics.device_id, batch_s=batch_s)
        self._committer = Committer(self.db, self.store, self.outbox, SessionMessages(topics, sample_period_s))
        self._commit_interval_s = commit_interval_s
        self._max_queue = max_queue
        self._q: queue.SimpleQueue[Queued] = queue.SimpleQueue()
        self._puts = 0  # written by producers only
        self._taken = 0  # written by the writer thread only
        self._queue_drops = 0
        self._thread: threading.Thread | None = None

    # -- life cycle ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="presspoint-store", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, close open sample batches, commit and stop the thread."""
        if self._thread is None:
            self._committer.apply(self._planner.prepare([CloseBatches()]))
            self.db.close()
            return
        self._q.put(Stop())
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("store writer did not finish within %.1f s; unwritten data is lost", timeout_s)
            return
        self._thread = None
        self.db.close()

    def add_listener(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs on the writer thread after each commit that added messages."""
        self._committer.listeners.append(callback)

    # -- producer side: never blocks -------------------------------------------

    def session_started(
        self, session_id: str, started_at: str | None = None, meta: Mapping[str, Any] | None = None
    ) -> None:
        check_level(session_id, "session id")
        self._put(StartSession(session_id, started_at or utc_now_iso(), dict(meta or {})))

    def event(self, session_id: str, event: Mapping[str, Any]) -> None:
        """One event dict of the session core (``type``, ``t`` and any fields)."""
        self._put(RecordEvent(session_id, dict(event)))

    def sample(self, session_id: str, t: float, force_n: float, raw: int | None = None) -> None:
        if self._puts - self._taken > self._max_queue:
            self._queue_drops += 1
            return
        self._put(RecordSample(session_id, t, force_n, raw))

    def session_finished(self, session_id: str, summary: bytes, outcome: str) -> Future[None]:
        """Queue the end of a session; the future completes once the summary is on disk."""
        fut: Future[None] = Future()
        self._put(FinishSession(session_id, bytes(summary), outcome, fut))
        return fut

    def enqueue(
        self, topic: str, payload: bytes | PayloadBuilder, **delivery: Unpack[Delivery]
    ) -> Future[OutboxMessage]:
        """Queue any other message for the outbox (e.g. an audit record)."""
        fut: Future[OutboxMessage] = Future()
        self._put(Enqueue(topic, payload, delivery, fut))
        return fut

    def flush(self) -> Future[None]:
        """A future that completes when everything queued before it is committed."""
        fut: Future[None] = Future()
        self._put(Flush(fut))
        return fut

    def _put(self, request: Request) -> None:
        self._puts += 1
        self._q.put(request)

    # -- consumer side (publisher) --------------------------------------------

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run ``fn`` on the writer thread (it owns the connection); thread-safe."""
        fut: Future[T] = Future()
        if self._thread is None:
            _call(fn, fut)  # no thread yet (or any more): run it here, the same way
            return fut
        self._q.put(Call(fn, fut))
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

    def stats(self) -> WriterStats:
        return WriterStats(
            outbox_pending=len(self.outbox),
            outbox_dropped_batches=self.outbox.dropped_batches,
            samples_dropped_at_queue=self._queue_drops,
            commits=self._committer.commits,
            write_errors=self._committer.write_errors,
        )

    # -- recovery -----------------------------------------------------------------

    def recover_interrupted(self, build: InterruptedSummaryBuilder | None = None) -> list[str]:
        """Close every session a crash left ``running`` as ``interrupted`` and queue its summary.

        ``build(row, events, samples) -> bytes`` is the session core's summary
        builder; if it is missing or fails, a minimal summary is used so the
        session is still closed and reported.  Returns the session ids.
        Blocking: call it at start-up, before sessions run.
        """
        return self.submit(lambda: recover_interrupted(self.store, build, self._close_recovered)).result()

    def _close_recovered(self, session_id: str, requests: Sequence[Request]) -> bool:
        self._planner.adopt(session_id)
        return self._committer.apply(self._planner.prepare(requests))

    # -- writer thread --------------------------------------------------------

    def _run(self) -> None:
        requests: list[Request] = []  # taken off the queue, not yet prepared
        unwritten: list[Write] = []  # prepared, waiting for a commit that failed to be retried
        deadline = math.inf  # commit by then
        not_before = 0.0  # after a failed write: no retry before then
        urgent = False
        stopping = False
        while True:
            wake = max(deadline, not_before) if requests or unwritten else math.inf
            timeout = None if wake == math.inf else max(0.0, wake - time.monotonic())
            try:
                item: Queued | None = self._q.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                match item:
                    case Call(fn, done):
                        _call(fn, done)
                    case Stop():
                        stopping = True
                    case _:
                        self._taken += 1
                        if not requests and not unwritten:
                            deadline = time.monotonic() + self._commit_interval_s
                        requests.append(item)
                        urgent = urgent or not isinstance(item, RecordSample)
                try:
                    item = self._q.get_nowait() if len(requests) + len(unwritten) < _MAX_PENDING else None
                except queue.Empty:
                    item = None
            if stopping:
                requests.append(CloseBatches())
            now = time.monotonic()
            due = urgent or stopping or now >= deadline
            if (requests or unwritten) and due and (stopping or now >= not_before):
                unwritten += self._planner.prepare(requests)
                requests = []
                if self._committer.apply(unwritten):
                    unwritten = []
                    deadline = math.inf
                else:
                    not_before = now + max(1.0, self._commit_interval_s)
                urgent = False
            if stopping:
                return

    def _report_drops(self, dropped: Sequence[DroppedBatch]) -> None:
        """Outbox bound hit: tell each affected session's consumers what it lost (an event)."""
        for sid, event in drop_reports(dropped, self.outbox.dropped_batches).items():
            self._committer.write_event(sid, self._planner.next_event_index(sid), event)


def _call(fn: Callable[[], Any], fut: Future[Any]) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    try:
        fut.set_result(fn())
    except Exception as exc:
        fut.set_exception(exc)
