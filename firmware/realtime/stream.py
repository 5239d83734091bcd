"""The stream of sampler events on the loop, read on the loop's timers or by a sampling thread.

A ``SteppedSensor`` on the loop's own clock (SPI, the simulated load cell)
is read on the loop, one timer per conversion (``loop_reads.LoopReads``).
Any other sensor (GPIO bit-banging, whose reads block) or clock (``--speed``,
tests' lockstep clock) gets a sampling thread (``SamplingThread``) that
blocks on the sensor (the HX711 paces itself) and hands each event to the
loop.  Either way the events wait in one ``EventQueue`` for their one
reader, :class:`firmware.realtime.feed.SampleFeed`, and a death of the
reads queues a ``SensorFault`` first, so the loop hears about it at once.

The stream runs for the life of the device, not one session.  The thread
keeps the scheduling policy it inherits: on the device the systemd unit
puts the whole process under SCHED_FIFO (its seccomp filter forbids
changing that from Python).

Starting it also freezes the garbage collector's view of every object made
so far (``gc.freeze``): the modules, configuration and hardware live as long
as the process, and a full collection that walks them holds the GIL for tens
of milliseconds (70-190 ms measured on the loaded 2-core VM for the ~41,000
objects after start-up) - longer than three sample periods, during which
nothing can read: the chip overwrites conversions and the silent-sensor rule
fires.  Collections after that walk only what sessions make.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time

from firmware.realtime.handoff import EventQueue, ThreadHandoff
from firmware.realtime.loop_reads import LoopReads, reads_on_loop
from firmware.realtime.sampler import Sampler, SensorFault

log = logging.getLogger(__name__)


class SamplingThread:
    """A thread that keeps pulling events from a blocking sampler and queues them on the loop.

    Made on the loop's thread.
    """

    def __init__(self, sampler: Sampler, queue: EventQueue, loop: asyncio.AbstractEventLoop) -> None:
        self.sampler = sampler
        self.handoff = ThreadHandoff(queue, loop)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="presspoint-sampler", daemon=True)
        self.error: BaseException | None = None
        #: CPU seconds the thread took over its life, once it has ended.
        self.cpu_s: float | None = None

    def start(self) -> None:
        self._thread.start()

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

    def stop(self, timeout_s: float = 1.0) -> None:
        """Ask the thread to end and wait for it (bounded).

        The hand-off's eventfd is closed only once the thread has ended: a
        thread still blocked in a read keeps it, or its next post could write
        to whatever file reused the number.
        """
        self._stop.set()
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self.handoff.close()


class SampleStream:
    """Sampler events queued on the loop as they come, read on the loop or by a thread.

    Made on the loop's thread.  ``on_loop`` forces the choice (``None``: ``reads_on_loop``).
    """

    def __init__(self, sampler: Sampler, loop: asyncio.AbstractEventLoop, *, on_loop: bool | None = None) -> None:
        self.sampler = sampler
        self.queue = EventQueue()
        if on_loop is None:
            on_loop = reads_on_loop(sampler, loop)
        self.reads: LoopReads | SamplingThread = (
            LoopReads(sampler, self.queue, loop) if on_loop else SamplingThread(sampler, self.queue, loop)
        )

    def start(self) -> SampleStream:
        gc.collect()  # what is garbage now must not be frozen with the rest
        gc.freeze()  # see the module docstring: no full collection walks the start-up objects again
        self.reads.start()
        return self

    @property
    def on_loop(self) -> bool:
        return isinstance(self.reads, LoopReads)

    @property
    def handoff(self) -> ThreadHandoff | None:
        """The sampling thread's hand-off; ``None`` when reading on the loop."""
        return self.reads.handoff if isinstance(self.reads, SamplingThread) else None

    @property
    def alive(self) -> bool:
        return self.reads.alive

    @property
    def error(self) -> BaseException | None:
        """What ended the reads, if anything did."""
        return self.reads.error

    @property
    def cpu_s(self) -> float | None:
        """CPU seconds the reads took: the sampling thread's once it ended, or the loop's reads."""
        return self.reads.cpu_s

    def drain(self) -> None:
        """Forget events queued so far (stale ones from before a session)."""
        while not self.queue.empty():
            self.queue.get_nowait()

    def stop(self, timeout_s: float = 1.0) -> None:
        """End the reads (a thread is waited for, bounded); on the loop's thread."""
        if isinstance(self.reads, SamplingThread):
            self.reads.stop(timeout_s)
        else:
            self.reads.stop()
