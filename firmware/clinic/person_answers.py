"""Ratings and follow-up answers given in the clinic: signed with the server-held key, sent to the device.

A therapist enters, for one session on the person's page, the pain before
and/or after (0..10) and/or the next-day follow-up (better / not better).
Every value is checked first, so a bad one is shown next to its field and
nothing is sent; the good ones go out signed like the clear
(``actions._signing``), retained with QoS 1 on one topic per session and
kind, so a device that is offline gets each of them when it connects.
The version is the time in milliseconds, as for the clear.  What was sent
is recorded at once (``clinic_answers``: the device never re-sends the
session's summary) and shown on the page as sent, then acknowledged or
refused when the device answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from config.errors import PresspointError
from firmware.clinic import actions, clinic_answers
from firmware.clinic import schema as t
from firmware.clinic.auth import User
from firmware.clinic.context import ClinicContext, ctx, user
from firmware.clinic.messages import now_iso
from firmware.clinic.person_pages import _history, _person
from firmware.protocol.person import check_answer_value, person_answer_topic, sign_answer
from firmware.protocol.topics import Topics
from firmware.therapist.connection import TherapistConnection, client_id

#: The form's fields, in the order they are sent.
FIELDS = ("pain_before", "pain_after", "follow_up")


@dataclass(frozen=True)
class Answer:
    kind: str
    value: int | str


def read_answers(form: FormData) -> tuple[list[Answer], dict[str, str]]:
    """The answers filled in (an empty field is not sent) and, per field, what is wrong with it."""
    answers: list[Answer] = []
    errors: dict[str, str] = {}
    for kind in FIELDS:
        text = str(form.get(kind) or "").strip()
        if not text:
            continue
        value: int | str = int(text) if kind != "follow_up" and text.isascii() and text.isdigit() else text
        try:
            check_answer_value(kind, value)
        except ValueError as err:
            errors[kind] = str(err)
            continue
        answers.append(Answer(kind, value))
    if not answers and not errors:
        errors["session"] = "fill in at least one of pain before, pain after or follow-up"
    return answers, errors


def session_device(context: ClinicContext, person: str, session_id: str) -> str | None:
    """The device that recorded ``session_id`` of ``person``, or ``None`` when it is not theirs."""
    query = sa.select(t.sessions.c.device_id).where(
        t.sessions.c.session_id == session_id, t.sessions.c.person == person
    )
    with context.engine.connect() as conn:
        found = conn.execute(query).scalar_one_or_none()
    return str(found) if found is not None else None


async def send_answers(
    context: ClinicContext, who: User, device_id: str, person: str, session_id: str, answers: list[Answer]
) -> int:
    """Sign and publish each answer (retained, QoS 1), audit-logged; their version."""
    mqtt, key = actions._signing(context, who, device_id, "send answers")
    version = time.time_ns() // 1_000_000
    topics = Topics(device_id, mqtt.topic_prefix)
    signed = [sign_answer(session_id, a.kind, a.value, device_id=device_id, version=version, key=key) for a in answers]
    sent_at = now_iso()  # before the device can answer: its next person/status is later
    async with TherapistConnection(mqtt, identifier=client_id("answer")) as conn:
        for message in signed:
            topic = person_answer_topic(topics, session_id, message.kind)
            await conn.publish(topic, message.to_json(), qos=1, retain=True)
    await run_in_threadpool(clinic_answers.record_sent, context.engine, signed, person=person, sent_by=who.name,
                            sent_at=sent_at)
    for message in signed:
        detail = {"person": person, "session_id": session_id, "kind": message.kind, "value": message.value}
        actions.audit(
            context.engine,
            who,
            "person_answer",
            device_id,
            {**detail, "version": version, "request_id": message.request_id},
        )
    return version


async def person_answer(request: Request) -> Response:
    person = _person(request)
    who = user(request)
    if not who.may_change:
        return PlainTextResponse("viewers cannot send answers", status_code=403)
    form = await request.form()
    session_id = str(form.get("session_id") or "")
    context = ctx(request)
    device_id = await run_in_threadpool(session_device, context, person, session_id) if session_id else None
    if device_id is None:
        return PlainTextResponse(f"no session {session_id!r} of this person", status_code=404)
    answers, errors = read_answers(form)
    if errors:
        return await _history(request, 400, answer_errors=errors, answer_session=session_id)
    try:
        version = await send_answers(context, who, device_id, person, session_id, answers)
    except PresspointError as err:
        return await _history(request, 502, problem=str(err))
    sent = ", ".join(f"{a.kind} {a.value}" for a in answers)
    return await _history(request, answered=f"{sent} for session {session_id} (signed, version {version})")


ROUTES = [Route("/persons/{person}/answer", person_answer, methods=["POST"])]
