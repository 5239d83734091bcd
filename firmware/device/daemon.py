"""The device daemon behind ``presspoint run``: sessions on demand, for months.

One sampling thread runs for the life of the process.  Between sessions its
samples keep the watchdog fed, the tare window full and the status current;
a button press (or ``--sessions`` auto-start in simulation) starts a session,
which gets the same stream.  A press during a session stops it.

Every way out - the last session done, SIGTERM/SIGINT, an exception - passes
through one ``finally`` that switches the motor off, stores what is pending and
tells systemd ``STOPPING=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from config.plan import TherapyPlan
from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.device.sdnotify import Notifier
from firmware.device.watchdog import LoopWatchdog, WatchdogPolicy, run_watchdog
from firmware.health.rate_check import RateMeter
from firmware.realtime.engine import SessionEngine
from firmware.realtime.ppt_runner import TrialButton, run_trial
from firmware.realtime.runtime import MotorPlayer, SampleStream, StopRequest, run_session_on_stream
from firmware.realtime.sampler import Sample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.sinks import SessionSink
from firmware.session.decisions import Decision, PhaseChange
from firmware.session.states import Cue
from firmware.session.summary import SessionSummary
from hal.haptics import Haptics
from hal.sensor import Calibration

log = logging.getLogger(__name__)

#: Idle samples kept for taring (1 s at 80 samples/s).
TARE_WINDOW_S = 1.0
#: Longest a cue between sessions may play (every pattern is shorter).
CUE_LIMIT_S = 5.0
#: Holding the button this long while idle is the gesture (lower the tolerance).
HOLD_GESTURE_S = 2.0
#: How long a start request waits for a steady, contact-free reading to tare on.
TARE_TIMEOUT_S = 3.0


class StatusReporter(Protocol):
    """Where the daemon reports its state (MQTT status, for one)."""

    def __call__(self, **fields: object) -> None: ...


class SessionGate(Protocol):
    """May a session start under ``plan``?  The plan to run (e.g. with the person's
    own lower tolerance applied), or a sentence saying why not."""

    def __call__(self, plan: TherapyPlan, /) -> TherapyPlan | str: ...


class PlanSource(Protocol):
    """The plan in force, held for the length of a session.

    ``with plans.session() as plan:`` brackets everything from choosing the
    plan to the session's end, refusals included: a remote plan update that
    arrives meanwhile is queued and applied when the bracket closes, never
    half-way through a session.
    """

    def session(self) -> AbstractContextManager[TherapyPlan]: ...


class FixedPlan:
    """A plan that never changes (simulation, tests, no remote updates)."""

    def __init__(self, plan: TherapyPlan) -> None:
        self.plan = plan

    @contextlib.contextmanager
    def session(self) -> Iterator[TherapyPlan]:
        yield self.plan


@dataclass
class DaemonOptions:
    #: Stop after this many sessions (None: run until told to stop).
    sessions: int | None = None
    #: Start sessions without a button press (simulation).
    auto_start: bool = False
    #: Noise limit for a steady reading to tare on, N (standard deviation).
    tare_noise_n: float = 0.5
    tare: bool = True
    #: "session" (guided holds) or "ppt" (pressure pain threshold trials).
    mode: Literal["session", "ppt"] = "session"
    ppt: AlgometrySettings = field(default_factory=AlgometrySettings)


@dataclass
class DaemonResult:
    summaries: list[SessionSummary] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    trials: list[AlgometryResult] = field(default_factory=list)
    trial_payloads: list[bytes] = field(default_factory=list)
    #: Why the daemon gave up (e.g. the sampling thread died); the process exits non-zero.
    failure: str | None = None
    stop_source: str | None = None


class DeviceDaemon:
    """Owns the sample stream, the motor and the session loop of one device."""

    def __init__(
        self,
        *,
        plans: PlanSource,
        sampler: Sampler,
        haptics: Haptics,
        device_id: str,
        device_max_n: float,
        sinks_for_session: Callable[[], Sequence[SessionSink]] = lambda: (),
        notifier: Notifier | None = None,
        options: DaemonOptions | None = None,
        gate: SessionGate | None = None,
        status: StatusReporter | None = None,
        on_session_start: Callable[[], None] | None = None,
        on_hold: Callable[[], Cue] | None = None,
        on_trial_end: Callable[[AlgometryResult], None] | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self.plans = plans
        self.sampler = sampler
        self.haptics = haptics
        self.device_id = device_id
        self.device_max_n = device_max_n
        self.sinks_for_session = sinks_for_session
        self.notifier = notifier or Notifier.from_env()
        self.options = options or DaemonOptions()
        self.gate = gate
        self.status = status
        self.on_session_start = on_session_start
        #: The long-hold gesture while idle; returns the cue that answers it.
        self.on_hold = on_hold
        self._down_during_session = False
        self.on_trial_end = on_trial_end
        self.on_refused = on_refused
        self._trial_button: TrialButton | None = None
        self._background: set[asyncio.Future[None]] = set()
        self.shutdown = StopRequest()
        self.result = DaemonResult()
        self.phase = "idle"
        self._start_requested = asyncio.Event()
        self._session_stop: StopRequest | None = None
        self._recent: deque[Sample] = deque(maxlen=max(2, round(TARE_WINDOW_S * sampler.sensor.sample_rate_hz)))
        self.watchdog = LoopWatchdog(WatchdogPolicy(sample_period_s=sampler.period_s), now=0.0)
        self.rate_meter = RateMeter(sampler.sensor.sample_rate_hz)

    # ------------------------------------------------------------- requests

    def press(self) -> None:
        """A short button press: start a session, or stop the running one."""
        if self._session_stop is not None:
            self._session_stop.request("button")
        else:
            self._start_requested.set()

    def button_down(self) -> None:
        """The button went down: stop a running session at once (never wait for the release).

        During a pain-threshold trial a press means "first discomfort" instead.
        """
        self._down_during_session = self._session_stop is not None
        if self._trial_button is not None:
            self._trial_button.press()
        elif self._session_stop is not None:
            self._session_stop.request("button")

    def button_up(self, held_s: float) -> None:
        """The button came up while idle: a short press starts, a long hold is the gesture."""
        if self._down_during_session or self._session_stop is not None:
            self._down_during_session = False
            return
        if held_s >= HOLD_GESTURE_S and self.on_hold is not None:
            cue = self.on_hold()
            self._background.add(task := asyncio.ensure_future(self._play_cue(cue)))
            task.add_done_callback(self._background.discard)
        else:
            self._start_requested.set()

    def request_shutdown(self, source: str) -> None:
        """SIGTERM and friends: stop the session safely, then leave."""
        self.shutdown.request(source)
        if self._session_stop is not None:
            self._session_stop.request(source)
        self._start_requested.set()

    # ------------------------------------------------------------- main loop

    async def run(self) -> DaemonResult:
        loop = asyncio.get_running_loop()
        self.watchdog = LoopWatchdog(WatchdogPolicy(sample_period_s=self.sampler.period_s), now=loop.time())
        stream = SampleStream(self.sampler, loop).start()
        watchdog_task = asyncio.create_task(run_watchdog(self.notifier, self.watchdog), name="watchdog")
        try:
            await self._wait_first_sample(stream)
            self.notifier.ready("idle: waiting for the button")
            self._set_phase("idle")
            if self.options.auto_start:
                self._start_requested.set()
            while not self.shutdown.requested:
                await self._idle_until_start(stream)
                if self.shutdown.requested:
                    break
                self._start_requested.clear()
                await self._one_session(stream)
                attempts = len(self.result.summaries) + len(self.result.refusals) + len(self.result.trials)
                if self.options.sessions is not None and attempts >= self.options.sessions:
                    break
                if self.options.auto_start and not self.shutdown.requested:
                    self._start_requested.set()
        finally:
            self.haptics.off()
            self.notifier.stopping(f"stopping ({self.shutdown.source or 'done'})")
            watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog_task
            stream.stop()
            self.haptics.off()
        self.result.stop_source = self.shutdown.source
        return self.result

    def _feed_watchdog(self, event: SamplerEvent) -> None:
        """A sample reached the loop: report it, with how late the loop took it."""
        now = asyncio.get_running_loop().time()
        if isinstance(event, Sample):
            self.watchdog.on_sample(now)
            verdict = self.rate_meter.add(event.t)
            if verdict is not None:
                (log.info if verdict.ok else log.warning)("%s", verdict.describe())
                if self.status is not None:
                    self.status(measured_rate_hz=round(verdict.measured_hz, 2))
        # Sample times are on the loop's clock (monotonic): a growing backlog
        # between the sampler and the loop shows up as lateness.
        self.watchdog.on_tick(now, deadline=event.t)

    async def _next_event(self, stream: SampleStream, timeout: float) -> SamplerEvent | None:
        try:
            async with asyncio.timeout(timeout):
                event = await stream.queue.get()
        except TimeoutError:
            self.watchdog.on_tick(asyncio.get_running_loop().time())
            self._check_stream(stream)
            return None
        self._feed_watchdog(event)
        if isinstance(event, SensorFault):
            self._check_stream(stream)
        return event

    def _check_stream(self, stream: SampleStream) -> None:
        """A dead sampling thread is unrecoverable in-process: leave, so systemd restarts us now."""
        if stream.alive or self.result.failure is not None:
            return
        self.result.failure = f"the sampling thread died ({stream.error!r}); exiting for a restart"
        log.error("%s", self.result.failure)
        self.request_shutdown("sampler died")

    async def _wait_first_sample(self, stream: SampleStream) -> None:
        while not self.shutdown.requested:
            event = await self._next_event(stream, 0.5)
            if isinstance(event, Sample):
                self._recent.append(event)
                return
            if event is None:
                log.warning("no samples from the force sensor yet")

    async def _idle_until_start(self, stream: SampleStream) -> None:
        while not self._start_requested.is_set() and not self.shutdown.requested:
            get = asyncio.ensure_future(self._next_event(stream, 0.25))
            starter = asyncio.ensure_future(self._start_requested.wait())
            done, _ = await asyncio.wait({get, starter}, return_when=asyncio.FIRST_COMPLETED)
            starter.cancel()
            if get in done:
                event = get.result()
                if isinstance(event, Sample):
                    self._recent.append(event)
            else:
                get.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await get

    # ------------------------------------------------------------- sessions

    async def _refuse(self, reason: str) -> None:
        log.warning("session refused: %s", reason)
        self.result.refusals.append(reason)
        if self.status is not None:
            self.status(refused=reason)
        if self.on_refused is not None:
            self.on_refused(reason)
        await self._play_cue(Cue.REFUSED)

    async def _play_cue(self, cue: Cue) -> None:
        """Play one cue outside a session (a refusal, a gesture's answer); motor off after."""
        async with MotorPlayer(self.haptics) as motor:
            motor.play(asyncio.get_running_loop().time(), cue)
            await motor.finish(CUE_LIMIT_S, self.shutdown)

    def _tare(self, plan: TherapyPlan) -> str | None:
        """Zero the scale on a steady, contact-free reading; a reason if we cannot."""
        recent = list(self._recent)
        if len(recent) < self._recent.maxlen // 2:  # type: ignore[operator]
            return "not enough readings to tare on"
        forces = [s.force_n for s in recent]
        if statistics.fmean(forces) >= plan.contact_threshold:
            return "the tip is pressed; release it before starting"
        if statistics.pstdev(forces) > self.options.tare_noise_n:
            return "the reading is not steady enough to tare"
        offset = statistics.fmean(s.raw for s in recent)
        old = self.sampler.calibration
        self.sampler.calibration = Calibration(offset, old.counts_per_newton)
        log.info("tared: offset %.0f counts (was %.0f)", offset, old.offset_counts)
        return None

    async def _tare_or_reason(self, stream: SampleStream, plan: TherapyPlan) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TARE_TIMEOUT_S
        reason = self._tare(plan)
        while reason is not None and loop.time() < deadline and not self.shutdown.requested:
            event = await self._next_event(stream, 0.25)
            if isinstance(event, Sample):
                self._recent.append(event)
            reason = self._tare(plan)
        return reason

    async def _one_session(self, stream: SampleStream) -> None:
        with self.plans.session() as plan_in_force:
            await self._gated_session(stream, plan_in_force)

    async def _gated_session(self, stream: SampleStream, plan_in_force: TherapyPlan) -> None:
        checked = self.gate(plan_in_force) if self.gate is not None else plan_in_force
        reason = checked if isinstance(checked, str) else None
        plan = plan_in_force if isinstance(checked, str) else checked
        if reason is None and self.options.tare:
            reason = await self._tare_or_reason(stream, plan)
        if reason is not None:
            await self._refuse(reason)
            return
        if self.options.mode == "ppt":
            await self._one_trial(stream, plan)
            return
        if self.on_session_start is not None:
            self.on_session_start()
        stream.drain()
        loop = asyncio.get_running_loop()
        engine = SessionEngine(
            plan,
            device_id=self.device_id,
            sample_rate_hz=self.sampler.sensor.sample_rate_hz,
            device_max_n=self.device_max_n,
            armed_at=loop.time(),
            sinks=self.sinks_for_session(),
            glitch_count=self._glitches_since(self.sampler.glitches),
        )
        self._session_stop = StopRequest()
        if self.shutdown.requested:
            self._session_stop.request(self.shutdown.source or "shutdown")
        self._set_phase("waiting_contact", session_id=engine.session_id, refused=None)
        try:
            summary = await run_session_on_stream(
                engine,
                stream,
                self.haptics,
                stop=self._session_stop,
                on_decisions=self._on_decisions,
                on_event=self._feed_watchdog,
            )
        finally:
            self._session_stop = None
        self.result.summaries.append(summary)
        self._set_phase("idle", last_outcome=summary.outcome.value)

    async def _one_trial(self, stream: SampleStream, plan: TherapyPlan) -> None:
        """A pressure pain threshold trial, with the plan's tolerance as the safety limit."""
        if self.on_session_start is not None:
            self.on_session_start()
        stream.drain()
        self._session_stop = StopRequest()
        self._trial_button = TrialButton()
        if self.shutdown.requested:
            self._session_stop.request(self.shutdown.source or "shutdown")
        self._set_phase("ppt")
        try:
            result = await run_trial(
                stream,
                self.haptics,
                settings=self.options.ppt,
                tolerance_n=plan.tolerance,
                device_max_n=self.device_max_n,
                button=self._trial_button,
                stop=self._session_stop,
            )
        finally:
            self._session_stop = None
            self._trial_button = None
        self.result.trials.append(result)
        self._set_phase("idle")
        if self.on_trial_end is not None:
            self.on_trial_end(result)

    def _glitches_since(self, start: int) -> Callable[[], int]:
        return lambda: self.sampler.glitches - start

    def _on_decisions(self, decisions: Sequence[Decision], engine: SessionEngine) -> None:
        for decision in decisions:
            if isinstance(decision, PhaseChange):
                self._set_phase(decision.phase.value, session_id=engine.session_id)

    def _set_phase(self, phase: str, **fields: object) -> None:
        self.phase = phase
        self.notifier.status(f"phase: {phase}")
        if self.status is not None:
            self.status(phase=phase, **fields)
