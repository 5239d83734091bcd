"""The device runtime: a real-time asyncio shell around the session engine.

Three things run while a session is on:

* a **sampling thread** that blocks on the sensor (the HX711 paces itself)
  and hands each event to the loop with ``call_soon_threadsafe``;
* the **control loop**, which feeds events to the engine in order and turns a
  silent sensor (or a dead sampling thread) into gap ticks, so the
  controller's "no sample for 3 periods" rule fires even then;
* the **motor task**, which plays the cue timeline at its exact times.

A stop request (button, SIGTERM, Ctrl-C) is checked on every event and also
wakes the loop directly, so stop works in every phase within one period.
Whatever happens - end, abort, exception, cancellation - the motor is
switched off in ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from config.plan import TherapyPlan
from firmware.cues.timeline import MotorTimeline
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import NoSample, Sampler, SamplerEvent, SensorFault
from firmware.realtime.sinks import SessionSink
from firmware.session.decisions import Decision
from firmware.session.states import Cue
from firmware.session.summary import SessionSummary
from hal.haptics import Haptics

log = logging.getLogger(__name__)

#: How early a motor change may be applied (float noise, not timing).
TIMELINE_SLACK_S = 1e-4

#: Without a sample for this many periods the control loop ticks anyway, so
#: the "no sample for 3 periods" rule fires even when the sampler is silent.
GAP_TICK_PERIODS = 1.5


@dataclass
class StopRequest:
    """Thread-safe "stop the session" flag the button and signals set."""

    source: str | None = None
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def request(self, source: str) -> None:
        if self.source is None:
            self.source = source
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class SampleStream:
    """A sampling thread that keeps pulling events and queues them on the loop.

    It runs for the life of the device, not one session: between sessions the
    samples feed the watchdog, the tare window and the status; during one, the
    session engine.  If the thread dies it queues a ``SensorFault`` first, so
    the loop hears about it at once.
    """

    def __init__(self, sampler: Sampler, loop: asyncio.AbstractEventLoop) -> None:
        self.sampler = sampler
        self._loop = loop
        self.queue: asyncio.Queue[SamplerEvent] = asyncio.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presspoint-sampler", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> SampleStream:
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                event = self.sampler.next()
                self._loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except BaseException as err:  # the loop must hear about any death
            self.error = err
            log.exception("sampling thread died")
            with contextlib.suppress(RuntimeError):
                fault = SensorFault(self.sampler.clock.now(), f"sampling thread died: {err}")
                self._loop.call_soon_threadsafe(self.queue.put_nowait, fault)

    def drain(self) -> None:
        """Forget events queued so far (stale ones from before a session)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)


async def play_timeline(timeline: MotorTimeline, haptics: Haptics, wake: asyncio.Event) -> None:
    """Apply the timeline's level changes at their times, until cancelled.

    Uses ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 a
    ``wait_for`` whose inner wait completes just as the task is cancelled can
    swallow the cancellation, and this task must always stop when told.
    """
    loop = asyncio.get_running_loop()
    while True:
        # A change due within 0.1 ms counts as due now: float noise between the
        # laid-out step times and the loop's clock must not make us wait for
        # a zero-length timeout over and over.
        for _, level in timeline.due(loop.time() + TIMELINE_SLACK_S):
            haptics.set_level(level)
        at = timeline.next_change_at()
        wake.clear()
        try:
            async with asyncio.timeout(None if at is None else max(0.0, at - loop.time())):
                await wake.wait()
        except TimeoutError:
            pass


class MotorPlayer:
    """Plays a cue timeline on the motor from a task, for as long as it is open.

    Leaving it - normally, by an exception or by cancellation - stops the
    task, forgets whatever is queued and switches the motor off.  Sessions,
    threshold trials and cues between sessions all play through it.
    """

    def __init__(self, haptics: Haptics, timeline: MotorTimeline | None = None) -> None:
        self.timeline = timeline if timeline is not None else MotorTimeline()
        self._haptics = haptics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def play(self, t: float, cue: Cue) -> None:
        """Queue ``cue`` at loop time ``t``."""
        self.timeline.play(t, cue)
        self._wake.set()

    def changed(self) -> None:
        """Someone else put cues on the timeline: look again."""
        self._wake.set()

    async def finish(self, limit_s: float, stop: StopRequest | None = None) -> None:
        """Let what is queued play out, for at most ``limit_s``, unless a stop is requested."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while not self.timeline.idle and loop.time() < deadline and not (stop is not None and stop.requested):
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> MotorPlayer:
        self._task = asyncio.create_task(play_timeline(self.timeline, self._haptics, self._wake), name="motor")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.timeline.stop()
        self._haptics.off()


async def run_realtime_session(
    plan: TherapyPlan,
    *,
    sampler: Sampler,
    haptics: Haptics,
    device_id: str,
    device_max_n: float,
    sinks: Sequence[SessionSink] = (),
    stop: StopRequest | None = None,
    on_decisions: Callable[[Sequence[Decision], SessionEngine], None] | None = None,
    on_event: Callable[[SamplerEvent], None] | None = None,
) -> SessionSummary:
    """Run one session in real time on its own sampling thread; returns its summary."""
    stream = SampleStream(sampler, asyncio.get_running_loop()).start()
    try:
        engine = SessionEngine(
            plan,
            device_id=device_id,
            sample_rate_hz=sampler.sensor.sample_rate_hz,
            device_max_n=device_max_n,
            armed_at=asyncio.get_running_loop().time(),
            sinks=sinks,
            glitch_count=lambda: sampler.glitches,
        )
        return await run_session_on_stream(
            engine, stream, haptics, stop=stop, on_decisions=on_decisions, on_event=on_event
        )
    finally:
        stream.stop()


async def run_session_on_stream(
    engine: SessionEngine,
    stream: SampleStream,
    haptics: Haptics,
    *,
    stop: StopRequest | None = None,
    on_decisions: Callable[[Sequence[Decision], SessionEngine], None] | None = None,
    on_event: Callable[[SamplerEvent], None] | None = None,
    final_cue_s: float = 2.0,
) -> SessionSummary:
    """Feed a running sample stream to ``engine`` until the session ends.

    The motor is off when this returns or raises, whatever the reason.
    """
    loop = asyncio.get_running_loop()
    stop = stop or StopRequest()
    gap_tick = GAP_TICK_PERIODS * stream.sampler.period_s
    stop_wait: asyncio.Future[Any] = asyncio.create_task(stop.wait(), name="stop-wait")
    get: asyncio.Future[Any] | None = None
    try:
        async with MotorPlayer(haptics, engine.timeline) as motor:
            while not engine.finished:
                if get is None:
                    get = asyncio.ensure_future(stream.queue.get())
                done, _ = await asyncio.wait({get, stop_wait}, timeout=gap_tick, return_when=asyncio.FIRST_COMPLETED)
                if stop.requested:
                    decisions = engine.stop(loop.time(), stop.source or "stop")
                elif get in done:
                    event = get.result()
                    get = None
                    if on_event is not None:
                        on_event(event)
                    decisions = engine.handle(event)
                else:
                    decisions = engine.handle(NoSample(loop.time()))
                if decisions:
                    motor.changed()
                    if on_decisions is not None:
                        on_decisions(decisions, engine)
            await motor.finish(final_cue_s, stop)  # the last cue (done / abort)
    finally:
        if get is not None:
            get.cancel()
        stop_wait.cancel()
    return engine.finish()
