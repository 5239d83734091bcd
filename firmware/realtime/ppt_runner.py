"""Run one pressure-pain-threshold trial on the device's live sample stream.

The pure ``AlgometryTrial`` decides; this shell feeds it session-relative
samples from the device's one sample feed, turns its cues into motor patterns, routes
the button (a press during the trial means "first discomfort") and makes sure
the motor is off at the end, whatever ended it.
"""

from __future__ import annotations

import asyncio

from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.trial import AlgometryTrial
from firmware.realtime.engine import session_seconds
from firmware.realtime.feed import SampleFeed
from firmware.realtime.motor import FINAL_CUE_S, MotorPlayer
from firmware.realtime.sampler import Sample, SensorFault
from firmware.realtime.stop import StopRequest
from firmware.session.decisions import CueDecision
from hal.haptics import Haptics


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
    loop = asyncio.get_running_loop()
    sampler = feed.stream.sampler
    trial = AlgometryTrial(
        settings, tolerance_n=tolerance_n, device_max_n=device_max_n, sample_rate_hz=sampler.sensor.sample_rate_hz
    )
    origin: float | None = None

    def rel(t: float) -> float:
        return session_seconds(t, origin if origin is not None else t)

    async with MotorPlayer(haptics) as motor:
        while not trial.finished:
            if stop.requested:
                decisions = trial.on_stop(rel(loop.time()))
            elif not button.presses.empty():
                decisions = trial.on_button(rel(button.presses.get_nowait()))
            else:
                event = await feed.next(feed.gap_tick_s, wake=stop)
                if event is None:  # the stop request woke us: handled at the top
                    continue
                if isinstance(event, Sample):
                    origin = event.t if origin is None else origin
                    decisions = trial.on_sample(rel(event.t), event.force_n)
                elif isinstance(event, SensorFault):
                    decisions = trial.on_sensor_fault(rel(event.t), event.detail)
                else:
                    decisions = trial.on_gap(rel(event.t)) if origin is not None else []
            for decision in decisions:
                if isinstance(decision, CueDecision):
                    motor.play(loop.time(), decision.cue)
        await motor.finish(FINAL_CUE_S, stop)  # done / abort, as the trial decided
    return trial.result()
