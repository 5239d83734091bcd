"""Sessions in real time: the session engine fed from the sample feed, cues on the motor.

Three things run while a session is on:

* the **reads** (``stream.SampleStream``: the loop's timers, or a sampling
  thread that blocks on the sensor), which queue each event on the loop;
* the **control loop** here, which the one ``SampleFeed`` hands each event
  in order as it is queued (gap ticks when the sensor is silent), and which
  hands it to the engine in that same loop iteration;
* the **motor task** (``motor.MotorPlayer``), which plays the cue timeline at
  its exact times.

A plan and a stop request go in; decisions and samples come out through the
engine's sinks only, so this loop knows nothing of MQTT, SQLite or plan
updates.  A stop request (button, SIGTERM, Ctrl-C) wakes the loop directly,
so stop works in every phase within one period.  Whatever happens - end,
abort, exception, cancellation - the motor is switched off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.feed import SampleFeed
from firmware.realtime.motor import FINAL_CUE_S, MotorPlayer
from firmware.realtime.sampler import Sampler, SamplerEvent
from firmware.realtime.sinks import SessionSink
from firmware.realtime.stats import DecisionLatency
from firmware.realtime.stop import StopRequest
from firmware.realtime.stream import SampleStream
from firmware.session.summary import SessionSummary
from hal.haptics import Haptics


async def run_realtime_session(
    plan: TherapyPlan,
    *,
    sampler: Sampler,
    haptics: Haptics,
    device_id: str,
    device_max_n: float,
    sinks: Sequence[SessionSink] = (),
    stop: StopRequest | None = None,
    on_engine: Callable[[SessionEngine], None] | None = None,
) -> SessionSummary:
    """Run one session in real time on its own sampling thread; returns its summary.

    ``on_engine`` is given the session's engine before its first sample (to route check-ins to it).
    """
    loop = asyncio.get_running_loop()
    stream = SampleStream(sampler, loop).start()
    feed = SampleFeed(stream)
    try:
        engine = SessionEngine.reading(
            plan, sampler, device_id=device_id, device_max_n=device_max_n, armed_at=loop.time(), sinks=sinks
        )
        if on_engine is not None:
            on_engine(engine)
        return await run_session(engine, feed, haptics, stop=stop)
    finally:
        await feed.close()
        stream.stop()


async def run_session(
    engine: SessionEngine,
    feed: SampleFeed,
    haptics: Haptics,
    *,
    stop: StopRequest | None = None,
    final_cue_s: float = FINAL_CUE_S,
    latency: DecisionLatency | None = None,
) -> SessionSummary:
    """Feed the sample feed to ``engine`` until the session ends.

    ``latency`` records how long each sample took from its stamp to its decision (flushed at the end).
    The motor is off when this returns or raises, whatever the reason.
    """
    loop = asyncio.get_running_loop()
    stop = stop or StopRequest()
    gap_tick_s = feed.gap_tick_s  # the sampler's period is fixed for the session
    controller = engine.controller
    try:
        async with MotorPlayer(haptics, engine.timeline) as motor:

            def handle(event: SamplerEvent) -> bool:
                """One event, on the loop as it comes; ``False`` once the session is over or a stop is asked."""
                if stop.requested:
                    return False  # not handled: the stop comes first
                decisions = engine.handle(event)
                if latency is not None:
                    latency.handled(event)
                if decisions:
                    motor.changed()
                return controller.outcome is None  # engine.finished, without two property calls a sample

            while controller.outcome is None:
                woken = stop.requested or not await feed.deliver(handle, gap_tick_s, wake=stop)
                stopping = controller.outcome is None and (woken or stop.requested)
                if stopping and engine.stop(loop.time(), stop.source or "stop"):
                    motor.changed()
            await motor.finish(final_cue_s, stop)  # the last cue (done / abort)
    finally:
        if latency is not None:
            latency.flush()  # the session's last latencies into the histogram and read grid
    return engine.finish()
