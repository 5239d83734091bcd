"""Run one pressure-pain-threshold trial on the device's live sample stream.

The pure ``AlgometryTrial`` decides; this shell feeds it session-relative
samples from the daemon's stream, turns its cues into motor patterns, routes
the button (a press during the trial means "first discomfort") and makes sure
the motor is off at the end, whatever ended it.
"""

from __future__ import annotations

import asyncio

from firmware.algometry.result import AlgometryResult
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.trial import AlgometryTrial
from firmware.realtime.engine import session_seconds
from firmware.realtime.runtime import GAP_TICK_PERIODS, MotorPlayer, SampleStream, StopRequest
from firmware.realtime.sampler import NoSample, Sample, SensorFault
from firmware.session.decisions import CueDecision
from hal.haptics import Haptics

#: How long the trial's last cue may play before the runner returns.
FINAL_CUE_S = 2.0


class TrialButton:
    """The button during a trial: presses are queued with their loop time."""

    def __init__(self) -> None:
        self.presses: asyncio.Queue[float] = asyncio.Queue()

    def press(self) -> None:
        self.presses.put_nowait(asyncio.get_running_loop().time())


async def run_trial(
    stream: SampleStream,
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
    sampler = stream.sampler
    trial = AlgometryTrial(
        settings, tolerance_n=tolerance_n, device_max_n=device_max_n, sample_rate_hz=sampler.sensor.sample_rate_hz
    )
    origin: float | None = None
    tick = GAP_TICK_PERIODS * sampler.period_s

    def rel(t: float) -> float:
        return session_seconds(t, origin if origin is not None else t)

    async with MotorPlayer(haptics) as motor:
        while not trial.finished:
            if stop.requested:
                decisions = trial.on_stop(rel(loop.time()))
            elif not button.presses.empty():
                decisions = trial.on_button(rel(button.presses.get_nowait()))
            else:
                try:
                    async with asyncio.timeout(tick):
                        event = await stream.queue.get()
                except TimeoutError:
                    event = NoSample(loop.time())
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
