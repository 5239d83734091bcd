"""Crash recovery: a session a crash, kill or power cut left ``running`` is closed as ``interrupted``.

At start-up every such session gets an ``interrupted`` event and a summary.
The summary normally comes from replaying the stored samples through the
session controller with the plan the session started with
(``replay_interrupted_summary``); if that fails, a minimal one keeps the
session closable and reportable (``fallback_interrupted_summary``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from firmware.session.controller import SessionController
from firmware.session.summary import ResolvedPlan, build_summary, plan_from_resolved
from firmware.storage.ops import FinishSession, RecordEvent, Request
from firmware.storage.session_store import SessionRow, SessionStore, StoredSample

log = logging.getLogger("presspoint.store")

InterruptedSummaryBuilder = Callable[[SessionRow, Sequence[Mapping[str, Any]], Sequence[StoredSample]], bytes]
"""Builds the JSON summary of a session that a crash left ``running``."""

CloseSession = Callable[[str, Sequence[Request]], object]
"""Applies the requests that close one recovered session (the store writer's)."""


def recover_interrupted(store: SessionStore, build: InterruptedSummaryBuilder | None, close: CloseSession) -> list[str]:
    """Close every ``running`` session through ``close``; returns their ids, oldest first."""
    closed = []
    for row in store.find_unfinished():
        events = store.events(row.session_id)
        samples = store.samples(row.session_id)
        close(row.session_id, closing_requests(row, events, samples, build))
        closed.append(row.session_id)
        log.warning(
            "session %s was left running (crash or power loss): closed as interrupted with %d events and %d samples",
            row.session_id,
            len(events),
            len(samples),
        )
    return closed


def closing_requests(
    row: SessionRow,
    events: Sequence[Mapping[str, Any]],
    samples: Sequence[StoredSample],
    build: InterruptedSummaryBuilder | None,
) -> list[Request]:
    """An ``interrupted`` event at the last stored time, then the end with its summary."""
    summary: bytes | None = None
    if build is not None:
        try:
            summary = build(row, events, samples)
        except Exception as exc:
            log.error("session %s: summary builder failed (%s); using a minimal one", row.session_id, exc)
    if summary is None:
        summary = fallback_interrupted_summary(row, events, samples)
    event = {
        "type": "interrupted",
        "t": last_time(events, samples),
        "reason": "the device stopped during the session; closed at restart",
    }
    return [RecordEvent(row.session_id, event), FinishSession(row.session_id, summary, "interrupted", None)]


def replay_interrupted_summary(
    row: SessionRow, events: Sequence[Mapping[str, Any]], samples: Sequence[StoredSample]
) -> bytes:
    """The summary of a session a crash left open: replay its samples, close it ``interrupted``.

    Uses the plan and sample rate stored when the session started, so holds,
    cues, peak and abort are what the controller decided on the stored data.
    """
    meta = row.meta
    resolved = ResolvedPlan.model_validate(meta["plan"])
    controller = SessionController(
        plan_from_resolved(resolved),
        sample_rate_hz=float(meta.get("sample_rate_hz", 80.0)),
        device_max_n=resolved.device_max_n,
    )
    for sample in samples:
        controller.on_sample(sample.t, sample.force_n)
    controller.interrupt(last_time(events, samples))
    summary = build_summary(
        controller,
        session_id=row.session_id,
        device_id=str(meta.get("device_id", "")),
        started_at=_started_at(row),
    )
    return summary.to_json().encode()


def fallback_interrupted_summary(
    row: SessionRow, events: Sequence[Mapping[str, Any]], samples: Sequence[StoredSample]
) -> bytes:
    """A minimal ``interrupted`` summary for when the core's builder fails or is absent.

    Keeps the fields a consumer needs to file the session (schema, ids,
    outcome, duration, peak, sample count); the full one comes from the core.
    """
    forces = [s.force_n for s in samples if math.isfinite(s.force_n)]
    summary: dict[str, Any] = {
        "schema": "presspoint.session/1",
        "session_id": row.session_id,
        "device_id": row.meta.get("device_id"),
        "started_at": row.started_at,
        "outcome": "interrupted",
        "abort": None,
        "plan": row.meta.get("plan"),
        "holds": [],
        "peak_force_n": max(forces, default=0.0),
        "duration_s": last_time(events, samples),
        "samples": len(samples),
    }
    return json.dumps(summary).encode()


def last_time(events: Sequence[Mapping[str, Any]], samples: Sequence[StoredSample]) -> float:
    """The latest session time anything was stored at (0 for an empty session)."""
    times = [s.t for s in samples] + [float(e["t"]) for e in events if _is_number(e.get("t"))]
    return max(times, default=0.0)


def _started_at(row: SessionRow) -> datetime:
    """When the session started, as an aware time (now, if the stored text is unreadable)."""
    try:
        started_at = datetime.fromisoformat(row.started_at)
    except ValueError:
        started_at = datetime.now(UTC)
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    return started_at


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
