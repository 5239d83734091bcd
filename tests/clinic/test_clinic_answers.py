"""Answers sent from the clinic, on SQLite and on a real PostgreSQL: recorded as sent at once, then marked with
what the device made of them - its refusal event (by request id), its follow-up, its next person/status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from firmware.clinic import actions, clinic_answers
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.protocol.payloads import dump
from firmware.protocol.person import FollowUpMessage, PersonStatus, SignedAnswer, clear_refused_event, sign_answer
from firmware.protocol.plan_envelope import DeviceKey
from tests.clinic.person_data import DEVICE, PERSON, store_weeks

SENT_AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _send(engine: Engine, key: DeviceKey, session_id: str, kind: str, value: int | str, version: int
          ) -> SignedAnswer:
    signed = sign_answer(session_id, kind, value, device_id=DEVICE, version=version, key=key)
    clinic_answers.record_sent(engine, [signed], person=PERSON, sent_by="ann", sent_at=_iso(SENT_AT))
    return signed


def _status(updated_at: datetime) -> bytes:
    status = PersonStatus(device_id=DEVICE, person=PERSON, updated_at=_iso(updated_at), course=None, flags=[])
    return status.model_dump_json(by_alias=True).encode()


def _follow_up(session_id: str, answer: str, answered_by: str | None) -> bytes:
    return dump(FollowUpMessage(device_id=DEVICE, session_id=session_id, answer=answer,  # type: ignore[arg-type]
                                answered_at=SENT_AT + timedelta(seconds=2), answered_by=answered_by,
                                hours_after=20.0))


def _states(engine: Engine) -> dict[tuple[str, str], tuple[str, str, str | None]]:
    return {(sid, kind): (a.value, a.state, a.reason)
            for sid, kinds in clinic_answers.latest(engine, PERSON).items() for kind, a in kinds.items()}


def test_sent_answers_are_shown_at_once_then_acknowledged_or_refused_by_the_device(engine: Engine) -> None:
    store = ClinicStore(engine)
    store_weeks(store)
    key = DeviceKey.generate()
    _send(engine, key, "s003", "pain_before", 2, 10)
    _send(engine, key, "s003", "follow_up", "better", 10)
    refused = _send(engine, key, "s002", "pain_after", 1, 11)
    assert _states(engine) == {("s003", "pain_before"): ("2", "sent", None),
                               ("s003", "follow_up"): ("better", "sent", None),
                               ("s002", "pain_after"): ("1", "sent", None)}

    # a status from before the answers were sent says nothing about them; the device's own follow-up neither
    assert store.ingest(f"presspoint/{DEVICE}/person/status", _status(SENT_AT - timedelta(seconds=1))) is Ingested.NEW
    follow_ups = f"presspoint/{DEVICE}/session/s003/follow_up"
    assert store.ingest(follow_ups, _follow_up("s003", "better", None)) is Ingested.NEW
    assert {state for _, state, _ in _states(engine).values()} == {"sent"}

    event = clear_refused_event(refused.to_json(), "answer: old_version", device_id=DEVICE,
                                event_type="person_answer_refused")
    assert store.ingest(f"presspoint/{DEVICE}/event", event) is Ingested.NEW
    assert store.ingest(f"presspoint/{DEVICE}/event", event) is Ingested.DUPLICATE  # already marked
    assert store.ingest(follow_ups, _follow_up("s003", "better", "clinic")) is Ingested.NEW
    assert store.ingest(f"presspoint/{DEVICE}/person/status", _status(SENT_AT + timedelta(seconds=3))) is Ingested.NEW
    assert _states(engine) == {("s003", "pain_before"): ("2", "acknowledged", None),
                               ("s003", "follow_up"): ("better", "acknowledged", None),
                               ("s002", "pain_after"): ("1", "refused", "answer: old_version")}

    # a newer answer of the same kind is the one shown, sent until the device answers it
    _send(engine, key, "s003", "pain_before", 3, 12)
    assert _states(engine)[("s003", "pain_before")] == ("3", "sent", None)
    assert actions.erase_person(engine, None, PERSON) == 4
    assert clinic_answers.latest(engine, PERSON) == {}


def test_a_refusal_after_a_status_still_marks_the_answer_refused(engine: Engine) -> None:
    """The status names no request: it may have been republished for another reason before the refusal."""
    store = ClinicStore(engine)
    store_weeks(store)
    answer = _send(engine, DeviceKey.generate(), "s001", "pain_before", 9, 20)
    store.ingest(f"presspoint/{DEVICE}/person/status", _status(SENT_AT + timedelta(seconds=1)))
    assert _states(engine)[("s001", "pain_before")][1] == "acknowledged"
    event = clear_refused_event(answer.to_json(), "answer: bad signature", device_id=DEVICE,
                                event_type="person_answer_refused")
    store.ingest(f"presspoint/{DEVICE}/event", event)
    assert _states(engine)[("s001", "pain_before")] == ("9", "refused", "answer: bad signature")
