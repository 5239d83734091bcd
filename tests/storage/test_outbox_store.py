"""The SQLite outbox, the session store and the writer thread (no broker needed)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from firmware.protocol.payloads import EventMessage, SamplesBatch
from firmware.protocol.topics import Topics
from firmware.storage.database import LocalDb
from firmware.storage.outbox import Kind, Outbox
from firmware.storage.writer import StoreWriter


def _payload(kind: str) -> bytes:
    return json.dumps({"kind": kind}).encode()


def test_seq_and_ids_increase_and_survive_restart(tmp_path: Path) -> None:
    db = LocalDb(tmp_path / "o.db")
    box = Outbox(db, max_messages=100)
    first = [box.enqueue("t", _payload("a"), kind=Kind.EVENT) for _ in range(5)]
    box.ack([m.seq for m in first])  # an empty outbox must not restart the numbering
    db.close()
    db = LocalDb(tmp_path / "o.db")
    box = Outbox(db, max_messages=100)
    second = [box.enqueue("t", lambda ident: json.dumps({"seq": ident.seq}).encode()) for _ in range(3)]
    seqs = [m.seq for m in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == 8
    assert len({m.msg_id for m in first + second}) == 8
    assert json.loads(second[0].payload) == {"seq": second[0].seq}  # builders see their identity


def test_peek_in_order_and_ack_removes(tmp_path: Path) -> None:
    box = Outbox(LocalDb(tmp_path / "o.db"), max_messages=100)
    msgs = [box.enqueue(f"t/{i}", _payload(str(i)), qos=1, retain=i == 2) for i in range(6)]
    assert [m.topic for m in box.peek(3)] == ["t/0", "t/1", "t/2"]
    assert [m.topic for m in box.peek(10, after_seq=msgs[3].seq)] == ["t/4", "t/5"]
    assert box.peek(1, after_seq=msgs[1].seq)[0].retain is True
    assert box.ack([msgs[0].seq, msgs[2].seq, 999_999]) == 2
    assert len(box) == 4
    assert [m.topic for m in box.peek(10)] == ["t/1", "t/3", "t/4", "t/5"]


def test_bound_drops_oldest_samples_only_and_counts_persist(tmp_path: Path) -> None:
    db = LocalDb(tmp_path / "o.db")
    reports: list[int] = []
    box = Outbox(db, max_messages=20, on_drop=lambda dropped: reports.append(len(dropped)))
    kinds = [Kind.SUMMARY, Kind.EVENT] + [Kind.SAMPLES] * 10 + [Kind.EVENT] * 8  # 20: full
    for i, kind in enumerate(kinds):
        box.enqueue(f"m/{i}", _payload(kind), kind=kind, items=80)
    assert reports == [] and len(box) == 20
    box.enqueue("m/20", _payload("samples"), kind=Kind.SAMPLES, items=80)  # 21 > 20: drop to 18
    assert reports == [3]
    left = [m.topic for m in box.peek(100)]
    assert left[:2] == ["m/0", "m/1"]  # summary and event kept
    assert "m/2" not in left and "m/4" not in left and "m/5" in left  # the three oldest batches went
    assert box.dropped_batches == 3 and box.dropped_samples == 240
    db.close()
    again = Outbox(LocalDb(tmp_path / "o.db"), max_messages=20)
    assert (again.dropped_batches, again.dropped_samples, len(again)) == (3, 240, 18)


def test_bound_never_drops_events_or_summaries(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box = Outbox(LocalDb(tmp_path / "o.db"), max_messages=10)
    for i in range(15):
        box.enqueue(f"e/{i}", _payload("e"), kind=Kind.EVENT if i % 2 else Kind.SUMMARY)
    assert len(box) == 15 and box.dropped_batches == 0
    assert "never dropped" in caplog.text


def _writer(tmp_path: Path, **kw: object) -> StoreWriter:
    writer = StoreWriter(tmp_path / "state.db", topics=Topics("dev1"), **kw)  # type: ignore[arg-type]
    writer.start()
    return writer


def test_writer_batches_one_message_per_second_and_stores_everything(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.session_started("s1", "2026-01-01T00:00:00+00:00", {"plan": {"x": 1}})
    for i in range(80 * 5 + 7):  # 5 s and a bit at 80 Hz
        writer.sample("s1", i / 80, 1.0 + i / 1000, 8_000 + i)
        if i % 80 == 0:
            writer.event("s1", {"type": "cue", "t": i / 80, "cue": "breath"})
    writer.session_finished("s1", b'{"outcome": "completed"}', "completed").result(5)
    messages = writer.outbox.peek(100)
    kinds = [m.kind for m in messages]
    assert kinds.count(Kind.SAMPLES) == 6 and kinds.count(Kind.EVENT) == 6 and kinds[-1] == Kind.SUMMARY
    batches = [SamplesBatch.model_validate_json(m.payload) for m in messages if m.kind == Kind.SAMPLES]
    assert [b.n for b in batches] == [80] * 5 + [7] and all(b.t is None for b in batches)
    assert [b.seq for b in batches] == sorted(b.seq for b in batches)
    event = EventMessage.model_validate_json(next(m.payload for m in messages if m.kind == Kind.EVENT))
    assert event.seq == messages[0].seq and event.event.type == "cue"
    summary = messages[-1]
    assert summary.retain and summary.payload == b'{"outcome": "completed"}'
    row = writer.store.get("s1")
    assert row is not None and row.state == "finished" and row.outcome == "completed"
    assert len(writer.store.samples("s1")) == 407 and len(writer.store.events("s1")) == 6
    writer.close()


def test_uneven_samples_carry_their_times(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    for t in (0.0, 0.0125, 0.025, 0.5, 0.5125):  # a gap inside the first second
        writer.sample("s1", t, 1.0)
    writer.session_finished("s1", b"{}", "aborted").result(5)
    batch = SamplesBatch.model_validate_json(writer.outbox.peek(1)[0].payload)
    assert batch.t == [0.0, 0.0125, 0.025, 0.5, 0.5125] and batch.times() == batch.t
    writer.close()


def test_outbox_bound_reports_dropped_samples_as_an_event(tmp_path: Path) -> None:
    writer = _writer(tmp_path, outbox_max_messages=20)
    writer.event("s1", {"type": "phase", "t": 0.0, "phase": "hold"})
    for i in range(80 * 30):
        writer.sample("s1", i / 80, 5.0)
    writer.session_finished("s1", b"{}", "completed").result(5)
    messages = writer.outbox.peek(100)
    events = [EventMessage.model_validate_json(m.payload) for m in messages if m.kind == Kind.EVENT]
    drops = [e for e in events if e.event.type == "samples_dropped"]
    assert drops, "a drop must be reported"
    extra = drops[0].event.model_extra or {}
    assert extra["batches"] >= 1 and extra["samples"] == 80 * extra["batches"]
    assert events[0].event.type == "phase"  # the event was kept
    assert messages[-1].kind == Kind.SUMMARY
    assert writer.outbox.dropped_batches == sum((d.event.model_extra or {})["batches"] for d in drops)
    writer.close()


def test_producer_never_blocks_even_when_the_disk_stalls(tmp_path: Path) -> None:
    writer = _writer(tmp_path, max_queue=1_000)
    stall = threading.Event()
    writer.submit(stall.wait)  # the writer thread is now stuck, like a hung SD card

    def produce() -> None:
        for i in range(20_000):
            writer.sample("s1", i / 80, 1.0)
        writer.event("s1", {"type": "phase", "t": 1.0, "phase": "hold"})

    # Every call returns while the writer is still stuck: a blocking put would never return.
    # (How fast the producer runs meanwhile is a figure of bench/bench_nonblocking.py.)
    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(60)  # a hang's bound, not a speed limit
    assert not producer.is_alive(), "the producer blocked on the stalled writer"
    assert not stall.is_set()
    assert writer.stats().samples_dropped_at_queue >= 18_000  # samples shed, memory bounded
    stall.set()
    writer.flush().result(5)
    assert writer.store.events("s1")[0]["type"] == "phase"  # events are never shed
    writer.close()


def test_bad_event_is_logged_and_the_rest_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = _writer(tmp_path)
    writer.event("s1", {"t": 1.0})  # no type
    writer.event("s1", {"type": "x", "t": 1.0, "obj": object()})  # not JSON-able
    writer.event("bad/id", {"type": "x", "t": 1.0})
    writer.event("s1", {"type": "phase", "t": 2.0})
    writer.flush().result(5)
    assert [e["type"] for e in writer.store.events("s1")] == ["phase"]
    assert caplog.text.count("dropped a bad") == 3
    writer.close()


_FAIL_EVENT_INSERTS = """
CREATE TEMP TABLE failing (on_purpose INTEGER);
INSERT INTO failing VALUES (1);
CREATE TEMP TRIGGER fail_events BEFORE INSERT ON main.session_events WHEN EXISTS (SELECT 1 FROM temp.failing)
BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;
"""


def test_a_failed_commit_is_retried_and_nothing_is_lost(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "presspoint.store")
    writer = _writer(tmp_path)
    conn = writer.db.conn
    writer.submit(lambda: conn.executescript(_FAIL_EVENT_INSERTS)).result(5)
    audit = writer.enqueue("presspoint/dev1/audit", b"{}")
    writer.event("s1", {"type": "phase", "t": 0.0, "phase": "hold"})
    with pytest.raises(OSError, match="write failed"):
        audit.result(5)  # the whole transaction was rolled back
    writer.submit(lambda: conn.execute("DELETE FROM temp.failing")).result(5)
    writer.event("s1", {"type": "phase", "t": 1.0, "phase": "release"})
    writer.flush().result(5)
    assert [e["phase"] for e in writer.store.events("s1")] == ["hold", "release"]
    assert [m.kind for m in writer.outbox.peek(10)] == [Kind.OTHER, Kind.EVENT, Kind.EVENT]
    assert writer.stats().write_errors == 1 and caplog.text.count("write failed") == 1
    assert "writing again" in caplog.text
    writer.close()
