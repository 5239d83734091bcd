"""Benchmark: from a conversion's data-ready to the session controller's decision.

The whole real-time path of the device, off-device: the emulated HX711 chip on
gpiozero mock pins → the real driver and adapter → the sampler on its thread
→ ``call_soon_threadsafe`` → the asyncio control loop → the session engine
(controller + cue timeline).  For every sample it takes the chip's data-ready
time (DOUT falling) and the loop time right after the engine handled the
sample.  Prints p50/p99/max latency and the CPU share of one core for the
whole process (emulator included, so an upper bound for the device).

    .venv/bin/python -m bench.bench_decision_latency [--seconds 10] [--rate 80]

Aim (issue 3): p99 under 2 ms on the development VM; under 10 % of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import Sample, Sampler, SamplerEvent
from firmware.realtime.stream import SampleStream
from hal.clock import MonotonicClock
from simulator.loadcell import SIMULATED_CALIBRATION
from simulator.pin_rig import build_pin_rig
from simulator.profiles import build_scenario_source


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class ReadyStampingSampler(Sampler):
    """Remembers each sample's data-ready time (from the emulated chip)."""

    ready_at: dict[float, float]

    def next(self) -> SamplerEvent:
        event = super().next()
        if isinstance(event, Sample):
            ready = self.sensor.chip.last_ready_at  # type: ignore[attr-defined]
            if ready is not None:
                self.ready_at[event.t] = ready
        return event


async def measure(seconds: float, rate: int) -> tuple[list[float], float, float, int, list[str], object]:
    device = DeviceConfig(sample_rate_hz=rate)
    plan = TherapyPlan()
    clock = MonotonicClock()
    source = build_scenario_source("normal", plan, device.device_max, noise_n=0.05)
    rig = build_pin_rig(
        source.force_at, SIMULATED_CALIBRATION, clock, hardware=device.hardware, sample_rate_hz=rate, relative_time=True
    )
    rig.sensor.chip = rig.chip  # type: ignore[attr-defined]
    sampler = ReadyStampingSampler(rig.sensor, SIMULATED_CALIBRATION, clock)
    sampler.ready_at = {}
    loop = asyncio.get_running_loop()
    engine = SessionEngine(
        plan, device_id="bench", sample_rate_hz=rate, device_max_n=device.device_max, armed_at=loop.time()
    )
    stream = SampleStream(sampler, loop).start()
    latencies: list[float] = []
    aborts: list[str] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            if engine.finished:  # keep measuring: start over with a fresh session
                if engine.controller.abort is not None:
                    aborts.append(engine.controller.abort.detail)
                engine = SessionEngine(
                    plan, device_id="bench", sample_rate_hz=rate, device_max_n=device.device_max, armed_at=loop.time()
                )
            event = await stream.queue.get()
            engine.handle(event)
            done = loop.time()
            if isinstance(event, Sample) and event.t in sampler.ready_at:
                latencies.append(done - sampler.ready_at.pop(event.t))
    finally:
        stream.stop()
        rig.close()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stats = rig.sensor.stats
    return latencies, cpu, wall, sampler.glitches, aborts, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, choices=[10, 80], default=80)
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="run under SCHED_FIFO like the systemd unit's CPUSchedulingPolicy=fifo (needs root)",
    )
    args = parser.parse_args()
    if args.realtime:
        from hal.hx711_adapter import try_realtime_priority

        print(f"SCHED_FIFO: {'on' if try_realtime_priority() else 'not available'}")
    latencies, cpu, wall, glitches, aborts, stats = asyncio.run(measure(args.seconds, args.rate))
    ms = [v * 1000 for v in latencies]
    print(f"samples: {len(ms)} at {args.rate}/s over {wall:.1f} s wall; implausible readings counted: {glitches}")
    print(f"driver stats: {stats}")
    print(f"sessions aborted during the run: {len(aborts)} {sorted(set(aborts))[:3]}")
    print(
        f"data-ready → controller decision: p50 {statistics.median(ms):.2f} ms, "
        f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms (aim p99 < 2 ms)"
    )
    print(f"CPU share of one core, whole process (emulator included): {100 * cpu / wall:.1f} % (aim < 10 %)")


if __name__ == "__main__":
    main()
