"""What one sample costs the real-time process from the feed to the recorded decision, with no I/O wait.

A default-plan session ("normal" scenario) is sampled once in virtual time;
its ``Sample`` events are then fed, as the control loop does, through the
real ``SessionEngine`` with the real-time process's own sinks (``LinkSink``
and the ``PhaseReporter``, whose link writes go to ``/dev/null``), the
decision latency and read grid, and the motor timeline.  Printed: µs per
sample (CPU time of this thread, so other processes on a loaded machine
count less), median of the runs, for

* ``controller``: ``SessionController.on_sample`` alone (the pure core);
* ``engine``:     ``SessionEngine.handle`` with no sinks;
* ``rt path``:    everything above as the real-time process runs it;
* ``paced``:      the rt path at one sample a period, sleeping in between
  as the real-time process does (cold caches: what a sample really costs there).

Run it from another tree to compare (``cd /work/wt/base && PYTHONPATH=$PWD
.venv/bin/python /path/to/bench/bench_core_path.py``); ``--profile N`` prints
the N functions that took most time in one ``rt path`` run under cProfile,
whose cost per call inflates a path of many small calls like this one (the
profiled figure per sample is printed beside the plain ones).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Callable
from typing import Any

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.device.link_hooks import LinkHooks, LinkNotifier
from firmware.device.phase import PhaseReporter
from firmware.realtime.engine import SessionEngine
from firmware.realtime.link import Link, LoopLink
from firmware.realtime.sampler import Sample, Sampler
from firmware.realtime.stats import DecisionLatency, LatencyHistogram, LostReads, ReadGrid
from firmware.session.controller import SessionController
from hal.clock import MonotonicClock, VirtualClock
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.profiles import build_scenario_source

#: Longer than any default-plan session: sampling stops here if the session has not ended.
SESSION_LIMIT_S = 400.0


def session_samples(plan: TherapyPlan, device: DeviceConfig) -> list[Sample]:
    """The samples of one default-plan session, as the sampler delivers them."""
    clock = VirtualClock()
    source = build_scenario_source("normal", plan, device.device_max, noise_n=0.05)
    sensor = SimulatedLoadCell(source, clock, sample_rate_hz=device.sample_rate_hz)
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, clock)
    controller = SessionController(plan, sample_rate_hz=device.sample_rate_hz, device_max_n=device.device_max)
    samples: list[Sample] = []
    while not controller.finished and clock.now() < SESSION_LIMIT_S:
        event = sampler.next()
        if isinstance(event, Sample):
            samples.append(event)
            controller.on_sample(event.t, event.force_n)
    return samples


def controller_run(plan: TherapyPlan, device: DeviceConfig, samples: list[Sample]) -> float:
    controller = SessionController(plan, sample_rate_hz=device.sample_rate_hz, device_max_n=device.device_max)
    on_sample = controller.on_sample
    start = time.thread_time()
    for sample in samples:
        on_sample(sample.t, sample.force_n)
    return (time.thread_time() - start) / len(samples)


def engine_run(plan: TherapyPlan, device: DeviceConfig, samples: list[Sample]) -> float:
    engine = SessionEngine(
        plan, device_id="bench", sample_rate_hz=device.sample_rate_hz, device_max_n=device.device_max, armed_at=0.0
    )
    handle = engine.handle
    start = time.thread_time()
    for sample in samples:
        handle(sample)
    elapsed = time.thread_time() - start
    engine.finish()
    return elapsed / len(samples)


async def _rt_path_run(plan: TherapyPlan, device: DeviceConfig, samples: list[Sample], paced: bool = False) -> float:
    """The control loop's work per sample (``runtime.run_session`` less its awaits), sinks as in the device.

    ``paced``: one sample a period, sleeping in between as the real-time
    process does, so each sample meets cold caches; only the work is timed.
    """
    loop = asyncio.get_running_loop()
    devnull = os.open(os.devnull, os.O_WRONLY)
    link = LoopLink(Link(None, devnull), loop, on_message=lambda _m: None, on_closed=lambda _r: None)
    try:
        hooks = LinkHooks(link)
        reporter = PhaseReporter(LinkNotifier(link), hooks)
        engine = SessionEngine(
            plan,
            device_id="bench",
            sample_rate_hz=device.sample_rate_hz,
            device_max_n=device.device_max,
            armed_at=0.0,
            sinks=[*hooks.sinks(), reporter],
        )
        grid = ReadGrid(LostReads(), 1 / device.sample_rate_hz)
        latency = DecisionLatency(LatencyHistogram(), MonotonicClock(), grid=grid)
        handle, handled, timeline = engine.handle, latency.handled, engine.timeline
        if paced:
            return _paced(samples, handle, handled, timeline.due, 1 / device.sample_rate_hz)
        start = time.thread_time()
        for sample in samples:
            if handle(sample):
                timeline.due(sample.t)  # what the motor task does when woken
            handled(sample)
        elapsed = time.thread_time() - start
        engine.finish()
        return elapsed / len(samples)
    finally:
        link.close()


def _paced(
    samples: list[Sample],
    handle: Callable[[Sample], object],
    handled: Callable[[Sample], None],
    due: Callable[[float], object],
    period_s: float,
) -> float:
    busy = 0.0
    for sample in samples:
        time.sleep(period_s)
        start = time.thread_time()
        if handle(sample):
            due(sample.t)
        handled(sample)
        busy += time.thread_time() - start
    return busy / len(samples)


def rt_path_run(plan: TherapyPlan, device: DeviceConfig, samples: list[Sample]) -> float:
    return asyncio.run(_rt_path_run(plan, device, samples))


def paced_run(plan: TherapyPlan, device: DeviceConfig, samples: list[Sample]) -> float:
    return asyncio.run(_rt_path_run(plan, device, samples, paced=True))


Run = Callable[[TherapyPlan, DeviceConfig, list[Sample]], float]


def median_us(run: Run, repeats: int, *args: Any) -> tuple[float, float, float]:
    costs = [run(*args) * 1e6 for _ in range(repeats)]
    return statistics.median(costs), min(costs), max(costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9, help="runs per figure (the median is printed)")
    parser.add_argument("--paced", type=int, default=400, help="samples of each paced run (one a period)")
    parser.add_argument("--profile", type=int, metavar="N", default=0, help="print the N costliest functions")
    args = parser.parse_args()
    plan, device = TherapyPlan(), DeviceConfig()
    samples = session_samples(plan, device)
    print(f"default plan, 'normal' scenario: {len(samples)} samples ({samples[-1].t - samples[0].t:.1f} s)")
    for name, run in (("controller", controller_run), ("engine", engine_run), ("rt path", rt_path_run)):
        median, low, high = median_us(run, args.repeats, plan, device, samples)
        print(f"{name:>10}: median {median:6.2f} µs per sample (min {low:.2f}, max {high:.2f}), {args.repeats} runs")
    paced = samples[: args.paced]
    median, low, high = median_us(paced_run, 3, plan, device, paced)
    print(f"{'paced':>10}: median {median:6.2f} µs per sample (min {low:.2f}, max {high:.2f}), 3 runs of {len(paced)}")
    profile = cProfile.Profile()
    profiled_us = profile.runcall(rt_path_run, plan, device, samples) * 1e6
    stats = pstats.Stats(profile)
    calls: int = stats.total_calls  # type: ignore[attr-defined]
    print(f"   rt path under cProfile: {profiled_us:.2f} µs and {calls / len(samples):.1f} function calls per sample")
    if args.profile:
        stats.sort_stats("tottime").print_stats(args.profile)


if __name__ == "__main__":
    main()
