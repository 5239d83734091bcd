"""The daemon's hooks, sinks, notifier and plan source inside the real-time process.

Each forwards over the link to the service process and never waits on it,
except admission, which waits a bounded time and refuses without an answer.
When the service is gone, admission refuses and news is dropped: the
session under way goes on under every safety rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterator, Sequence

from config.plan import TherapyPlan
from firmware.algometry.measurement import MeasurementResult
from firmware.device.contracts import DaemonHooks
from firmware.device.link_messages import (
    AdmitRequest,
    AttemptEnded,
    FollowUpAnswered,
    HoldGesture,
    HookCall,
    Notify,
    PainRated,
    SampleBatch,
    SinkCall,
)
from firmware.device.options import ADMIT_TIMEOUT_S
from firmware.device.sdnotify import Notifier
from firmware.realtime.link import LoopLink
from firmware.realtime.sinks import SessionInfo, SessionSink
from firmware.session.decisions import Decision
from firmware.session.states import Cue
from firmware.session.summary import SessionSummary

log = logging.getLogger(__name__)


def admit_timeout_s(speed: float, wall_lag_s: float = 0.0) -> float:
    """The wait for the service's answer to a start, on the hardware's clock.

    The service runs at 1x: the wait is ``ADMIT_TIMEOUT_S`` of wall time at
    any ``--speed``, or the run's ``--speed-lag`` if that is longer (a loaded
    test machine's service may take seconds to answer while simulated time
    runs 50x).
    """
    return max(ADMIT_TIMEOUT_S, wall_lag_s) * speed


#: Samples go to the service in batches of this many ...
SAMPLE_BATCH = 8
#: ... or this long (loop seconds) after the first of a batch, whichever comes first.
SAMPLE_BATCH_S = 0.1


class LinkSink:
    """A session sink in the service process: samples may be dropped if it stalls, decisions not.

    Samples travel in batches (``SampleBatch``): one message and one pipe
    write per ``SAMPLE_BATCH`` samples instead of one per sample.  The service
    only stores and publishes them, so it may hear of them up to
    ``SAMPLE_BATCH_S`` late; every other call sends the batch under way first,
    so the service still hears everything in order, and a decision at once.
    """

    def __init__(self, link: LoopLink) -> None:
        self._link = link
        self._loop = link.loop
        self._batch: list[tuple[float, float, int]] = []
        self._due: asyncio.TimerHandle | None = None

    def session_started(self, info: SessionInfo) -> None:
        self.flush()
        self._link.send(SinkCall("session_started", (info,)))

    def sample(self, t: float, force_n: float, raw: int) -> None:
        batch = self._batch
        batch.append((t, force_n, raw))
        if len(batch) >= SAMPLE_BATCH:
            self.flush()
        elif self._due is None:
            self._due = self._loop.call_later(SAMPLE_BATCH_S, self.flush)

    def decisions(self, decisions: Sequence[Decision]) -> None:
        self.flush()
        self._link.send(SinkCall("decisions", (list(decisions),)))

    def session_ended(self, summary: SessionSummary) -> None:
        self.flush()
        self._link.send(SinkCall("session_ended", (summary,)))

    def flush(self) -> None:
        """Send the samples batched so far (droppable, like every sample message)."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        if self._batch:
            batch, self._batch = tuple(self._batch), []
            self._link.send(SampleBatch(batch), droppable=True)


class LinkNotifier(Notifier):
    """sd_notify by way of the service: only the main process may talk to systemd."""

    def __init__(self, link: LoopLink) -> None:
        super().__init__(None)
        self._link = link

    @property
    def enabled(self) -> bool:
        return True

    def notify(self, *fields: str) -> bool:
        return bool(fields) and self._link.send(Notify(tuple(fields)))


class LinkPlans:
    """The plan source: the service holds the real bracket from admission to ``AttemptEnded``."""

    def __init__(self, plan: TherapyPlan, link: LoopLink, *, on_end: Sequence[Callable[[], None]] = ()) -> None:
        self.plan = plan
        self._link = link
        self._on_end = list(on_end)

    @contextlib.contextmanager
    def session(self) -> Iterator[TherapyPlan]:
        try:
            yield self.plan
        finally:
            for call in self._on_end:
                call()
            self._link.send(AttemptEnded())


class LinkHooks(DaemonHooks):
    """Admission and gestures asked of the service; news told to it."""

    def __init__(
        self,
        link: LoopLink,
        *,
        on_start: Sequence[Callable[[TherapyPlan], None]] = (),
        admit_timeout_s: float = ADMIT_TIMEOUT_S,
    ) -> None:
        self._link = link
        self._admit_timeout_s = admit_timeout_s
        #: Called with the admitted plan as a session or trial starts.
        self._on_start = list(on_start)
        self._admitted: TherapyPlan | None = None
        self._start_cues: tuple[Cue, ...] = ()
        self._requests = itertools.count(1)
        self._pending: dict[int, asyncio.Future[TherapyPlan | str]] = {}
        self.service_gone = False

    async def admit(self, plan: TherapyPlan) -> TherapyPlan | str:
        if self.service_gone:
            return "the service process is gone; no new session until it restarts"
        request = next(self._requests)
        answer = self._pending[request] = asyncio.get_running_loop().create_future()
        self._link.send(AdmitRequest(request))
        try:
            async with asyncio.timeout(self._admit_timeout_s):
                result: TherapyPlan | str = await answer
            if not isinstance(result, str):
                self._admitted = result
            return result
        except TimeoutError:
            return f"the service did not answer the start request within {self._admit_timeout_s:g} s"
        finally:
            self._pending.pop(request, None)

    def answer(self, request: int, answer: TherapyPlan | str, cues: Sequence[Cue] = ()) -> None:
        future = self._pending.get(request)
        if future is not None and not future.done():
            self._start_cues = tuple(cues)
            future.set_result(answer)

    def start_cues(self) -> Sequence[Cue]:
        """The cues the service sent with the last admitted start."""
        return self._start_cues

    def lost_service(self) -> None:
        self.service_gone = True
        for future in self._pending.values():
            if not future.done():
                future.set_result("the service process is gone")

    def sinks(self) -> Sequence[SessionSink]:
        return [LinkSink(self._link)]

    def status(self, **fields: object) -> None:
        self._link.send(HookCall("status", kwargs=dict(fields)))

    def starting(self) -> None:
        assert self._admitted is not None, "an attempt starts only once admitted"
        for call in self._on_start:
            call(self._admitted)

    def takes_hold_gesture(self) -> bool:
        return True

    async def hold_gesture(self) -> None:
        """Asked of the service; its answer comes back as a ``PlayCue``."""
        self._link.send(HoldGesture())

    def trial_ended(self, result: MeasurementResult) -> None:
        self._link.send(HookCall("trial_ended", (result,)))

    def refused(self, reason: str) -> None:
        self._link.send(HookCall("refused", (reason,)))

    def pain_rated(self, moment: str, rating: int | None) -> None:
        self._link.send(PainRated(moment, rating))

    def follow_up_answered(self, session_id: str, answer: str) -> None:
        self._link.send(FollowUpAnswered(session_id, answer))
