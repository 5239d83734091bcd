"""Benchmark the session core and the virtual-time simulation.

Prints the controller's cost per sample (µs, median of repeated runs) and the
simulation speed (simulated seconds per wall second) for the default plan and
the "normal" scenario.  Aims: < 20 µs per sample, > 500× real time.

    .venv/bin/python -m bench.bench_session [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.realtime.sampler import Sampler
from firmware.realtime.virtual import run_virtual_session
from firmware.session.controller import SessionController
from hal.clock import VirtualClock
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.profiles import build_scenario_source


def scenario_samples(plan: TherapyPlan, device: DeviceConfig) -> list[tuple[float, float]]:
    source = build_scenario_source("normal", plan, device.device_max, noise_n=0.05)
    samples = []
    n = 0
    while True:
        t = n / device.sample_rate_hz
        force = source.force_at(t)
        assert force is not None
        samples.append((t, force))
        n += 1
        if t > 260:
            return samples


def controller_cost_us(plan: TherapyPlan, device: DeviceConfig, samples: list[tuple[float, float]]) -> float:
    controller = SessionController(plan, sample_rate_hz=device.sample_rate_hz, device_max_n=device.device_max)
    fed = 0
    start = time.perf_counter()
    for t, force in samples:
        controller.on_sample(t, force)
        fed += 1
        if controller.finished:
            break
    elapsed = time.perf_counter() - start
    return elapsed / fed * 1e6


def simulation_speed(plan: TherapyPlan, device: DeviceConfig) -> tuple[float, float]:
    clock = VirtualClock()
    source = build_scenario_source("normal", plan, device.device_max, noise_n=0.05)
    sensor = SimulatedLoadCell(source, clock, sample_rate_hz=device.sample_rate_hz)
    start = time.perf_counter()
    summary = run_virtual_session(
        plan,
        sampler=Sampler(sensor, SIMULATED_CALIBRATION, clock),
        haptics=RecordingHaptics(clock),
        clock=clock,
        device_id="bench",
        device_max_n=device.device_max,
    )
    wall = time.perf_counter() - start
    return summary.duration_s, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    plan, device = TherapyPlan(), DeviceConfig()
    samples = scenario_samples(plan, device)
    costs = [controller_cost_us(plan, device, samples) for _ in range(args.repeats)]
    runs = [simulation_speed(plan, device) for _ in range(args.repeats)]
    speeds = [simulated / wall for simulated, wall in runs]
    print(
        f"controller cost per sample: median {statistics.median(costs):.2f} µs "
        f"(min {min(costs):.2f}, max {max(costs):.2f}; aim < 20 µs) over {args.repeats} runs"
    )
    print(
        f"simulation of the default plan: {runs[0][0]:.1f} simulated s in median "
        f"{statistics.median(w for _, w in runs) * 1000:.0f} ms wall"
    )
    print(
        f"simulation speed: median {statistics.median(speeds):.0f}× real time "
        f"(min {min(speeds):.0f}×, max {max(speeds):.0f}×; aim > 500×)"
    )


if __name__ == "__main__":
    main()
