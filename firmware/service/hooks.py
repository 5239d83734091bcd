"""The daemon's hooks on a real device: the person's profile, the store and MQTT.

* the gate (``start_gate``, which ``presspoint simulate`` applies too): an
  uncalibrated load cell refuses; a profile's contraindications and personal
  tolerance decide the plan (``config.profile.check_start``); the person's
  outcomes may refuse too (soreness not improving);
* the long-hold gesture: the person lowers their own tolerance one step;
* news: trials and refusals go to the outbox, the status to MQTT; after each
  session the course is updated (``firmware.service.person_outcomes``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from config.device import DeviceConfig
from config.plan import TherapyPlan
from config.profile import PptProtocol, Profile, check_start, step_down_tolerance
from firmware.algometry.measurement import MeasurementResult
from firmware.device.contracts import DaemonHooks
from firmware.mqtt.service import MqttService
from firmware.outcomes.store import OutcomeStore
from firmware.plans.personal_tolerance import PersonalToleranceStore, apply_stored
from firmware.plans.service import PlanInForce
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.person import person_answer_filter, person_clear_topic
from firmware.protocol.plan_envelope import DeviceKey
from firmware.protocol.ppt import ppt_payload, ppt_topic
from firmware.realtime.sinks import SessionSink
from firmware.service.person_outcomes import OutcomeSink, PersonOutcomes
from firmware.session.states import Cue
from firmware.storage.ppt_history import PptHistory, measured_spots

if TYPE_CHECKING:
    from firmware.mqtt.service import MqttService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalPlan:
    """The plan to run while no remote plan is in force, and where it came from (for people)."""

    plan: TherapyPlan
    origin: str


def local_plan(device: DeviceConfig, plan: TherapyPlan, profile: Profile | None, *, cli_plan: Path | None) -> LocalPlan:
    """A plan file (``--plan``, then ``plan_file``) wins over the profile's plan, which wins over the default."""
    if cli_plan is not None:
        return LocalPlan(plan, f"--plan {cli_plan}")
    if device.plan_file is not None:
        return LocalPlan(plan, f"plan_file {device.plan_file}")
    if profile is not None:
        return LocalPlan(profile.plan, f"profile {device.profile_file}")
    return LocalPlan(plan, "the default plan")


def report_plan_in_force(service: MqttService, in_force: PlanInForce, local_origin: str) -> None:
    """Say which plan is in force: one log line, and ``plan_source``/``plan_version`` in ``status/info``."""
    log.info("%s", in_force.describe(local_origin))
    if service.publisher is not None:
        service.publisher.update_status(plan_source=in_force.source, plan_version=in_force.version)


def start_gate(
    plan: TherapyPlan,
    *,
    profile: Profile | None,
    tolerances: PersonalToleranceStore,
    device_max_n: float,
    calibrated: bool = True,
) -> TherapyPlan | str:
    """May a session start under ``plan``?  The plan to run (personal tolerance applied), or why not.

    The reason is the bare sentence; whoever reports it says "session refused" once.
    """
    if not calibrated:
        return "the load cell is not calibrated: run presspoint calibrate"
    if profile is None:
        return plan
    person = apply_stored(profile, tolerances, plan, device_max_n)
    decision = check_start(person, plan, device_max_n)
    if decision.plan is None:
        return "; ".join(reason.text for reason in decision.reasons)
    return decision.plan


class ServiceHooks(DaemonHooks):
    """Gate, gesture and news for ``presspoint run``."""

    def __init__(
        self,
        *,
        device: DeviceConfig,
        service: MqttService,
        profile: Profile | None,
        plan_in_force: Callable[[], TherapyPlan],
        calibrated: bool,
        plan_version: Callable[[], int] = lambda: 0,
        key: DeviceKey | None = None,
    ) -> None:
        self.device = device
        self.service = service
        self.profile = profile
        self.plan_in_force = plan_in_force
        self.calibrated = calibrated
        self.tolerances = PersonalToleranceStore(device.storage.state_dir)
        self.trial_payloads: list[bytes] = []
        self.outcome_sink: OutcomeSink | None = None
        self.ppt_history = PptHistory(device.storage.state_dir)
        self.outcomes = PersonOutcomes(
            store=OutcomeStore(device.storage.state_dir),
            profile=profile,
            device_id=device.device_id,
            topics=service.topics,
            enqueue=service.writer.enqueue,
            plan_version=plan_version,
            key=key,
        )
        if profile is not None:
            self.outcomes.publish()
        if service.publisher is not None:
            service.publisher.subscribe(person_clear_topic(service.topics), self.outcomes.on_message)
            service.publisher.subscribe(person_answer_filter(service.topics), self.outcomes.on_answer)

    def gate(self, plan: TherapyPlan) -> TherapyPlan | str:
        decision = start_gate(
            plan,
            profile=self.profile,
            tolerances=self.tolerances,
            device_max_n=self.device.device_max,
            calibrated=self.calibrated,
        )
        if isinstance(decision, str):
            return decision
        refusal = self.outcomes.refusal()
        if refusal is not None:
            return refusal
        return decision

    def start_cues(self) -> list[Cue]:
        """Cues for an admitted start: ``see_therapist`` while the course says reevaluate."""
        reason = self.outcomes.see_therapist()
        if reason is None:
            return []
        log.warning("see your therapist: %s", reason)
        return [Cue.SEE_THERAPIST]

    def session_sink(self, inner: SessionSink) -> OutcomeSink:
        """``inner`` with the outcomes added to each summary (ratings, course)."""
        self.outcome_sink = OutcomeSink(inner, self.outcomes)
        return self.outcome_sink

    def pain_rated(self, moment: str, rating: int | None) -> None:
        """A rating entered on the device: before the next session, or after the one that just ended."""
        if moment == "before":
            self.outcomes.pain_before = rating
        elif self.outcome_sink is not None:
            self.outcome_sink.rated_after(rating)

    def follow_up_answered(self, session_id: str, answer: str) -> None:
        self.outcomes.device_answer(session_id, answer)

    def realtime_finished(self) -> None:
        """The real-time process is done: a summary still waiting for its rating is stored without."""
        if self.outcome_sink is not None:
            self.outcome_sink.flush()

    def sinks(self) -> Sequence[SessionSink]:
        return [self.service.sink]

    def status(self, **fields: object) -> None:
        if self.service.publisher is not None:
            self.service.publisher.update_status(**fields)

    def takes_hold_gesture(self) -> bool:
        return True

    async def hold_gesture(self) -> Cue:
        return self.lower_tolerance()

    def lower_tolerance(self) -> Cue:
        """The long-hold gesture: the person lowers their own tolerance one step."""
        if self.profile is None or self.device.profile_file is None:
            log.warning("tolerance gesture ignored: no profile_file in the device config")
            return Cue.REFUSED
        plan = self.plan_in_force()
        person = apply_stored(self.profile, self.tolerances, plan, self.device.device_max)
        change = step_down_tolerance(person, plan=plan, device_max_n=self.device.device_max)
        if not change.ok:
            log.warning("%s", change.reason)
            return Cue.REFUSED
        self.tolerances.save(change.profile.personal_tolerance)
        log.info("%s (by the person, on the device)", change.reason)
        return Cue.ENTERED_BAND

    def trial_ended(self, result: MeasurementResult) -> None:
        """Each spot measured in full: against the last one there, kept as the new last, published."""
        profile = self.profile
        for m in measured_spots(
            result,
            history=self.ppt_history,
            person=profile.name if profile is not None else None,
            protocol=profile.ppt if profile is not None else PptProtocol(),
            device_id=self.device.device_id,
        ):
            payload = ppt_payload(m)
            self.trial_payloads.append(payload)
            self.service.writer.enqueue(ppt_topic(self.service.topics), payload, qos=1, retain=True)

    def refused(self, reason: str) -> None:
        """A refused start is an event too (not tied to a session): ``<prefix>/<device>/event``."""
        self.outcomes.pain_before = None  # a rating before a refused start is not the next session's
        event = {"type": "session_refused", "device_id": self.device.device_id, "reason": reason, "at": utc_now_iso()}
        self.service.writer.enqueue(f"{self.service.topics.base}/event", json.dumps(event).encode("utf-8"), qos=1)
