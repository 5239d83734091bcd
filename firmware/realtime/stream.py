"""The sampling thread: blocks on the sensor (the HX711 paces itself) and queues events on the loop.

It runs for the life of the device, not one session.  If the thread dies it
queues a ``SensorFault`` first, so the loop hears about it at once.  The
queue has one reader, :class:`firmware.realtime.feed.SampleFeed`.

The thread keeps the scheduling policy it inherits: on the device the
systemd unit puts the whole process under SCHED_FIFO (its seccomp filter
forbids changing that from Python).

Starting it also freezes the garbage collector's view of every object made
so far (``gc.freeze``): the modules, configuration and hardware live as long
as the process, and a full collection that walks them holds the GIL for tens
of milliseconds (70-190 ms measured on the loaded 2-core VM for the ~41,000
objects after start-up) - longer than three sample periods, during which the
sampling thread cannot read: the chip overwrites conversions and the silent-
sensor rule fires.  Collections after that walk only what sessions make.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time

from firmware.realtime.handoff import EventQueue, ThreadHandoff
from firmware.realtime.sampler import Sampler, SensorFault

log = logging.getLogger(__name__)


class SampleStream:
    """A sampling thread that keeps pulling events and queues them on the loop.

    Made on the loop's thread.
    """

    def __init__(self, sampler: Sampler, loop: asyncio.AbstractEventLoop) -> None:
        self.sampler = sampler
        self.queue = EventQueue()
        self.handoff = ThreadHandoff(self.queue, loop)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presspoint-sampler", daemon=True)
        self.error: BaseException | None = None
        #: CPU seconds the sampling thread took over its life, once it has ended.
        self.cpu_s: float | None = None

    def start(self) -> SampleStream:
        gc.collect()  # what is garbage now must not be frozen with the rest
        gc.freeze()  # see the module docstring: no full collection walks the start-up objects again
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        post, sampler, stop = self.handoff.post, self.sampler, self._stop
        try:
            while not stop.is_set():
                post(sampler.next())
        except BaseException as err:  # the loop must hear about any death
            self.error = err
            log.exception("sampling thread died")
            with contextlib.suppress(RuntimeError, OSError):
                post(SensorFault(sampler.clock.now(), f"sampling thread died: {err}"))
        finally:
            self.cpu_s = time.thread_time()

    def drain(self) -> None:
        """Forget events queued so far (stale ones from before a session)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def stop(self, timeout_s: float = 1.0) -> None:
        """Ask the thread to end and wait for it (bounded); on the loop's thread.

        The hand-off's eventfd is closed only once the thread has ended: a
        thread still blocked in a read keeps it, or its next post could write
        to whatever file reused the number.
        """
        self._stop.set()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.handoff.close()
