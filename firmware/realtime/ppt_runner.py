"""Run a pressure-pain-threshold trial, or a whole standard measurement, on the device's live samples.

The pure ``AlgometryTrial`` or ``StandardMeasurement`` decides; this shell
feeds it session-relative samples from the device's one sample feed, turns
its cues into motor patterns, routes the button (a press during a trial means
"first discomfort") and makes sure the motor is off at the end, whatever
ended it.  ``run_virtual_measurement`` does the same in virtual time, for
``simulate --mode ppt``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Protocol

from firmware.algometry.decisions import AlgometryDecision
from firmware.algometry.measurement import MeasurementDecision, MeasurementResult, StandardMeasurement
from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.trial import AlgometryTrial
from firmware.cues.timeline import MotorTimeline
from firmware.realtime.engine import session_seconds
from firmware.realtime.feed import SampleFeed
from firmware.realtime.motor import FINAL_CUE_S, MotorPlayer
from firmware.realtime.sampler import Sample, Sampler, SensorFault
from firmware.realtime.scripted_panel import ScriptedPanel, play_in_order
from firmware.realtime.stop import StopRequest
from firmware.session.decisions import CueDecision
from hal.buttons import StartStopButton
from hal.clock import VirtualClock
from hal.haptics import Haptics

Decision = AlgometryDecision | MeasurementDecision


class Marked(Protocol):
    """A trial or a measurement: samples, silences, faults, marks and stops in; decisions out."""

    @property
    def finished(self) -> bool: ...

    def on_sample(self, t: float, force_n: float) -> Sequence[Decision]: ...

    def on_gap(self, t: float) -> Sequence[Decision]: ...

    def on_sensor_fault(self, t: float, detail: str) -> Sequence[Decision]: ...

    def on_button(self, t: float) -> Sequence[Decision]: ...

    def on_stop(self, t: float) -> Sequence[Decision]: ...


class TrialButton:
    """The button during a trial: presses are queued with their loop time."""

    def __init__(self) -> None:
        self.presses: asyncio.Queue[float] = asyncio.Queue()

    def press(self) -> None:
        self.presses.put_nowait(asyncio.get_running_loop().time())


async def run_trial(
    feed: SampleFeed,
    haptics: Haptics,
    *,
    settings: AlgometrySettings,
    tolerance_n: float,
    device_max_n: float,
    button: TrialButton,
    stop: StopRequest,
) -> AlgometryResult:
    """One trial, from the next sample to a press, an abort, a time-out or a stop."""
    trial = AlgometryTrial(
        settings,
        tolerance_n=tolerance_n,
        device_max_n=device_max_n,
        sample_rate_hz=feed.stream.sampler.sensor.sample_rate_hz,
    )
    await drive(trial, feed, haptics, button=button, stop=stop)
    return trial.result()


async def run_measurement(
    measurement: StandardMeasurement, feed: SampleFeed, haptics: Haptics, *, button: TrialButton, stop: StopRequest
) -> MeasurementResult:
    """A whole standard measurement: every trial and rest at every spot, or up to what ended it."""
    await drive(measurement, feed, haptics, button=button, stop=stop)
    return measurement.result()


async def drive(machine: Marked, feed: SampleFeed, haptics: Haptics, *, button: TrialButton, stop: StopRequest) -> None:
    """Feed ``machine`` until it finishes; its cues play on the motor, which ends off."""
    loop = asyncio.get_running_loop()
    origin: float | None = None

    def rel(t: float) -> float:
        return session_seconds(t, origin if origin is not None else t)

    async with MotorPlayer(haptics) as motor:
        while not machine.finished:
            decisions: Sequence[Decision]
            if stop.requested:
                decisions = machine.on_stop(rel(loop.time()))
            elif not button.presses.empty():
                decisions = machine.on_button(rel(button.presses.get_nowait()))
            else:
                event = await feed.next(feed.gap_tick_s, wake=stop)
                if event is None:  # the stop request woke us: handled at the top
                    continue
                if isinstance(event, Sample):
                    origin = event.t if origin is None else origin
                    decisions = machine.on_sample(rel(event.t), event.force_n)
                elif isinstance(event, SensorFault):
                    decisions = machine.on_sensor_fault(rel(event.t), event.detail)
                else:
                    decisions = machine.on_gap(rel(event.t)) if origin is not None else []
            for decision in decisions:
                if isinstance(decision, CueDecision):
                    motor.play(loop.time(), decision.cue)
        await motor.finish(FINAL_CUE_S, stop)  # done / abort, as the machine decided


def run_virtual_measurement(
    measurement: StandardMeasurement,
    *,
    sampler: Sampler,
    haptics: Haptics,
    clock: VirtualClock,
    presses: Sequence[tuple[float, str]] = (),
    buttons: Sequence[StartStopButton] = (),
) -> tuple[MeasurementResult, list[Decision]]:
    """The whole measurement in virtual time; each press of the start/stop button marks first discomfort.

    Presses are ``(measurement time, name)`` in time order, edges on
    ``buttons`` (``ScriptedPanel``) applied before the first sample at or
    after their time.  As on the device during a trial (``ButtonGestures``)
    the first button's way down is the mark - a trace's ``mark`` and
    ``stop`` are the same press - and the check-in button means nothing.
    The motor ends off.
    """
    timeline = MotorTimeline()
    marks: list[float] = []
    panel = ScriptedPanel(buttons, presses, on_down=lambda: marks.append(clock.now()))
    decisions: list[Decision] = []
    origin = clock.now()
    period = sampler.period_s

    def measured(step: Sequence[Decision]) -> None:
        for decision in step:
            if isinstance(decision, CueDecision):
                timeline.play(clock.now(), decision.cue)
        decisions.extend(step)

    try:
        read_at = clock.now()  # the next sample comes a period after the last read, however many presses between
        while not measurement.finished:
            play_in_order(
                clock, timeline, haptics, motor_until=read_at + 0.999 * period, panel=panel,
                edges_until_s=session_seconds(read_at + period, origin), clock_time=lambda at_s: origin + at_s,
                halt=lambda: bool(marks),
            )  # fmt: skip
            if marks:
                while marks and not measurement.finished:
                    measured(measurement.on_button(session_seconds(marks.pop(0), origin)))
                continue
            event = sampler.next()
            read_at = clock.now()
            t = session_seconds(event.t, origin)
            if isinstance(event, Sample):
                measured(measurement.on_sample(t, event.force_n))
            elif isinstance(event, SensorFault):
                measured(measurement.on_sensor_fault(t, event.detail))
            else:
                measured(measurement.on_gap(t))
        play_in_order(clock, timeline, haptics, motor_until=math.inf)  # the final cue plays out
    finally:
        panel.close()
        timeline.stop()
        haptics.off()
    return measurement.result(), decisions
