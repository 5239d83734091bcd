"""The motor player: a task that applies a cue timeline's level changes at their exact times.

Sessions, threshold trials and cues between sessions all play through
``MotorPlayer``; leaving it, however, switches the motor off.
"""

from __future__ import annotations

import asyncio
import contextlib

from firmware.cues.timeline import MotorTimeline
from firmware.realtime.stop import StopRequest
from firmware.session.states import Cue
from hal.haptics import Haptics

#: How early a motor change may be applied (float noise, not timing).
TIMELINE_SLACK_S = 1e-4
#: How long the last cue of a session or trial (done / abort) may play before its runner returns.
FINAL_CUE_S = 2.0


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
    task, forgets whatever is queued and switches the motor off.
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


async def play_cue(haptics: Haptics, cue: Cue, limit_s: float, stop: StopRequest | None = None) -> None:
    """Play one cue on its own (a refusal, a gesture's answer); the motor is off after."""
    async with MotorPlayer(haptics) as motor:
        motor.play(asyncio.get_running_loop().time(), cue)
        await motor.finish(limit_s, stop)
