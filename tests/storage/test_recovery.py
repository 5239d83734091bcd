"""Crash recovery: sessions left ``running`` are closed as ``interrupted`` (no broker needed)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from config.plan import TherapyPlan
from firmware.protocol.payloads import EventMessage
from firmware.protocol.topics import Topics
from firmware.session.controller import SessionController
from firmware.session.summary import SessionSummary, build_summary, plan_from_resolved, resolve_plan
from firmware.storage.database import LocalDb
from firmware.storage.outbox import Kind
from firmware.storage.recovery import replay_interrupted_summary
from firmware.storage.session_store import SessionRow, SessionStore, StoredSample
from firmware.storage.writer import StoreWriter


def _writer(tmp_path: Path) -> StoreWriter:
    writer = StoreWriter(tmp_path / "state.db", topics=Topics("dev1"))
    writer.start()
    return writer


def test_recovery_closes_running_sessions_as_interrupted(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.session_started("s1", "2026-01-01T00:00:00+00:00", {"plan": {}})
    for i in range(80 * 3):
        writer.sample("s1", i / 80, 2.0, 100)
    writer.event("s1", {"type": "phase", "t": 0.5, "phase": "ramp"})
    writer.flush().result(5)
    writer.close()  # closes the open batch like a clean stop, but the session stays running

    seen: list[tuple[SessionRow, int, int]] = []

    def build(row: SessionRow, events: Sequence[Mapping[str, Any]], samples: Sequence[StoredSample]) -> bytes:
        seen.append((row, len(events), len(samples)))
        return json.dumps({"session_id": row.session_id, "outcome": "interrupted", "samples": len(samples)}).encode()

    again = StoreWriter(tmp_path / "state.db", topics=Topics("dev1"))
    assert again.recover_interrupted(build) == ["s1"]
    assert seen[0][0].state == "running" and seen[0][1:] == (1, 240)
    row = again.store.get("s1")
    assert row is not None and row.state == "finished" and row.outcome == "interrupted"
    messages = again.outbox.peek(100)
    assert messages[-1].kind == Kind.SUMMARY and json.loads(messages[-1].payload)["samples"] == 240
    last_event = EventMessage.model_validate_json(messages[-2].payload)
    assert last_event.event.type == "interrupted" and last_event.index == 1
    assert again.recover_interrupted(build) == []  # nothing left to recover
    again.close()


def test_recovery_survives_a_failing_builder(tmp_path: Path) -> None:
    store = SessionStore(LocalDb(tmp_path / "state.db"))
    store.start("s9", "2026-01-01T00:00:00+00:00", {"device_id": "dev1"})
    store.add_sample_batch("s9", 0, [0.0, 0.5], [1.0, 3.0], [1, 2])

    def broken(*_: object) -> bytes:
        raise RuntimeError("boom")

    writer = StoreWriter(tmp_path / "state.db", topics=Topics("dev1"))
    assert writer.recover_interrupted(broken) == ["s9"]
    summary = json.loads(writer.outbox.peek(10)[-1].payload)
    assert summary["outcome"] == "interrupted" and summary["samples"] == 2 and summary["peak_force_n"] == 3.0
    writer.close()


def test_plan_from_resolved_gives_back_the_plan(plan: TherapyPlan) -> None:
    assert plan_from_resolved(resolve_plan(plan, 120.0)) == plan


def test_replay_decides_as_the_live_session_did(plan: TherapyPlan) -> None:
    """Replaying stored samples gives the summary the live controller would have given at the crash."""
    forces = [plan.target * min(1.0, i / 160) for i in range(80 * 6)]
    live = SessionController(plan, sample_rate_hz=80.0, device_max_n=120.0)
    for i, force in enumerate(forces):
        live.on_sample(i / 80, force)
    live.interrupt((len(forces) - 1) / 80)
    started = "2026-01-01T00:00:00+00:00"
    meta = {"device_id": "dev1", "sample_rate_hz": 80.0, "plan": resolve_plan(plan, 120.0).model_dump()}
    row = SessionRow("s1", started, "running", None, meta, None, None)
    samples = [StoredSample(i / 80, force, None) for i, force in enumerate(forces)]
    replayed = SessionSummary.model_validate_json(replay_interrupted_summary(row, [], samples))
    expected = build_summary(live, session_id="s1", device_id="dev1", started_at=replayed.started_at)
    assert replayed == expected and replayed.outcome == "interrupted"
