"""Idle time on the sample feed: readings kept for the tare, silence told to the watchdog.

Between sessions (and while a start request waits for a steady reading)
the daemon listens here.  A silent sensor is a control-loop tick all the
same (the watchdog judges the loop, not the sensor); a dead sampling thread
is unrecoverable in-process, so it ends the daemon for a restart by systemd.
"""

from __future__ import annotations

import logging

from firmware.device.rating import DeviceRatings
from firmware.device.tare import IdleReadings
from firmware.health.watchdog_policy import LoopWatchdog
from firmware.realtime.feed import SampleFeed, Wake
from firmware.realtime.sampler import NoSample, Sample, SamplerEvent, SensorFault
from firmware.realtime.stop import StopRequest

log = logging.getLogger(__name__)


class IdleListener:
    """Reads the feed while no session runs."""

    def __init__(self, feed: SampleFeed, readings: IdleReadings, watchdog: LoopWatchdog, shutdown: StopRequest) -> None:
        self.feed = feed
        self.readings = readings
        self.watchdog = watchdog
        self.shutdown = shutdown
        #: Why the daemon must give up, once it must.
        self.failure: str | None = None
        #: The pain rating between sessions, ticked on every event (``None``: no ratings here).
        self.ratings: DeviceRatings | None = None

    async def listen(self, timeout: float, wake: Wake | None = None) -> SamplerEvent | None:
        """One event (``NoSample`` after ``timeout`` of silence), or ``None`` when ``wake`` fired."""
        event = await self.feed.next(timeout, wake)
        if isinstance(event, Sample):
            self.readings.add(event)
        elif isinstance(event, NoSample):
            self.watchdog.on_tick(event.t)
            self._check_stream()
        elif isinstance(event, SensorFault):
            self._check_stream()
        if self.ratings is not None:
            self.ratings.tick()
        return event

    async def until_rated(self) -> None:
        """Keep listening while a pain rating is under way (it ends by itself, or at a shutdown)."""
        while self.ratings is not None and self.ratings.active and self.failure is None:
            await self.listen(0.25)

    def sampler_alive(self) -> bool:
        """``False`` once the sampling thread is dead (and the daemon told to leave)."""
        self._check_stream()
        return self.failure is None

    def _check_stream(self) -> None:
        stream = self.feed.stream
        if stream.alive or self.failure is not None:
            return
        self.failure = f"the sampling thread died ({stream.error!r}); exiting for a restart"
        log.error("%s", self.failure)
        self.shutdown.request("sampler died")
