"""The device daemon behind ``presspoint run``: sessions on demand, for months.

One sampling thread runs for the life of the process and one ``SampleFeed``
reads its queue.  Between sessions its samples keep the watchdog fed, the
tare window full and the status current; a button press (or ``--sessions``
auto-start in simulation) starts an attempt - a session or a trial - which
reads the same feed.  A press during a session stops it.

Every way out - the last session done, SIGTERM/SIGINT, an exception - passes
through one ``finally`` that switches the motor off, stores what is pending and
tells systemd ``STOPPING=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from firmware.device.attempt import CUE_LIMIT_S, AttemptRunner
from firmware.device.contracts import DaemonHooks, DaemonOptions, DaemonResult, DeviceUnit, PlanSource
from firmware.device.gestures import ButtonGestures
from firmware.device.idle import IdleListener
from firmware.device.phase import PhaseReporter
from firmware.device.rating import DeviceRatings
from firmware.device.sdnotify import Notifier
from firmware.device.tare import IdleReadings
from firmware.device.watchdog import run_watchdog
from firmware.health.rate_check import RateMeter
from firmware.health.watchdog_policy import LoopWatchdog, WatchdogPolicy
from firmware.realtime.feed import SampleFeed
from firmware.realtime.motor import play_cue
from firmware.realtime.sampler import NoSample, Sample, Sampler, SamplerEvent
from firmware.realtime.stats import CpuCounter
from firmware.realtime.stop import StopRequest
from firmware.realtime.stream import SampleStream
from hal.haptics import Haptics

log = logging.getLogger(__name__)


class DeviceDaemon:
    """Owns the sample stream, the motor and the attempt loop of one device."""

    def __init__(
        self,
        *,
        plans: PlanSource,
        sampler: Sampler,
        haptics: Haptics,
        device_id: str,
        device_max_n: float,
        hooks: DaemonHooks | None = None,
        notifier: Notifier | None = None,
        options: DaemonOptions | None = None,
        emulator_cpu: CpuCounter | None = None,
    ) -> None:
        """``emulator_cpu`` counts the CPU simulated hardware takes in this process (for the usage figures)."""
        self.plans = plans
        self.unit = DeviceUnit(sampler, haptics, device_id, device_max_n)
        self.hooks = hooks or DaemonHooks()
        self.notifier = notifier or Notifier.from_env()
        self.options = options or DaemonOptions()
        self.shutdown = StopRequest()
        self.result = DaemonResult()
        self._start_requested = asyncio.Event()
        self._reporter = PhaseReporter(self.notifier, self.hooks)
        self.gestures = ButtonGestures(self._start_requested, self._hold_gesture)
        self.watchdog = LoopWatchdog(WatchdogPolicy(sample_period_s=sampler.period_s), now=0.0)
        self.rate_meter = RateMeter(sampler.sensor.sample_rate_hz)
        self._background: set[asyncio.Future[None]] = set()
        self._leave_source: str | None = None
        self._follow_up: tuple[str | None, float, float] = (None, 0.0, 0.0)
        self._emulator_cpu = emulator_cpu

    @property
    def phase(self) -> str:
        return self._reporter.phase

    # ------------------------------------------------------------- requests

    def button_down(self) -> None:
        """The button went down (see ``ButtonGestures.down``)."""
        self.gestures.down()

    def button_up(self, held_s: float) -> None:
        """The button came up after ``held_s`` (see ``ButtonGestures.up``)."""
        self.gestures.up(held_s)

    def follow_up_due(self, session_id: str | None, opens_in_s: float, closes_in_s: float) -> None:
        """The service's word on the next follow-up to ask about (kept until the daemon runs, if early)."""
        self._follow_up = (session_id, opens_in_s, closes_in_s)
        if self.gestures.ratings is not None:
            self.gestures.ratings.follow_up_due(*self._follow_up)

    def request_shutdown(self, source: str) -> None:
        """SIGTERM and friends: stop the session safely, then leave."""
        self.shutdown.request(source)
        if self.gestures.running is not None:
            self.gestures.running.request(source)
        self._start_requested.set()

    def leave_after_attempt(self, source: str) -> None:
        """Finish the session or trial under way, if any, with every safety rule; start no other."""
        self._leave_source = source
        if self.gestures.running is None:
            self.request_shutdown(source)

    def _hold_gesture(self) -> bool:
        if not self.hooks.takes_hold_gesture():
            return False
        self._background.add(task := asyncio.ensure_future(self._answer_hold_gesture()))
        task.add_done_callback(self._background.discard)
        return True

    async def _answer_hold_gesture(self) -> None:
        cue = await self.hooks.hold_gesture()
        if cue is not None:
            await play_cue(self.unit.haptics, cue, CUE_LIMIT_S, self.shutdown)

    # ------------------------------------------------------------- main loop

    async def run(self) -> DaemonResult:
        loop = asyncio.get_running_loop()
        sampler = self.unit.sampler
        self.watchdog = LoopWatchdog(WatchdogPolicy(sample_period_s=sampler.period_s), now=loop.time())
        stream = SampleStream(sampler, loop).start()
        feed = SampleFeed(stream, on_event=self._feed_watchdog)
        readings = IdleReadings(sampler, noise_n=self.options.tare_noise_n)
        listener = IdleListener(feed, readings, self.watchdog, self.shutdown)
        listener.ratings = self.gestures.ratings = self._ratings(loop.time)
        listener.ratings.follow_up_due(*self._follow_up)
        attempts = AttemptRunner(
            unit=self.unit,
            hooks=self.hooks,
            options=self.options,
            listener=listener,
            phase=self._reporter,
            gestures=self.gestures,
            shutdown=self.shutdown,
            result=self.result,
        )
        watchdog_task = asyncio.create_task(
            run_watchdog(self.notifier, self.watchdog, interval=self.options.watchdog_interval_s), name="watchdog"
        )
        try:
            await self._wait_first_sample(listener)
            self.result.stats.usage.start(self._emulator_cpu)  # sampling is under way: start-up is behind us
            self.notifier.ready("idle: waiting for the button")
            self._reporter.set("idle")
            if self.options.auto_start:
                self._start_requested.set()
            while not self.shutdown.requested:
                while not self._start_requested.is_set() and not self.shutdown.requested:
                    await listener.listen(0.25, wake=self._start_requested)
                if self.shutdown.requested or not listener.sampler_alive():
                    break
                self._start_requested.clear()
                sessions_before = len(self.result.summaries)
                with self.plans.session() as plan_in_force:
                    await attempts.run(plan_in_force)
                leaving = self._leave_source is not None or self.shutdown.requested
                if listener.ratings.enabled and len(self.result.summaries) > sessions_before and not leaving:
                    listener.ratings.ask("after")
                    await listener.until_rated()
                if not listener.sampler_alive():  # never start another attempt on a dead sampler
                    break
                if self._leave_source is not None:
                    self.request_shutdown(self._leave_source)
                    break
                if self.options.sessions is not None and self.result.attempts >= self.options.sessions:
                    break
                if self.options.auto_start and not self.shutdown.requested:
                    self._start_requested.set()
        finally:
            self.unit.haptics.off()
            self.notifier.stopping(f"stopping ({self.shutdown.source or 'done'})")
            watchdog_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog_task
            await feed.close()
            stream.stop()
            self.unit.haptics.off()
            self.result.stats.usage.stop(self._emulator_cpu, sampler_cpu_s=stream.cpu_s)
        self.result.failure = listener.failure
        self.result.stop_source = self.shutdown.source
        return self.result

    def _ratings(self, now: Callable[[], float]) -> DeviceRatings:
        return DeviceRatings(
            enabled=self.options.rate_pain,
            haptics=self.unit.haptics,
            hooks=self.hooks,
            shutdown=self.shutdown,
            now=now,
        )

    async def _wait_first_sample(self, listener: IdleListener) -> None:
        while not self.shutdown.requested:
            event = await listener.listen(0.5)
            if isinstance(event, Sample):
                return
            if isinstance(event, NoSample):
                log.warning("no samples from the force sensor yet")

    def _feed_watchdog(self, event: SamplerEvent) -> None:
        """A sample reached the loop: report it, with how late the loop took it."""
        now = asyncio.get_running_loop().time()
        if isinstance(event, Sample):
            self.watchdog.on_sample(now)
            verdict = self.rate_meter.add(event.t)
            if verdict is not None:
                (log.info if verdict.ok else log.warning)("%s", verdict.describe())
                self.hooks.status(measured_rate_hz=round(verdict.measured_hz, 2))
        # Sample times are on the loop's clock (monotonic): a growing backlog
        # between the sampler and the loop shows up as lateness.
        self.watchdog.on_tick(now, deadline=event.t)
