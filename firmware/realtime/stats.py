"""What the real-time process costs and how fast it decides, measured where it runs.

``LatencyHistogram`` counts data-ready → decision latencies in a fixed set
of geometric bins (8 a doubling, from 10 µs to about 10 s), so recording one
sample allocates nothing and a whole day of samples takes the same 161
counters.  A quantile is read as the upper edge of the bin that holds it
(at most 9 % above the true value, never below it), capped at the largest
latency seen.  ``UsageMeter`` measures CPU time over wall time of this
process in steady sampling (from the first sample on), beside it the share
the simulated hardware took and the whole-life figure, and the peak
resident set.  ``LostReads`` counts conversions missing
in a session: ``ReadGrid`` places each sample on the chip's conversion grid
by its stamp, so a sample stamped late is not a lost read.  (Counting
"duration × rate" against samples instead miscounts by one whenever the
first or last sample of a session is stamped over half a period late.)
"""

from __future__ import annotations

import math
import os
import resource
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware.realtime.sampler import Sample, SamplerEvent
from hal.clock import Clock

#: Upper edge of bin 0: anything up to 10 µs.
SMALLEST_S = 10e-6
#: Bins per doubling: each bin is 2**(1/8) ≈ 1.09 times as wide as the one before.
BINS_PER_DOUBLING = 8
#: Doublings above ``SMALLEST_S``; the last bin also takes everything longer (≈ 10.5 s).
DOUBLINGS = 20
BIN_COUNT = BINS_PER_DOUBLING * DOUBLINGS + 1


def bin_edge(index: int) -> float:
    """Upper edge of bin ``index``, in seconds."""
    return SMALLEST_S * math.pow(2.0, index / BINS_PER_DOUBLING)


#: Every bin's upper edge but the last one's (which takes everything longer), in order.
_EDGES_S = tuple(bin_edge(index) for index in range(BIN_COUNT - 1))


def bin_index(latency_s: float) -> int:
    """The bin that holds ``latency_s``: bin ``i`` is ``(edge(i - 1), edge(i)]``.

    A binary search over the edges (no logarithm per sample); NaN, negative
    or tiny latencies fall in the first bin, infinity in the last.
    """
    return bisect_left(_EDGES_S, latency_s)


@dataclass
class LatencyHistogram:
    """Counts of latencies per geometric bin, plus the exact count, total and maximum."""

    counts: list[int] = field(default_factory=lambda: [0] * BIN_COUNT)
    count: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def record(self, latency_s: float) -> None:
        self.counts[bin_index(latency_s)] += 1
        self.count += 1
        self.total_s += latency_s
        if latency_s > self.max_s:
            self.max_s = latency_s

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q`` quantile's bin edge (``None`` with nothing recorded).

        The smallest bin edge at or under which at least ``ceil(q * count)``
        latencies fall, capped at the maximum seen.
        """
        if not 0.0 < q <= 1.0:
            raise ValueError(f"a quantile is in (0, 1], not {q!r}")
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                return min(bin_edge(index), self.max_s)
        raise AssertionError("bin counts do not add up to count")  # pragma: no cover


@dataclass
class LostReads:
    """Conversions that never became samples, over all sessions."""

    count: int = 0


#: A stamp this much of a period before its grid point still counts as that conversion (stamp jitter).
GRID_SLACK = 0.05


class ReadGrid:
    """Which conversion of the chip's grid each sample of one session was, and how many went missing.

    The chip converts on a fixed grid; a sample is stamped some time after its
    conversion was ready (never before, less than a period after, or it would
    have been overwritten).  The grid's origin is the earliest stamp seen, moved
    back by whole periods; each sample is the conversion whose grid point is at
    or just before its stamp, so a late stamp is not mistaken for a lost read.
    """

    __slots__ = ("_index", "_origin", "lost", "period_s")

    def __init__(self, lost: LostReads, period_s: float) -> None:
        self.lost = lost
        self.period_s = period_s
        self._origin: float | None = None
        self._index = 0

    def sample(self, t: float) -> None:
        if self._origin is None:
            self._origin = t
            return
        on_grid = math.floor((t - self._origin) / self.period_s + GRID_SLACK)
        index = self._index + 1
        if on_grid > index:  # max() and min() without their two calls a sample
            self.lost.count += on_grid - index
            index = on_grid
        self._index = index
        origin = t - index * self.period_s
        if origin < self._origin:
            self._origin = origin


#: Latencies are binned, and samples placed on the read grid, this many at a time.
LATENCY_BATCH = 256


class DecisionLatency:
    """Records ``clock.now() - sample.t`` once the engine has handled each sample (and, given one, its grid).

    A sample only has its latency taken and kept: binning it and placing it
    on the grid wait for ``LATENCY_BATCH`` of them, or for ``flush`` (the end
    of a session; reading ``histogram`` flushes too).  One pass over many is
    far cheaper than three calls into the histogram and the grid in every
    period, when the process wakes to a cold cache.
    """

    __slots__ = ("_histogram", "_latencies", "_now", "_stamps", "clock", "grid")

    def __init__(self, histogram: LatencyHistogram, clock: Clock, *, grid: ReadGrid | None = None) -> None:
        self._histogram = histogram
        self.clock = clock
        self.grid = grid
        self._now = clock.now
        self._latencies: list[float] = []
        self._stamps: list[float] = []

    @property
    def histogram(self) -> LatencyHistogram:
        """The histogram, with every sample handled so far in it."""
        self.flush()
        return self._histogram

    def handled(self, event: SamplerEvent) -> None:
        if type(event) is Sample:
            latencies = self._latencies
            latencies.append(self._now() - event.t)
            self._stamps.append(event.t)
            if len(latencies) >= LATENCY_BATCH:
                self.flush()

    def flush(self) -> None:
        """Bin the latencies kept so far and place their samples on the grid, in the order they came."""
        latencies, stamps = self._latencies, self._stamps
        if not latencies:
            return
        self._latencies, self._stamps = [], []
        record = self._histogram.record
        for latency in latencies:
            record(latency)
        if self.grid is not None:
            place = self.grid.sample
            for t in stamps:
                place(t)


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, MiB.

    ``VmHWM`` of its own memory, not ``ru_maxrss``: Linux carries that one over
    fork and exec, so a child reports the peak of the parent it was spawned
    from (the real-time process showed the service's 45 MiB as its own).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # no /proc: the best there is


def process_age_s() -> float | None:
    """Wall seconds since this process was created (``None`` where ``/proc`` cannot tell)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_s = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime: ticks since boot
    except (OSError, ValueError, IndexError):
        return None
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started_s


#: Seconds of CPU some part of the process took so far (the emulator's, say), read at the meter's start and stop.
CpuCounter = Callable[[], float]


@dataclass
class UsageMeter:
    """CPU time over wall time of this process, from ``start()`` to ``stop()``.

    The daemon starts it when sampling is under way (first sample on the
    loop): start-up imports and hardware set-up are a one-time cost, not a
    share at 80/s.  ``stop`` also records, when it can tell, the whole-life
    figure (CPU since the process was created over its age) and, given an
    ``emulator`` counter, the CPU the simulated hardware took over the same
    span - work that runs in this process only when it simulates.
    """

    cpu_s: float = 0.0
    wall_s: float = 0.0
    peak_rss_mib: float = 0.0
    #: CPU of the emulated chip / simulated load cell between ``start`` and ``stop`` (``None``: not told).
    emulator_cpu_s: float | None = None
    #: CPU of the sampling thread over its life (``None``: not told).
    sampler_cpu_s: float | None = None
    #: CPU since the process was created, and its age, at ``stop`` (``None``: not known).
    life_cpu_s: float | None = None
    life_wall_s: float | None = None
    _started: tuple[float, float] | None = None
    _emulator_at_start: float = 0.0

    def start(self, emulator: CpuCounter | None = None) -> None:
        self._started = (time.process_time(), time.monotonic())
        self._emulator_at_start = emulator() if emulator is not None else 0.0

    def stop(self, emulator: CpuCounter | None = None, *, sampler_cpu_s: float | None = None) -> None:
        if self._started is not None:
            cpu0, wall0 = self._started
            self.cpu_s = time.process_time() - cpu0
            self.wall_s = time.monotonic() - wall0
            if emulator is not None:
                self.emulator_cpu_s = emulator() - self._emulator_at_start
        self.sampler_cpu_s = sampler_cpu_s
        self.life_wall_s = process_age_s()
        self.life_cpu_s = time.process_time() if self.life_wall_s is not None else None
        self.peak_rss_mib = peak_rss_mib()

    @property
    def cpu_share(self) -> float:
        """Fraction of one core used from ``start`` to ``stop`` (0.05 = 5 %)."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def extra_figures(self) -> str:
        """The figures beside the main one, each only when measured (``; …`` parts of the stats line)."""
        parts = []
        wall = self.wall_s
        if self.emulator_cpu_s is not None and wall > 0:
            emulator = self.emulator_cpu_s / wall * 100
            parts.append(f"CPU less the emulator {self.cpu_share * 100 - emulator:.2f} % (emulator {emulator:.2f} %)")
        if self.sampler_cpu_s is not None and wall > 0:
            parts.append(f"sampling thread {self.sampler_cpu_s / wall * 100:.2f} %")
        if self.life_cpu_s is not None and self.life_wall_s:
            life = self.life_cpu_s / self.life_wall_s * 100
            parts.append(f"whole life CPU {life:.2f} % over {self.life_wall_s:.1f} s")
        return "".join(f"; {part}" for part in parts)


@dataclass
class RealtimeStats:
    """What the real-time process reports at exit (part of ``DaemonResult``)."""

    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    usage: UsageMeter = field(default_factory=UsageMeter)
    lost: LostReads = field(default_factory=LostReads)

    def describe(self) -> str:
        """One line for the log; ``bench/bench_realtime.py`` reads it back."""
        lat = self.latency
        p50, p99 = lat.quantile(0.5), lat.quantile(0.99)
        figures = (
            "no samples"
            if p50 is None or p99 is None
            else (f"data-ready→decision p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {lat.max_s * 1e3:.3f} ms")
        )
        use = self.usage
        return (
            f"{lat.count} samples, {figures}; CPU {use.cpu_share * 100:.2f} % of one core over {use.wall_s:.1f} s; "
            f"peak RSS {use.peak_rss_mib:.1f} MiB; lost reads {self.lost.count}{use.extra_figures()}"
        )
