"""``presspoint therapist plan push``: sign a plan, publish it, wait for the device's answer.

The signed envelope goes to ``plan/set`` *retained*, QoS 1: a device that is
offline gets it when it next connects (its connection starts clean, so a
plain message would be lost), and repeats are harmless - the device answers
an identical copy of its plan in force with ``unchanged``.  A refused plan
is cleared from ``plan/set`` so it is not re-judged at every reconnect.

Without ``--version`` the next version is one above what the device's
retained ``plan/state`` says (including a plan queued behind a running
session).  The answer is matched by the envelope's ``request_id``, so a
stale retained ``plan/error`` from an earlier push is never mistaken for
this one's.

Exit codes: 0 applied (or already in force), 2 refused or no answer in
time, 3 accepted but queued behind a running session when the wait ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from config.units import kgf
from firmware.protocol.plan_envelope import DeviceKey, SignedPlan, sign_plan
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.topics import Topics
from firmware.therapist.connection import TherapistConnection, client_id, payload_bytes

EXIT_APPLIED = 0
EXIT_REFUSED = 2
EXIT_QUEUED = 3

Status = Literal["applied", "unchanged", "queued", "refused", "timeout"]


@dataclass(frozen=True)
class PushOutcome:
    status: Status
    version: int
    message: str
    state: PlanState | None = None
    error: PlanError | None = None

    @property
    def exit_code(self) -> int:
        if self.status in ("applied", "unchanged"):
            return EXIT_APPLIED
        if self.status == "queued":
            return EXIT_QUEUED
        return EXIT_REFUSED


def parse_state(payload: bytes) -> PlanState | None:
    if not payload:
        return None
    try:
        return PlanState.model_validate_json(payload)
    except ValidationError:
        return None


def parse_error(payload: bytes) -> PlanError | None:
    if not payload:
        return None
    try:
        return PlanError.model_validate_json(payload)
    except ValidationError:
        return None


def describe_plan(plan: dict[str, object]) -> str:
    def n(key: str) -> str:
        value = plan.get(key)
        return f"{value:.2f} N ({value / kgf(1):.2f} kgf)" if isinstance(value, float | int) else "?"

    band = plan.get("band")
    band_text = f" ±{band:.0%}" if isinstance(band, float | int) else ""
    return f"target {n('target')}{band_text}, tolerance {n('tolerance')}, therapist max {n('therapist_max')}"


def next_version(state: PlanState | None) -> int:
    """One above everything the device holds (in force or queued)."""
    if state is None:
        return 1
    return max(state.version, state.pending_version or 0) + 1


async def push_plan(
    settings: MqttSettings,
    *,
    device_id: str,
    plan: TherapyPlan,
    key: DeviceKey,
    version: int | None = None,
    timeout_s: float = 15.0,
    sync_timeout_s: float = 2.0,
    note: Callable[[str], None] = lambda _text: None,
) -> PushOutcome:
    """Sign and publish ``plan`` for ``device_id`` and wait (bounded) for ``plan/state`` or ``plan/error``."""
    topics = Topics(device_id, settings.topic_prefix)
    async with TherapistConnection(settings, identifier=client_id("push")) as conn:
        await conn.subscribe([topics.plan_state, topics.plan_error])
        current: PlanState | None = None
        for message in await conn.sync(sync_timeout_s):
            if message.topic.matches(topics.plan_state):
                current = parse_state(payload_bytes(message)) or current
        if version is None:
            version = next_version(current)
        envelope: SignedPlan = sign_plan(plan, device_id=device_id, version=version, key=key)
        request_id = envelope.request_id
        await conn.publish(topics.plan_set, envelope.to_json(), qos=1, retain=True)
        note(f"plan version {version} signed (key {key.key_id}) and published to {topics.plan_set}")

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        queued: PlanState | None = None
        while (remaining := deadline - loop.time()) > 0:
            received = await conn.next(remaining)
            if received is None:
                break
            payload = payload_bytes(received)
            if received.topic.matches(topics.plan_state):
                state = parse_state(payload)
                if state is None:
                    continue
                if state.request_id == request_id and state.version == version:
                    return PushOutcome(
                        "applied",
                        version,
                        f"{device_id} applied plan version {version}: {describe_plan(state.plan)}",
                        state=state,
                    )
                if state.pending_request_id == request_id and queued is None:
                    queued = state
                    note(
                        f"{device_id} accepted plan version {version}; a session is running, "
                        "it applies when the session ends"
                    )
            elif received.topic.matches(topics.plan_error):
                error = parse_error(payload)
                if error is not None and error.request_id == request_id:
                    # Never leave a refused plan retained: the device would re-judge it at every reconnect.
                    await conn.publish(topics.plan_set, b"", qos=1, retain=True)
                    return PushOutcome(
                        "refused",
                        version,
                        f"{device_id} refused plan version {version} [{error.code}]: {error.reason} "
                        f"(version in force: {error.version_in_force})",
                        error=error,
                    )
        if queued is not None:
            return PushOutcome(
                "queued",
                version,
                f"{device_id} accepted plan version {version} but a session is running; it applies when the "
                f"session ends (not yet within {timeout_s:g} s)",
                state=queued,
            )
        return PushOutcome(
            "timeout",
            version,
            f"no answer from {device_id} within {timeout_s:g} s (device offline?); the signed plan stays retained "
            f"on the broker and the device applies it when it connects",
        )


async def show_plan(
    settings: MqttSettings, *, device_id: str, sync_timeout_s: float = 2.0
) -> tuple[PlanState | None, PlanError | None]:
    """The device's retained ``plan/state`` and last ``plan/error``."""
    topics = Topics(device_id, settings.topic_prefix)
    state: PlanState | None = None
    error: PlanError | None = None
    async with TherapistConnection(settings, identifier=client_id("show")) as conn:
        await conn.subscribe([topics.plan_state, topics.plan_error])
        for message in await conn.sync(sync_timeout_s):
            if message.topic.matches(topics.plan_state):
                state = parse_state(payload_bytes(message)) or state
            elif message.topic.matches(topics.plan_error):
                error = parse_error(payload_bytes(message)) or error
    return state, error
