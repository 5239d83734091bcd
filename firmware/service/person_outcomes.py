"""The person's outcomes in the service process: the start gate's say, the course after each session, MQTT.

The real-time process knows nothing of courses or follow-ups: its summary
passes through ``OutcomeSink`` on the way to the store, which adds the pain
ratings and the course and records the session.  Every change is published
through the outbox: ``person/status`` (retained) and each answered
``session/<sid>/follow_up`` (QoS 1, retained).  A signed clear arriving on
``person/clear`` is checked like a plan (key, device, rising version).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from config.errors import PresspointError, one_line
from config.profile import Profile
from firmware.outcomes.actions import (
    FinishedSession,
    answer_floor,
    apply_clinic_answer,
    apply_signed_clear,
    record_session,
)
from firmware.outcomes.follow_up import (
    CLOSES_AFTER,
    OPENS_AFTER,
    FollowUpError,
    answer,
    mark_published,
    next_follow_up,
    unpublished,
)
from firmware.outcomes.gate import see_therapist, start_refusal
from firmware.outcomes.records import Flag, FollowUpAnswer, PersonRecord
from firmware.outcomes.store import OutcomeStore
from firmware.protocol.person import (
    AnswerRefused,
    ClearRefused,
    check_answer,
    check_clear,
    check_floor,
    clear_refused_event,
    follow_up_message,
    follow_up_topic,
    person_event_topic,
    person_status,
    person_status_topic,
)
from firmware.protocol.plan_envelope import DeviceKey
from firmware.protocol.topics import Topics
from firmware.realtime.sinks import SessionInfo, SessionSink
from firmware.session.decisions import Decision
from firmware.session.summary import SessionSummary

log = logging.getLogger("presspoint.outcomes")


def new_course_id() -> str:
    return uuid.uuid4().hex[:12]

Enqueue = Callable[..., object]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True, eq=False)
class PersonOutcomes:
    """One person's outcomes on this device, for the service's hooks."""

    store: OutcomeStore
    profile: Profile | None
    device_id: str
    topics: Topics
    enqueue: Enqueue | None
    plan_version: Callable[[], int]
    key: DeviceKey | None = None
    now: Callable[[], datetime] = _utc_now
    #: Ratings for the next session (from the device's gesture or the clinic app).
    pain_before: int | None = field(default=None, init=False)
    pain_after: int | None = field(default=None, init=False)

    @property
    def asks_after(self) -> bool:
        """Does the device ask for a rating after each session?"""
        return self.profile is not None and self.profile.rate_pain

    def refusal(self) -> str | None:
        """Why the outcomes refuse a start now, or ``None``; an unreadable record refuses (it holds flags)."""
        if self.profile is None:
            return None
        try:
            record = self.store.load()
        except PresspointError as err:
            return f"the outcome record cannot be read ({one_line(err)})"
        refused = start_refusal(record, self.profile)
        return None if refused is None else refused.text

    def see_therapist(self) -> str | None:
        """Why the ``see_therapist`` cue plays at this start (the course says reevaluate), or ``None``."""
        if self.profile is None:
            return None
        try:
            return see_therapist(self.store.load(), self.profile)
        except PresspointError:
            return None

    def session_ended(self, summary: SessionSummary) -> SessionSummary:
        """The summary with ratings and the course, once the session is recorded in the course."""
        rated = summary.model_copy(update={"pain_before": self.pain_before, "pain_after": self.pain_after})
        self.pain_before = self.pain_after = None
        profile = self.profile
        if profile is None:
            return rated
        finished = FinishedSession(
            session_id=summary.session_id,
            ended_at=summary.started_at + timedelta(seconds=summary.duration_s),
            had_hold=bool(summary.holds),
            pain_before=rated.pain_before,
            pain_after=rated.pain_after,
        )
        status = self.store.change(
            lambda record: record_session(
                record,
                finished,
                person=profile.name,
                plan_version=self.plan_version(),
                reevaluate_after=profile.reevaluate_after,
                new_course_id=new_course_id(),
            )
        )
        self.publish()
        return rated.model_copy(update={"course": status})

    def next_follow_up(self) -> tuple[str, float, float] | None:
        """The follow-up the device asks about next: session id, seconds until its window opens and closes."""
        if self.profile is None:
            return None
        try:
            record = self.store.load()
        except PresspointError:
            return None
        now = self.now()
        found = next_follow_up(record, now)
        if found is None:
            return None
        session = found[0]
        elapsed = (now - session.ended_at).total_seconds()
        return session.session_id, OPENS_AFTER.total_seconds() - elapsed, CLOSES_AFTER.total_seconds() - elapsed

    def device_answer(self, session_id: str, reply: str) -> None:
        """The follow-up answered on the device: stored, then published (``session/<sid>/follow_up``)."""
        try:
            self.store.change(lambda r: answer(r, session_id, FollowUpAnswer(reply), now=self.now(), by="device"))
        except (FollowUpError, ValueError, PresspointError) as err:
            log.warning("follow-up of session %s from the device not recorded: %s", session_id, one_line(err))
            return
        log.info("follow-up of session %s answered on the device: %s", session_id, reply)
        self.publish()

    def publish(self) -> None:
        """``person/status`` and every follow-up not yet handed to the outbox (none without an outbox)."""
        if self.enqueue is None:
            return
        enqueue = self.enqueue
        record = self.store.load()
        sent = set()
        for session in unpublished(record):
            message = follow_up_message(session, device_id=self.device_id)
            payload = message.model_dump_json(by_alias=True).encode("utf-8")
            enqueue(follow_up_topic(self.topics, session.session_id), payload, qos=1, retain=True)
            sent.add(session.session_id)
        if sent:
            self.store.change(lambda r: (mark_published(r, sent), None))
        status = person_status(record, self.profile, device_id=self.device_id, now=self.now())
        enqueue(
            person_status_topic(self.topics), status.model_dump_json(by_alias=True).encode(), qos=1, retain=True
        )

    def receive_clear(self, payload: bytes) -> str:
        """A signed ``person/clear`` message: applied, or refused in the log; what happened, one line."""

        person = self.profile.name if self.profile is not None else None

        def edit(record: PersonRecord) -> tuple[PersonRecord, tuple[int, str]]:
            clear = check_clear(payload, device_id=self.device_id, key=self.key, floor=record.clear_floor)
            changed = apply_signed_clear(
                record, Flag(clear.flag), clear.version, person=person, now=self.now(), new_course_id=new_course_id()
            )
            return changed, (clear.version, clear.flag)

        try:
            version, flag = self.store.change(edit)
        except (ClearRefused, FollowUpError, PresspointError) as err:
            log.warning("person/clear: %s", one_line(err))
            if self.enqueue is not None:
                event = clear_refused_event(payload, one_line(err), device_id=self.device_id)
                self.enqueue(person_event_topic(self.topics), event, qos=1)
            return one_line(err)
        self.publish()
        log.info("%s cleared by the therapist (signed clear version %d)", flag, version)
        return f"cleared (version {version})"

    def receive_answer(self, payload: bytes) -> str:
        """A signed answer from the clinic app (a pain rating or a follow-up): applied, or refused in the
        log with a ``person_answer_refused`` event; what happened, one line."""

        def edit(record: PersonRecord) -> tuple[PersonRecord, str]:
            given = check_answer(payload, device_id=self.device_id, key=self.key)
            check_floor(given.version, answer_floor(record, given.session_id, given.kind), AnswerRefused)
            changed = apply_clinic_answer(
                record, given.session_id, given.kind, given.value, given.version, now=self.now()
            )
            return changed, f"{given.kind} of session {given.session_id}: {given.value} (version {given.version})"

        try:
            done = self.store.change(edit)
        except (ClearRefused, FollowUpError, PresspointError) as err:
            log.warning("person/answer: %s", one_line(err))
            if self.enqueue is not None:
                event = clear_refused_event(
                    payload, one_line(err), device_id=self.device_id, event_type="person_answer_refused"
                )
                self.enqueue(person_event_topic(self.topics), event, qos=1)
            return one_line(err)
        self.publish()
        log.info("answer from the clinic app applied: %s", done)
        return f"applied: {done}"

    def on_message(self, message: Any) -> None:
        payload = _payload(message)
        if payload:  # an empty message only takes a retained clear off the broker
            self.receive_clear(payload)

    def on_answer(self, message: Any) -> None:
        payload = _payload(message)
        if payload:  # an empty message only takes a retained answer off the broker
            self.receive_answer(payload)


def _payload(message: Any) -> bytes:
    raw = message.payload
    return raw if isinstance(raw, bytes) else str(raw or "").encode("utf-8")


class OutcomeSink:
    """A session sink that adds the outcomes to the summary before passing everything on.

    With ratings on the device (the profile's ``rate_pain``) the summary waits
    for the rating after the session (``rated_after``; the device always
    sends one, ``None`` when skipped) so it is stored with both; if the
    real-time process ends first, ``flush`` stores it without.
    """

    def __init__(self, inner: SessionSink, outcomes: PersonOutcomes) -> None:
        self.inner = inner
        self.outcomes = outcomes
        #: Each summary as stored, by session id (what ``run`` prints).
        self.stored: dict[str, SessionSummary] = {}
        self._waiting: SessionSummary | None = None

    def session_started(self, info: SessionInfo) -> None:
        self.inner.session_started(info)

    def sample(self, t: float, force_n: float, raw: int) -> None:
        self.inner.sample(t, force_n, raw)

    def decisions(self, decisions: Sequence[Decision]) -> None:
        self.inner.decisions(decisions)

    def session_ended(self, summary: SessionSummary) -> None:
        self.flush()
        if self.outcomes.asks_after:
            self._waiting = summary
            return
        self._store(summary)

    def rated_after(self, rating: int | None) -> None:
        """The rating after the session arrived from the device: the summary goes on with it."""
        self.outcomes.pain_after = rating
        self.flush()

    def flush(self) -> None:
        """Store the summary still waiting for its rating after, if any."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            self._store(waiting)

    def _store(self, summary: SessionSummary) -> None:
        try:
            summary = self.outcomes.session_ended(summary)
        except Exception:  # the summary is stored whatever happens to the outcomes
            log.exception("outcomes: recording session %s failed", summary.session_id)
        self.stored[summary.session_id] = summary
        self.inner.session_ended(summary)

    def as_stored(self, summaries: Sequence[SessionSummary]) -> list[SessionSummary]:
        """``summaries`` as this sink passed them on (with ratings and course)."""
        return [self.stored.get(summary.session_id, summary) for summary in summaries]
