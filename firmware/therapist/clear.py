"""``presspoint therapist person-clear --device ID FLAG`` and ``course-reset``: the therapist's signed clears.

``course-reset`` is the clear of ``reevaluate``: the therapist has
reevaluated, and the device starts a new course (its baseline comes from the
next rated session).

Signed like a plan (``firmware.protocol.person.sign_clear`` over the plan
envelope's canonical JSON and HMAC, with the device's plan key) and published
retained, QoS 1, to ``<p>/<device>/person/clear``: a device that is offline
gets it when it connects.  Without ``--version`` the version is one above the
``clear_version`` of the device's retained ``person/status``.  The answer is
the device's next ``person/status`` with that version (cleared) or a
``person_clear_refused`` event for its ``request_id`` (refused); either way
the retained clear is then taken off the broker.

Exit codes: 0 cleared, 2 refused or no answer in time.  Parsing imports
nothing heavy: the MQTT client is loaded only when the command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.errors import PresspointError

if TYPE_CHECKING:  # the models load when a clear is sent, not when the CLI registers the command
    from config.mqtt import MqttSettings
    from firmware.protocol.plan_envelope import DeviceKey

EXIT_CLEARED = 0
EXIT_NOT_CLEARED = 2
CLEARABLE = ("soreness_not_improving", "reevaluate")

Command = Callable[[str, str], Callable[[argparse.Namespace], int]]


def register(
    tsub: argparse._SubParsersAction[Any], command: Command, broker_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """``therapist person-clear`` and ``therapist course-reset``, for ``firmware.cli.therapist``."""
    clear = tsub.add_parser("person-clear", help="clear a person's flag on a device with a signed message")
    clear.add_argument("flag", help="soreness_not_improving, or reevaluate (starts a new course)")
    reset = tsub.add_parser("course-reset", help="start a new course on a device (signed): you have reevaluated")
    reset.set_defaults(flag="reevaluate")
    for parser in (clear, reset):
        parser.add_argument("--device", required=True, help="device id")
        parser.add_argument("--key", required=True, type=Path, help="the device's plan key file (from keygen)")
        parser.add_argument("--version", type=int, help="clear version (default: one above the device's)")
        parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the answer (default 15)")
        broker_options(parser)
        parser.set_defaults(func=command("cmd_person_clear", "clear"))


@dataclass(frozen=True)
class ClearOutcome:
    cleared: bool
    version: int
    message: str


def refusal_for(payload: bytes, request_id: str) -> str | None:
    """The reason of a ``person_clear_refused`` event for ``request_id``, else ``None``."""
    try:
        event = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != "person_clear_refused":
        return None
    if event.get("request_id") == request_id:
        return str(event.get("reason"))
    return None


async def send_clear(
    settings: MqttSettings,
    *,
    device_id: str,
    flag: str,
    key: DeviceKey,
    version: int | None = None,
    timeout_s: float = 15.0,
    sync_timeout_s: float = 2.0,
) -> ClearOutcome:
    """Sign and publish a clear of ``flag`` for ``device_id``; wait (bounded) for the device's answer."""
    from firmware.protocol.payloads import parse_or_none
    from firmware.protocol.person import (
        PersonStatus,
        person_clear_topic,
        person_event_topic,
        person_status_topic,
        sign_clear,
    )
    from firmware.protocol.topics import Topics
    from firmware.therapist.connection import TherapistConnection, client_id, latest_valid, payload_bytes

    topics = Topics(device_id, settings.topic_prefix)
    status_topic, clear_topic, event_topic = (
        person_status_topic(topics),
        person_clear_topic(topics),
        person_event_topic(topics),
    )
    async with TherapistConnection(settings, identifier=client_id("person-clear")) as conn:
        await conn.subscribe([status_topic, event_topic])
        current = latest_valid(await conn.sync(sync_timeout_s), status_topic, PersonStatus)
        if version is None:
            version = (current.clear_version if current is not None else 0) + 1
        clear = sign_clear(flag, device_id=device_id, version=version, key=key)
        await conn.publish_retained(clear_topic, clear.to_json())
        async for received in conn.within(timeout_s):
            payload = payload_bytes(received)
            if received.topic.matches(status_topic):
                status = parse_or_none(PersonStatus, payload)
                if status is not None and status.clear_version >= version:
                    await conn.clear_retained(clear_topic)  # used: off the broker
                    return ClearOutcome(True, version, f"{device_id}: {flag} cleared (signed clear version {version})")
            elif (reason := refusal_for(payload, clear.request_id)) is not None:
                await conn.clear_retained(clear_topic)
                return ClearOutcome(False, version, f"{device_id} refused the clear: {reason}")
    return ClearOutcome(
        False,
        version,
        f"no answer from {device_id} within {timeout_s:g} s (device offline?); the signed clear stays retained "
        "on the broker and the device applies it when it connects",
    )


def cmd_person_clear(args: argparse.Namespace) -> int:
    from firmware.protocol.plan_envelope import load_key
    from firmware.therapist.connection import resolve_settings
    from firmware.therapist.session_ref import device_ref

    if args.flag not in CLEARABLE:
        raise PresspointError(f"flag {args.flag!r}: only {', '.join(CLEARABLE)} can be cleared")
    device_id = device_ref(args.device)
    settings, _ = resolve_settings(args.broker, args.config)
    key = load_key(args.key)
    outcome = asyncio.run(
        send_clear(
            settings, device_id=device_id, flag=args.flag, key=key, version=args.version, timeout_s=args.timeout
        )
    )
    print(outcome.message, file=sys.stdout if outcome.cleared else sys.stderr)
    return EXIT_CLEARED if outcome.cleared else EXIT_NOT_CLEARED
