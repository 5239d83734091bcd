"""The work of ``presspoint person ...`` and ``simulate``'s ratings (parsing is in ``firmware.cli.person``).

Changes go to the outcome store in the device's state directory; the running
service publishes them (``person/status``, ``session/<sid>/follow_up``) at
its next session or start.  Every mistake is one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from config.device import DeviceConfig
from config.errors import PresspointError
from config.loader import load_device_config
from config.profile import Profile, load_person
from config.reading import read_regular
from firmware.cli.person import pain_rating
from firmware.outcomes.actions import apply_signed_clear, reset_course
from firmware.outcomes.course_text import course_text
from firmware.outcomes.follow_up import FollowUpError, answer, clear_flag
from firmware.outcomes.records import Flag, FollowUpAnswer, PersonRecord
from firmware.outcomes.store import OutcomeStore
from firmware.protocol.person import MAX_CLEAR_BYTES, ClearRefused, PersonStatus, check_clear, person_status
from firmware.protocol.plan_envelope import load_key
from firmware.protocol.topics import Topics
from firmware.service.person_outcomes import OutcomeSink, PersonOutcomes, new_course_id
from firmware.session.summary import SessionSummary

if TYPE_CHECKING:
    from firmware.mqtt.service import MqttService
    from firmware.realtime.sinks import SessionSink

ANSWERS = (FollowUpAnswer.BETTER.value, FollowUpAnswer.NOT_BETTER.value)
CLEARABLE = (Flag.SORENESS_NOT_IMPROVING.value, Flag.REEVALUATE.value)
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


def _device(args: argparse.Namespace) -> tuple[DeviceConfig, Profile | None, OutcomeStore]:
    device = load_device_config(args.config)
    return device, load_person(device), OutcomeStore(device.storage.state_dir)


def status_of(device: DeviceConfig, profile: Profile | None, record: PersonRecord) -> PersonStatus:
    return person_status(record, profile, device_id=device.device_id, now=_now())


def cmd_show(args: argparse.Namespace) -> int:
    device, profile, store = _device(args)
    status = status_of(device, profile, store.load())
    if args.json:
        print(status.model_dump_json(by_alias=True))
        return 0
    print(format_status(status))
    return 0


def format_status(status: PersonStatus) -> str:
    lines = [f"person  {status.person or '(no profile)'} on {status.device_id}"]
    course = status.course
    if course is None:
        lines.append("course  none yet")
    else:
        lines.append(f"course  {course_text(course)}")
    lines.append("flags   " + (", ".join(flag.value for flag in status.flags) or "none"))
    due = status.pending_follow_up
    lines.append(
        "follow-up  "
        + ("none due" if due is None else f"session {due.session_id} (due until {due.due_until:%Y-%m-%d %H:%M} UTC)")
    )
    return "\n".join(lines)


def change_by_the_rules(store: OutcomeStore, where: str, edit: Callable[[PersonRecord], tuple[PersonRecord, T]]) -> T:
    """``store.change(edit)``; a rule the edit breaks is one line naming ``where`` (exit 2), and nothing is saved."""

    def checked(record: PersonRecord) -> tuple[PersonRecord, T]:
        try:
            return edit(record)
        except (ClearRefused, FollowUpError) as err:
            raise PresspointError(f"{where}: {err}") from None

    return store.change(checked)


def cmd_follow_up(args: argparse.Namespace) -> int:
    if args.answer not in ANSWERS:
        raise PresspointError(f"follow-up answer {args.answer!r}: must be one of {', '.join(ANSWERS)}")
    _, _, store = _device(args)
    reply = FollowUpAnswer(args.answer)
    now = _now()

    def edit(record: PersonRecord) -> tuple[PersonRecord, str]:
        changed, session = answer(record, args.session, reply, now=now, by="cli")
        return changed, session.session_id

    session_id = change_by_the_rules(store, "follow-up", edit)
    print(f"session {session_id}: follow-up {reply.value} recorded")
    return 0


def cmd_clear(args: argparse.Namespace) -> int:
    if args.flag not in CLEARABLE:
        raise PresspointError(f"flag {args.flag!r}: only {', '.join(CLEARABLE)} can be cleared")
    device, profile, store = _device(args)
    flag = Flag(args.flag)
    if args.signed is None:
        if flag is Flag.REEVALUATE:
            raise PresspointError("flag 'reevaluate': use presspoint person course-reset on the device")
        store.change(lambda record: (clear_flag(record, flag), None))
        print(f"{flag.value} cleared on the device")
        return 0
    payload = read_regular(args.signed, MAX_CLEAR_BYTES)
    key = load_key(device.plan_key_file) if device.plan_key_file is not None else None

    person = profile.name if profile is not None else None

    def edit(record: PersonRecord) -> tuple[PersonRecord, int]:
        clear = check_clear(payload, device_id=device.device_id, key=key, floor=record.clear_floor)
        if clear.flag != flag.value:
            raise PresspointError(f"{args.signed}: the signed message clears {clear.flag}, not {flag.value}")
        cleared = apply_signed_clear(
            record, flag, clear.version, person=person, now=_now(), new_course_id=new_course_id()
        )
        return cleared, clear.version

    version = change_by_the_rules(store, str(args.signed), edit)
    print(f"{flag.value} cleared by the therapist's signed message (version {version})")
    return 0


def cmd_course_reset(args: argparse.Namespace) -> int:
    _, profile, store = _device(args)

    def edit(record: PersonRecord) -> tuple[PersonRecord, str]:
        person = profile.name if profile is not None else (record.course.person if record.course else None)
        if person is None:
            raise PresspointError("course-reset: no profile_file in the device config and no course yet")
        return reset_course(record, person=person, now=_now(), new_course_id=new_course_id())

    course_id = store.change(edit)
    print(f"new course {course_id}: the next rated session sets its baseline")
    return 0


class SimulatedOutcomes:
    """What ``simulate`` takes from the outcomes: the ratings, the start gate, and the course after it.

    The very ``PersonOutcomes`` and ``OutcomeSink`` that ``run``'s service
    uses, so a simulated session moves the person's course in the state
    directory, and its summary carries the ratings and ``course``, exactly as
    a real one does; with a broker the same outbox publishes the summary and
    the retained ``person/status`` (``publish_through``).
    """

    def __init__(self, pain_before: int | None, pain_after: int | None, outcomes: PersonOutcomes) -> None:
        self.pain_before = pain_before
        self.pain_after = pain_after
        self.outcomes = outcomes
        #: The device's profile, read once for the whole simulation (``None`` without one).
        self.profile = outcomes.profile
        refused = outcomes.refusal()
        self.refusal: str | None = None if refused is None else f"session refused: {refused}"
        self.see_therapist: str | None = outcomes.see_therapist()
        self._sink: OutcomeSink | None = None

    def publish_through(self, service: MqttService) -> None:
        """Publish ``person/status`` and follow-ups through ``service``'s outbox, as ``run``'s service does."""
        self.outcomes.enqueue = service.writer.enqueue
        self.outcomes.topics = service.topics

    def sink(self, inner: SessionSink) -> OutcomeSink:
        """``inner`` with the outcomes added to the summary before it gets it (the service's path)."""
        self.outcomes.pain_before, self.outcomes.pain_after = self.pain_before, self.pain_after
        self._sink = OutcomeSink(inner, self.outcomes)
        return self._sink

    def stored(self, summary: SessionSummary) -> SessionSummary:
        """The summary as the sink passed it on: the rating after is given, so it goes on now."""
        if self._sink is None:
            return summary
        self._sink.flush()
        [stored] = self._sink.as_stored([summary])
        return stored


def simulated_outcomes(args: argparse.Namespace, device: DeviceConfig) -> SimulatedOutcomes:
    """Checked before anything runs: bad ratings exit 2, a soreness flag refuses (exit 3)."""
    before = pain_rating(args.pain_before, "--pain-before")
    after = pain_rating(args.pain_after, "--pain-after")
    outcomes = PersonOutcomes(
        store=OutcomeStore(device.storage.state_dir),
        profile=load_person(device),
        device_id=device.device_id,
        topics=Topics(device.device_id, device.mqtt.topic_prefix),
        enqueue=None,  # until publish_through: without a broker follow-ups stay unpublished for run
        plan_version=lambda: 0,  # simulate runs the local plan
    )
    simulated = SimulatedOutcomes(before, after, outcomes)
    if simulated.see_therapist is not None and simulated.refusal is None:
        print(f"presspoint: see_therapist: {simulated.see_therapist}", file=sys.stderr)
    return simulated
