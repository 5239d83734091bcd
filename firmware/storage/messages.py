"""The outbox messages of a device's sessions: events, sample batches, summaries.

Event and sample payloads are built when the outbox assigns their identity
(``seq``, ``msg_id``), so the JSON carries it; summaries are the session
core's JSON as it is.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from firmware.protocol.payloads import EventMessage, SamplesBatch, SessionEvent, dump
from firmware.protocol.topics import Topics
from firmware.storage.ops import WriteBatch
from firmware.storage.outbox import Delivery, DroppedBatch, Kind, MessageIdentity, PayloadBuilder


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message for ``Outbox.enqueue``."""

    topic: str
    payload: bytes | PayloadBuilder
    delivery: Delivery


class SessionMessages:
    """Builds the messages of one device's sessions."""

    def __init__(self, topics: Topics, sample_period_s: float) -> None:
        self._topics = topics
        self._device_id = topics.device_id
        self._dt = sample_period_s

    def event(self, session_id: str, index: int, event: SessionEvent) -> Outgoing:
        device_id = self._device_id

        def build(ident: MessageIdentity) -> bytes:
            return dump(EventMessage(**_envelope(ident, device_id, session_id), index=index, event=event))

        return Outgoing(
            self._topics.session_event(session_id), build, {"qos": 1, "kind": Kind.EVENT, "session_id": session_id}
        )

    def samples(self, batch: WriteBatch) -> Outgoing:
        """A batch is sent as ``t0``/``dt`` when evenly spaced, else with every time."""
        times, dt, t0 = batch.times, self._dt, batch.times[0]
        even = all(abs(t - (t0 + i * dt)) <= dt * 0.1 for i, t in enumerate(times))
        body: dict[str, Any] = {
            "batch": batch.index,
            "t0": round(t0, 6),
            "dt": dt,
            "n": len(times),
            "force_n": [round(f, 3) if math.isfinite(f) else None for f in batch.forces],
            "raw": list(batch.raws),
            "t": None if even else [round(t, 6) for t in times],
        }
        device_id, session_id = self._device_id, batch.session_id

        def build(ident: MessageIdentity) -> bytes:
            return dump(SamplesBatch(**_envelope(ident, device_id, session_id), **body))

        delivery: Delivery = {
            "qos": 1,
            "kind": Kind.SAMPLES,
            "session_id": batch.session_id,
            "t_from": t0,
            "t_to": times[-1],
            "items": len(times),
        }
        return Outgoing(self._topics.session_samples(batch.session_id), build, delivery)

    def summary(self, session_id: str, summary: bytes) -> Outgoing:
        """Retained, so a consumer that subscribes later still gets the last one."""
        delivery: Delivery = {"qos": 1, "retain": True, "kind": Kind.SUMMARY, "session_id": session_id}
        return Outgoing(self._topics.session_summary(session_id), summary, delivery)


def _envelope(ident: MessageIdentity, device_id: str, session_id: str) -> dict[str, Any]:
    """The fields every session message carries (``payloads.Envelope``)."""
    return {
        "msg_id": ident.msg_id,
        "seq": ident.seq,
        "device_id": device_id,
        "session_id": session_id,
        "created_at": ident.created_at_iso,
    }


def checked_event(event: Mapping[str, Any]) -> SessionEvent:
    """Validate an event and make it JSON-clean, so one odd event cannot fail (and stall) a commit."""
    body = SessionEvent.model_validate(event).model_dump(mode="json")
    json.dumps(body)
    return SessionEvent.model_validate(body)


def drop_reports(dropped: Sequence[DroppedBatch], dropped_total: int) -> dict[str, SessionEvent]:
    """One ``samples_dropped`` event per session that lost batches to the outbox bound."""
    by_session: dict[str, list[DroppedBatch]] = {}
    for d in dropped:
        if d.session_id is not None:
            by_session.setdefault(d.session_id, []).append(d)
    reports = {}
    for sid, batches in by_session.items():
        t_from = min((b.t_from for b in batches if b.t_from is not None), default=None)
        t_to = max((b.t_to for b in batches if b.t_to is not None), default=None)
        reports[sid] = SessionEvent.model_validate(
            {
                "type": "samples_dropped",
                "t": t_to,
                "batches": len(batches),
                "samples": sum(b.items for b in batches),
                "from_t": t_from,
                "to_t": t_to,
                "reason": "outbox full while the broker was unreachable",
                "dropped_total": dropped_total,
            }
        )
    return reports
