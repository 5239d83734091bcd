"""What the service does with each message from the real-time process.

systemd notifications go out as they come (so a ``WATCHDOG=1`` reaches
systemd only while both processes are alive and well); session data goes to
the store and MQTT; a start request opens the plan bracket (remote plan
updates wait) and is answered with the gated plan or a refusal; the attempt's
end closes the bracket.  Nothing here can change a safety decision: the
real-time process has made it already.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

from config.plan import TherapyPlan
from firmware.device.contracts import PlanSource
from firmware.device.link_messages import (
    AdmitRequest,
    Admitted,
    AttemptEnded,
    Finished,
    FollowUpAnswered,
    FollowUpDue,
    HoldGesture,
    HookCall,
    Notify,
    PainRated,
    PlayCue,
    SampleBatch,
    SinkCall,
)
from firmware.device.sdnotify import Notifier
from firmware.realtime.sinks import SessionSink
from firmware.service.hooks import ServiceHooks
from firmware.service.supervisor import RealtimeProcess

log = logging.getLogger(__name__)

#: The hook calls the real-time process may make (news only).
NEWS_HOOKS = frozenset({"status", "refused", "trial_ended"})
SINK_CALLS = frozenset({"session_started", "sample", "decisions", "session_ended"})


class ServiceSide:
    """Handles the real-time process's messages for one run of the service."""

    def __init__(
        self, realtime: RealtimeProcess, notifier: Notifier, hooks: ServiceHooks, plans: PlanSource, sink: SessionSink
    ) -> None:
        self.realtime = realtime
        self.notifier = notifier
        self.hooks = hooks
        self.plans = plans
        self.sink = sink
        self._bracket: AbstractContextManager[TherapyPlan] | None = None

    def handle(self, message: Any) -> None:
        try:
            self._handle(message)
        except Exception:
            log.exception("service: handling %s failed", type(message).__name__)

    def _handle(self, message: Any) -> None:
        match message:
            case Notify(fields=fields):
                self.notifier.notify(*fields)
            case SinkCall(name=name, args=args) if name in SINK_CALLS:
                getattr(self.sink, name)(*args)
                if name == "session_ended":
                    self.send_follow_up()
            case SampleBatch(samples=samples):
                for t, force_n, raw in samples:
                    self.sink.sample(t, force_n, raw)
            case HookCall(name=name, args=args, kwargs=kwargs) if name in NEWS_HOOKS:
                getattr(self.hooks, name)(*args, **(kwargs or {}))
            case AdmitRequest(request=request):
                answer = self._admit()
                cues = () if isinstance(answer, str) else tuple(self.hooks.start_cues())
                self.realtime.send(Admitted(request, answer, cues))
            case AttemptEnded():
                self.close_bracket()
            case HoldGesture():
                self.realtime.send(PlayCue(self.hooks.lower_tolerance()))
            case PainRated(moment=moment, rating=rating):
                self.hooks.pain_rated(moment, rating)
                self.send_follow_up()
            case FollowUpAnswered(session_id=session_id, answer=answer):
                self.hooks.follow_up_answered(session_id, answer)
                self.send_follow_up()
            case Finished():
                self.hooks.realtime_finished()
            case _:
                log.error("service: unexpected message %r from the real-time process", type(message).__name__)

    def send_follow_up(self) -> None:
        """Tell the real-time process which follow-up to ask about next, and when."""
        due = self.hooks.outcomes.next_follow_up()
        self.realtime.send(FollowUpDue(None) if due is None else FollowUpDue(*due))

    def _admit(self) -> TherapyPlan | str:
        """Open the plan bracket and gate the plan in force."""
        self.close_bracket()
        self._bracket = self.plans.session()
        plan_in_force = self._bracket.__enter__()
        try:
            return self.hooks.gate(plan_in_force)
        except Exception as exc:
            log.exception("service: the start gate failed")
            return f"internal error in the start gate ({type(exc).__name__})"

    def close_bracket(self) -> None:
        """The attempt is over (or the real-time process is gone): queued plan updates may apply."""
        bracket, self._bracket = self._bracket, None
        if bracket is not None:
            bracket.__exit__(None, None, None)
