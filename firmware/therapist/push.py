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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.protocol.payloads import parse_or_none
from firmware.protocol.plan_envelope import DeviceKey, SignedPlan, sign_plan
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.topics import Topics
from firmware.therapist.connection import TherapistConnection, client_id, latest_valid, payload_bytes
from firmware.therapist.readable import force

EXIT_APPLIED = 0
EXIT_REFUSED = 2
EXIT_QUEUED = 3

Status = Literal["applied", "unchanged", "queued", "refused", "timeout", "unknown_device"]


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


def plan_lines(plan: dict[str, object]) -> list[str]:
    """The whole plan in force, as a therapist reads it: schedule, forces, limits and timing."""

    def n(key: str) -> str:
        value = plan.get(key)
        return force(float(value)) if isinstance(value, float | int) else "?"

    def v(key: str, fmt: str = "g") -> str:
        value = plan.get(key)
        return format(value, fmt) if _number(value) else "?"

    band = plan.get("band")
    band_text = f" ±{band:.0%}" if _number(band) else ""
    return [
        f"holds   {v('repetitions')} × {v('hold_s')} s at {n('target')}{band_text}, rest {v('rest_s')} s, "
        f"{v('breaths_per_min')} breaths/min",
        f"limits  tolerance {n('tolerance')}, therapist max {n('therapist_max')}",
        f"timing  contact at {n('contact_threshold')}, release grace {v('release_grace_s')} s, "
        f"abort debounce {v('abort_debounce_ms')} ms, wait for contact at most {v('max_wait_for_contact_s')} s",
    ]


def describe_plan(plan: dict[str, object], indent: str = "  ") -> str:
    return "\n".join(indent + line for line in plan_lines(plan))


def _number(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


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
    require_known: bool = False,
    note: Callable[[str], None] = lambda _text: None,
) -> PushOutcome:
    """Sign and publish ``plan`` for ``device_id`` and wait (bounded) for ``plan/state`` or ``plan/error``.

    ``require_known``: publish nothing unless the device has ever said it is
    there (a retained ``status``), so a typo in the id leaves no retained plan
    that no device will ever take.
    """
    topics = Topics(device_id, settings.topic_prefix)
    async with TherapistConnection(settings, identifier=client_id("push")) as conn:
        await conn.subscribe([topics.plan_state, topics.plan_error, status_filter(settings.topic_prefix)])
        synced = await conn.sync(sync_timeout_s)
        current = latest_valid(synced, topics.plan_state, PlanState)
        known = {
            device
            for message in synced
            if (device := status_device(str(message.topic), settings.topic_prefix)) and payload_bytes(message)
        }
        if require_known and device_id not in known:
            return PushOutcome("unknown_device", 0, unknown_device_message(device_id, known, settings))
        if version is None:
            version = next_version(current)
        envelope: SignedPlan = sign_plan(plan, device_id=device_id, version=version, key=key)
        request_id = envelope.request_id
        await conn.publish_retained(topics.plan_set, envelope.to_json())
        note(f"plan version {version} signed (key {key.key_id}) and published to {topics.plan_set}")

        queued: PlanState | None = None
        async for received in conn.within(timeout_s):
            payload = payload_bytes(received)
            if received.topic.matches(topics.plan_state):
                state = parse_or_none(PlanState, payload)
                if state is None:
                    continue
                if state.request_id == request_id and state.version == version:
                    return PushOutcome(
                        "applied",
                        version,
                        f"{device_id} applied plan version {version}:\n{describe_plan(state.plan)}",
                        state=state,
                    )
                if state.pending_request_id == request_id and queued is None:
                    queued = state
                    note(
                        f"{device_id} accepted plan version {version}; a session is running, "
                        "it applies when the session ends"
                    )
            elif received.topic.matches(topics.plan_error):
                error = parse_or_none(PlanError, payload)
                if error is not None and error.request_id == request_id:
                    # Never leave a refused plan retained: the device would re-judge it at every reconnect.
                    await conn.clear_retained(topics.plan_set)
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


def status_filter(prefix: str) -> str:
    """Every device's retained availability (``online``/``offline``): who has ever connected."""
    return f"{prefix}/+/status"


def status_device(topic: str, prefix: str) -> str | None:
    """The device id of a ``<prefix>/<device>/status`` topic, else ``None``."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == prefix and parts[2] == "status":
        return parts[1]
    return None


def unknown_device_message(device_id: str, known: set[str], settings: MqttSettings) -> str:
    seen = ", ".join(sorted(known)) if known else "none"
    return (
        f"device {device_id!r} is unknown on {settings.display_url()}: it never published "
        f"{settings.topic_prefix}/{device_id}/status (a typo? known devices: {seen}); nothing was published. "
        "Use --force for a device that has not connected yet"
    )


async def clear_plan(
    settings: MqttSettings, *, device_id: str, sync_timeout_s: float = 2.0
) -> SignedPlan | bytes | None:
    """Remove the retained ``plan/set`` of ``device_id`` from the broker (an empty retained message).

    Returns what was retained: the envelope, the raw bytes if it was not one,
    or ``None`` when nothing was (then nothing is published).  A device
    ignores an empty ``plan/set``; its plan in force stays.
    """
    topics = Topics(device_id, settings.topic_prefix)
    found: SignedPlan | bytes | None = None
    async with TherapistConnection(settings, identifier=client_id("clear")) as conn:
        await conn.subscribe([topics.plan_set])
        for message in await conn.sync(sync_timeout_s):
            payload = payload_bytes(message)
            if message.topic.matches(topics.plan_set) and payload:
                try:
                    found = SignedPlan.model_validate_json(payload)
                except ValidationError:
                    found = payload
        if found is not None:
            await conn.clear_retained(topics.plan_set)
    return found


async def show_plan(
    settings: MqttSettings, *, device_id: str, sync_timeout_s: float = 2.0
) -> tuple[PlanState | None, PlanError | None]:
    """The device's retained ``plan/state`` and last ``plan/error``."""
    topics = Topics(device_id, settings.topic_prefix)
    async with TherapistConnection(settings, identifier=client_id("show")) as conn:
        await conn.subscribe([topics.plan_state, topics.plan_error])
        synced = await conn.sync(sync_timeout_s)
    return latest_valid(synced, topics.plan_state, PlanState), latest_valid(synced, topics.plan_error, PlanError)
