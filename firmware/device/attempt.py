"""One start request, session or trial alike: gate, rating, tare, then run it.

The gate (profile, calibration, outcomes) may refuse or hand back the plan
to run; a refused start is answered with the refused cue and asks nothing.
An admitted session then asks for the pain rating before it, with the
profile's ``rate_pain`` - however it was started, by the button or by
itself - so the person is never asked for a rating and then turned away.
A shutdown during the rating starts nothing.  The tare comes last, on
readings from just before the start, and waits up to ``TARE_TIMEOUT_S`` for
a steady, contact-free reading.  Then the button is handed to the attempt
(its stop request, or a trial's first-discomfort press) for as long as it
runs.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from config.plan import TherapyPlan
from firmware.algometry.measurement import MeasuredSpot, StandardMeasurement
from firmware.device.contracts import DaemonHooks, DaemonOptions, DaemonResult, DeviceUnit
from firmware.device.gestures import ButtonGestures
from firmware.device.idle import IdleListener
from firmware.device.phase import PhaseReporter
from firmware.device.tare import TARE_TIMEOUT_S
from firmware.realtime.engine import SessionEngine
from firmware.realtime.motor import play_cue
from firmware.realtime.ppt_runner import TrialButton, run_measurement
from firmware.realtime.runtime import run_session
from firmware.realtime.stats import DecisionLatency, ReadGrid
from firmware.realtime.stop import StopRequest
from firmware.session.states import Cue
from firmware.session.summary import SessionSummary

log = logging.getLogger(__name__)


def describe_session_end(summary: SessionSummary) -> str:
    """One log line per session: outcome, holds, peak and why it ended early, if it did."""
    done = sum(1 for hold in summary.holds if hold.outcome == "completed")
    line = (
        f"session {summary.session_id} ended: {summary.outcome}, holds completed {done}/{summary.plan.repetitions}, "
        f"peak {summary.peak_force_n:.1f} N, {summary.duration_s:.1f} s"
    )
    if summary.abort is not None:
        line += f"; {summary.abort.reason} at {summary.abort.at_s:.3f} s ({summary.abort.detail})"
    if summary.stop_source:
        line += f"; stopped by {summary.stop_source}"
    return line


#: Longest a cue between sessions may play (every pattern is shorter).
CUE_LIMIT_S = 5.0


@dataclass(kw_only=True, eq=False)
class AttemptRunner:
    """Runs start requests for the daemon and records what came of them in its result."""

    unit: DeviceUnit
    hooks: DaemonHooks
    options: DaemonOptions
    listener: IdleListener
    phase: PhaseReporter
    gestures: ButtonGestures
    shutdown: StopRequest
    result: DaemonResult

    async def run(self, plan_in_force: TherapyPlan) -> None:
        """Gate, rating, tare, then the session or trial (or the refusal)."""
        checked = await self.hooks.admit(plan_in_force)
        if isinstance(checked, str):
            await self._refuse(checked)
            return
        plan = checked
        for cue in self.hooks.start_cues():  # one after another, before the rating's own cue
            await play_cue(self.unit.haptics, cue, CUE_LIMIT_S, self.shutdown)
        if self.options.mode == "session" and not await self._rating_before():
            return  # a shutdown came during the rating: no session to start
        reason = await self._tare(plan) if self.options.tare else None
        if reason is not None:
            await self._refuse(reason)
            return
        self.hooks.starting()
        self.listener.feed.drain()
        stop = self.gestures.running = StopRequest()
        if self.shutdown.requested:
            stop.request(self.shutdown.source or "shutdown")
        try:
            if self.options.mode == "ppt":
                await self._trial(plan, stop)
            else:
                await self._session(plan, stop)
        finally:
            self.gestures.running = None
            self.gestures.trial_button = None
            self.gestures.check_in = None
            self.listener.readings.forget()  # the next tare rests on readings from after this one

    async def _rating_before(self) -> bool:
        """With ``rate_pain``: the rating before the session, entered or skipped.

        ``False`` when a shutdown came meanwhile (it skips the rating at once, ``DeviceRatings.tick``).
        """
        ratings = self.listener.ratings
        if ratings is None or not ratings.enabled or self.shutdown.requested:
            return True
        ratings.ask("before")
        await self.listener.until_rated()
        return not self.shutdown.requested

    async def _tare(self, plan: TherapyPlan) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TARE_TIMEOUT_S
        readings = self.listener.readings
        reason = readings.tare(plan.contact_threshold)
        while reason is not None and loop.time() < deadline and not self.shutdown.requested:
            await self.listener.listen(0.25)
            reason = readings.tare(plan.contact_threshold)
        return reason

    async def _refuse(self, reason: str) -> None:
        log.warning("session refused: %s", reason)
        self.result.refusals.append(reason)
        self.hooks.status(refused=reason)
        self.hooks.refused(reason)
        await play_cue(self.unit.haptics, Cue.REFUSED, CUE_LIMIT_S, self.shutdown)

    async def _session(self, plan: TherapyPlan, stop: StopRequest) -> None:
        unit = self.unit
        sampler = unit.sampler
        glitches_at_start = sampler.glitches
        engine = SessionEngine(
            plan,
            device_id=unit.device_id,
            sample_rate_hz=sampler.sensor.sample_rate_hz,
            device_max_n=unit.device_max_n,
            armed_at=asyncio.get_running_loop().time(),
            sinks=[*self.hooks.sinks(), self.phase],
            glitch_count=lambda: sampler.glitches - glitches_at_start,
            person=self.options.person,
        )
        stats = self.result.stats
        latency = DecisionLatency(stats.latency, sampler.clock, grid=ReadGrid(stats.lost, sampler.period_s))
        self.gestures.check_in = engine.gesture
        summary = await run_session(engine, self.listener.feed, unit.haptics, stop=stop, latency=latency)
        log.info("%s", describe_session_end(summary))
        self.result.summaries.append(summary)
        self.phase.set("idle", last_outcome=summary.outcome.value)

    async def _trial(self, plan: TherapyPlan, stop: StopRequest) -> None:
        """A standard pain threshold measurement at each spot, each spot's tolerance its safety limit."""
        button = self.gestures.trial_button = TrialButton()
        self.phase.set("ppt")
        measurement = StandardMeasurement(
            MeasuredSpot.of_plan(plan),
            protocol=self.options.ppt_protocol,
            probe_area_cm2=self.options.probe_area_cm2,
            settings=self.options.ppt,
            device_max_n=self.unit.device_max_n,
            sample_rate_hz=self.unit.sampler.sensor.sample_rate_hz,
        )
        result = await run_measurement(measurement, self.listener.feed, self.unit.haptics, button=button, stop=stop)
        log.info("pain threshold measurement ended: %s, %d spot(s) measured", result.outcome, len(result.spots))
        self.result.trials.append(result)
        self.phase.set("idle")
        self.hooks.trial_ended(result)
