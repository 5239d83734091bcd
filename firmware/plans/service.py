"""The plan updater on MQTT, and the session bracket that keeps plans from changing mid-session.

It reuses the device's ``Publisher`` connection (``subscribe`` +
``set_retained``) rather than a second client: one client id and ACL identity
per device, one reconnect loop, and ``plan/state`` is re-published on every
reconnect by the publisher's retained-state machinery.  That connection
starts clean, so a push made while the device is offline is not queued for it
by the broker - which is why the therapist CLI publishes ``plan/set``
*retained*: the device gets the latest signed plan when it connects, and
repeats are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from config.plan import TherapyPlan
from firmware.plans.updater import PlanUpdater, UpdateResult, UpdateStatus
from firmware.protocol.payloads import dump
from firmware.protocol.plan_envelope import DEFAULT_DEVICE_KEY_FILE, DeviceKey, KeyFileError, load_key
from firmware.protocol.topics import Topics

log = logging.getLogger("presspoint.plan")


class ReceivedMessage(Protocol):
    @property
    def payload(self) -> Any: ...


class RetainedTransport(Protocol):
    """What the service needs from an MQTT connection (``firmware.mqtt.publisher.Publisher`` has it)."""

    def subscribe(self, topic_filter: str, handler: Callable[[Any], Awaitable[None] | None]) -> None: ...

    def set_retained(self, topic: str, payload: bytes | None) -> None: ...


@dataclass(frozen=True)
class PlanInForce:
    """Which plan a session started now would run: the local one (version 0) or a remote one."""

    source: Literal["local", "remote"]
    version: int

    def describe(self, local_origin: str) -> str:
        """One line for the log; ``local_origin`` says where the local plan came from."""
        if self.source == "remote":
            return f"plan in force: remote version {self.version} (pushed by the therapist), overriding {local_origin}"
        return f"plan in force: local, from {local_origin} (no remote plan stored)"


class PlanUpdateService:
    """Thread-safe: MQTT messages arrive on the publisher's thread, sessions start and end on the
    session loop; one lock orders them, so a push can never slip in between reading the plan and
    marking the session running."""

    def __init__(
        self,
        updater: PlanUpdater,
        topics: Topics,
        *,
        on_applied: Callable[[TherapyPlan, int], None] | None = None,
    ) -> None:
        self.updater = updater
        self.topics = topics
        self._on_applied = on_applied
        self._lock = threading.RLock()  # re-entrant: on_applied may ask the service for its state
        self._running = False
        self._transport: RetainedTransport | None = None
        self.results: list[UpdateResult] = []  # last few, for status and tests
        self._changed = threading.Condition(self._lock)
        # A plan queued during a session that a crash or power cut interrupted: no session runs now.
        with self._lock:
            started = self.updater.apply_pending()
            if started is not None:
                self._publish(started)

    def attach(self, transport: RetainedTransport) -> None:
        """Subscribe to ``plan/set`` and publish the current ``plan/state`` (retained)."""
        self._transport = transport
        transport.set_retained(self.topics.plan_state, dump(self.updater.state()))
        transport.subscribe(self.topics.plan_set, self._on_message)

    async def _on_message(self, message: ReceivedMessage) -> None:
        raw = message.payload
        payload = raw if isinstance(raw, bytes | bytearray) else str(raw).encode("utf-8")
        await asyncio.to_thread(self.receive, bytes(payload))

    def receive(self, payload: bytes) -> UpdateResult:
        """Handle one ``plan/set`` payload and publish the answer."""
        with self._lock:
            result = self.updater.handle(payload, session_running=self._running)
            self._publish(result)
        return result

    def begin_session(self) -> TherapyPlan:
        """Mark a session running and return the plan it must use (atomically)."""
        with self._lock:
            self._running = True
            return self.updater.plan

    @contextlib.contextmanager
    def session(self) -> Iterator[TherapyPlan]:
        """``with service.session() as plan:`` around everything from choosing the plan to the
        session's end - including a refusal or a failed tare - so a queued plan is never left waiting
        for a session that did not happen."""
        plan = self.begin_session()
        try:
            yield plan
        finally:
            self.end_session()

    def end_session(self) -> UpdateResult | None:
        """Mark the session over and apply a plan queued during it, if any."""
        with self._lock:
            self._running = False
            result = self.updater.apply_pending()
            if result is not None:
                self._publish(result)
        return result

    def in_force(self) -> PlanInForce:
        """Which plan is in force now (thread-safe)."""
        with self._lock:
            state = self.updater.state()
        return PlanInForce(state.source, state.version)

    def close(self) -> None:
        """At exit: write what the audit still only counts."""
        with self._lock:
            self.updater.close()

    @property
    def session_running(self) -> bool:
        return self._running

    def wait_for(self, predicate: Callable[[list[UpdateResult]], bool], timeout_s: float) -> bool:
        """Block (bounded) until ``predicate(results)``; for tests and the CLI."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.results), timeout_s)

    def _publish(self, result: UpdateResult) -> None:
        self.results = [*self.results[-31:], result]
        self._changed.notify_all()
        transport = self._transport
        if result.status is UpdateStatus.IGNORED:
            return
        if result.status is UpdateStatus.REFUSED:
            if transport is not None:
                transport.set_retained(self.topics.plan_error, dump(self.updater.error(result)))
            return
        if transport is not None:
            transport.set_retained(self.topics.plan_state, dump(self.updater.state()))
            if result.status is UpdateStatus.APPLIED:
                transport.set_retained(self.topics.plan_error, None)
        if result.status is UpdateStatus.APPLIED and self._on_applied is not None:
            try:
                self._on_applied(self.updater.plan, self.updater.version)
            except Exception:
                log.exception("plan update: on_applied callback failed")


def build_plan_service(
    *,
    device_id: str,
    device_max_n: float,
    state_dir: Path,
    local_plan: TherapyPlan,
    topics: Topics,
    key_file: Path | None = DEFAULT_DEVICE_KEY_FILE,
    on_applied: Callable[[TherapyPlan, int], None] | None = None,
) -> PlanUpdateService:
    """The device's plan service; without a readable key every remote plan is refused (``no_key``).

    A missing key is logged once (path only, never contents) rather than
    stopping the device: it still runs its local or stored plan.
    """
    key: DeviceKey | None = None
    if key_file is not None:
        try:
            key = load_key(key_file)
        except KeyFileError as exc:
            log.warning("remote plans disabled: %s", exc)
    updater = PlanUpdater(
        device_id=device_id, device_max_n=device_max_n, key=key, state_dir=state_dir, local_plan=local_plan
    )
    return PlanUpdateService(updater, topics, on_applied=on_applied)
