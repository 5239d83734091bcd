"""What changes things: pushing a signed plan, clearing a flag or resetting a course, erasing - each audit-logged.

The key is read from the server's ``keys_dir`` for each push and never leaves
this process; the browser sees only the device's answer.  Pushing is the
terminal's ``therapist plan push`` (``push_plan``), so both sign and wait
for the answer the same way.
"""

from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from config.errors import PresspointError
from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.clinic import schema as t
from firmware.clinic.auth import User
from firmware.clinic.context import ClinicContext
from firmware.clinic.ingest import now_iso
from firmware.clinic.login_limit import LOGIN_ACTIONS
from firmware.outcomes.records import Flag
from firmware.protocol.person import person_clear_topic, sign_clear
from firmware.protocol.plan_envelope import DeviceKey, load_key
from firmware.protocol.topics import Topics
from firmware.therapist.connection import TherapistConnection, client_id
from firmware.therapist.push import PushOutcome, push_plan


class NotAllowed(PresspointError):
    """A viewer tried to change something."""


def audit(engine: Engine, who: User, action: str, device_id: str | None, detail: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(
            t.audit_log.insert().values(
                at=now_iso(), user_name=who.name, action=action, device_id=device_id, detail=json.dumps(detail)
            )
        )


def audit_entries(engine: Engine, limit: int = 100) -> list[dict[str, Any]]:
    """What was changed, newest first (login attempts are kept in the same table for the rate limit)."""
    query = (
        sa.select(t.audit_log)
        .where(t.audit_log.c.action.not_in(LOGIN_ACTIONS))
        .order_by(t.audit_log.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def _signing(context: ClinicContext, who: User, device_id: str, what: str) -> tuple[MqttSettings, DeviceKey]:
    """The broker and the server-held key of ``device_id``, for a therapist."""
    if not who.may_change:
        raise NotAllowed(f"viewers cannot {what}")
    if context.mqtt is None:
        raise PresspointError(f"no broker configured (--broker): cannot {what}")
    key_file = context.key_file(device_id)
    if key_file is None:
        raise PresspointError("no keys_dir configured: the server holds no plan keys")
    return context.mqtt, load_key(key_file)


async def push(context: ClinicContext, who: User, device_id: str, plan: TherapyPlan) -> PushOutcome:
    mqtt, key = _signing(context, who, device_id, "push plans")
    outcome = await push_plan(
        mqtt, device_id=device_id, plan=plan, key=key, timeout_s=context.settings.push_timeout_s
    )
    audit(
        context.engine,
        who,
        "plan_push",
        device_id,
        {"version": outcome.version, "status": outcome.status, "message": outcome.message, "plan": plan.model_dump()},
    )
    return outcome


async def clear_flag(context: ClinicContext, who: User, device_id: str, person: str, flag: Flag) -> int:
    """Sign and publish a clear of ``flag`` for ``device_id``; its version.

    ``soreness_not_improving`` lifts the refusal; ``reevaluate`` is a course
    reset (the therapist has reevaluated: the device starts a new course).
    Retained, QoS 1, like a plan: an offline device gets it when it connects
    and refuses a replay by the version, which is the time in milliseconds -
    rising across restarts and instances.
    """
    what = "reset courses" if flag is Flag.REEVALUATE else "clear flags"
    mqtt, key = _signing(context, who, device_id, what)
    signed = sign_clear(flag, device_id=device_id, version=time.time_ns() // 1_000_000, key=key)
    topic = person_clear_topic(Topics(device_id, mqtt.topic_prefix))
    async with TherapistConnection(mqtt, identifier=client_id("clear")) as conn:
        await conn.publish(topic, signed.to_json(), qos=1, retain=True)
    audit(
        context.engine,
        who,
        "course_reset" if flag is Flag.REEVALUATE else "person_clear",
        device_id,
        {"person": person, "flag": flag.value, "version": signed.version, "request_id": signed.request_id},
    )
    return signed.version


def erase_person(engine: Engine, who: User | None, person: str) -> int:
    """Delete every session and measurement of ``person``; the number of sessions erased."""
    if who is not None and not who.may_change:
        raise NotAllowed("viewers cannot erase data")
    with engine.begin() as conn:
        ids = select_ids = sa.select(t.sessions.c.session_id).where(t.sessions.c.person == person)
        count = len(conn.execute(ids).all())
        for table in (t.events, t.sample_batches):
            conn.execute(table.delete().where(table.c.session_id.in_(select_ids)))
        conn.execute(t.sessions.delete().where(t.sessions.c.person == person))
        conn.execute(t.ppt.delete().where(t.ppt.c.person == person))
        conn.execute(t.clinic_answers.delete().where(t.clinic_answers.c.person == person))
        conn.execute(
            t.audit_log.insert().values(
                at=now_iso(),
                user_name=who.name if who is not None else "(command line)",
                action="person_erase",
                device_id=None,
                detail=json.dumps({"person": person, "sessions": count}),
            )
        )
    return count
