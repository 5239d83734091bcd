"""Ratings and follow-ups sent from the clinic, recorded when sent, then marked with the device's answer.

The device applies a signed answer to its own record and never re-sends the
session's summary, so without this table the person's page would show the
value only when some later message carried it.  Each answer is a row keyed
on its ``request_id``, ``sent`` when published, then:

* ``refused`` (with the reason) by the ``person_answer_refused`` event on
  ``<p>/<device>/event``, which names the ``request_id`` - final;
* ``acknowledged`` for a follow-up by the device's ``session/<sid>/follow_up``
  with ``answered_by`` ``clinic`` and the same answer;
* ``acknowledged`` for a pain rating by the device's next ``person/status``
  (it republishes that after applying one; the status names no request, so a
  status republished for another reason in between marks it too, and a
  refusal arriving afterwards still turns it to ``refused``).

Only the clinic's clock is compared with the clinic's clock where it can:
``sent_at`` is when this server published; the status's ``updated_at`` is the
device's clock (the two agree to within NTP on a clinic network).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from firmware.clinic import schema as t
from firmware.clinic.bulk_insert import insert_new
from firmware.protocol.person import PAIN_KINDS, SignedAnswer

SENT: Final = "sent"
ACKNOWLEDGED: Final = "acknowledged"
REFUSED: Final = "refused"


def record_sent(
    engine: Engine, answers: Iterable[SignedAnswer], *, person: str, sent_by: str, sent_at: str
) -> None:
    """The answers just published, as ``sent`` (a request id seen before is left as it is)."""
    rows = [
        {"request_id": a.request_id, "device_id": a.device_id, "session_id": a.session_id, "person": person,
         "kind": a.kind, "value": str(a.value), "version": a.version, "sent_at": sent_at, "sent_by": sent_by,
         "state": SENT, "state_at": None, "reason": None}
        for a in answers
    ]
    with engine.begin() as conn:
        insert_new(conn, t.clinic_answers, rows)


def _mark(conn: Connection, where: list[sa.ColumnElement[bool]], state: str, at: str, reason: str | None) -> bool:
    a = t.clinic_answers
    query = a.update().where(*where).values(state=state, state_at=at, reason=reason)
    return bool(conn.execute(query).rowcount)


def mark_refused(conn: Connection, device_id: str, request_id: str, reason: str, at: str) -> bool:
    """The device refused the answer ``request_id``: final, whatever was marked before."""
    a = t.clinic_answers
    where = [a.c.request_id == request_id, a.c.device_id == device_id, a.c.state != REFUSED]
    return _mark(conn, where, REFUSED, at[:40], reason[:500])


def mark_follow_up(conn: Connection, device_id: str, session_id: str, answer: str, at: str) -> bool:
    """The device published the follow-up the clinic sent for ``session_id``."""
    a = t.clinic_answers
    where = [a.c.device_id == device_id, a.c.session_id == session_id, a.c.kind == "follow_up",
             a.c.value == answer, a.c.state == SENT]
    return _mark(conn, where, ACKNOWLEDGED, at, None)


def mark_status(conn: Connection, device_id: str, at: str) -> bool:
    """A ``person/status`` published at ``at`` (UTC, as stored) after a pain rating was sent: taken."""
    a = t.clinic_answers
    where = [a.c.device_id == device_id, a.c.state == SENT, a.c.kind.in_(PAIN_KINDS), a.c.sent_at <= at]
    return _mark(conn, where, ACKNOWLEDGED, at, None)


@dataclass(frozen=True)
class SentAnswer:
    session_id: str
    kind: str
    value: str
    state: str
    sent_at: str
    sent_by: str
    reason: str | None


def latest(engine: Engine, person: str) -> dict[str, dict[str, SentAnswer]]:
    """Per session of ``person``, per kind, the answer sent last from the clinic."""
    a = t.clinic_answers
    query = sa.select(a.c.session_id, a.c.kind, a.c.value, a.c.state, a.c.sent_at, a.c.sent_by, a.c.reason)
    query = query.where(a.c.person == person).order_by(a.c.version, a.c.request_id)
    out: dict[str, dict[str, SentAnswer]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            answer = SentAnswer(*(str(v) if v is not None else None for v in row))  # type: ignore[arg-type]
            out.setdefault(answer.session_id, {})[answer.kind] = answer
    return out
