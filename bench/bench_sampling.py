"""Benchmark: the HX711 sampling path over the emulated chip, per backend.

``--backend hx711-spi`` (default) reads through ``HX711SpiSensor`` and the
emulator's SPI front; ``hx711-gpio`` through Adafruit's driver + adapter and
the chip on gpiozero mock pins; ``both`` runs one after the other.

Virtual time (default): the sensor reads ``--conversions`` conversions on a
``VirtualClock``, the way the sampler calls it (timeout = one period), and a
default-plan ``simulate --pins`` session runs in-process.  Prints:

* CPU per conversion (µs): driver + emulator, so an upper bound for the
  driver side; and bus transfers per conversion (SPI);
* SPI: a second pass with the emulator's thread-time accounting on (off
  unless asked for): that pass's CPU per conversion (dearer by the
  accounting itself) and the emulator's share of it;
* session speed: virtual seconds / CPU seconds of the whole default-plan
  session (sampler, controller, motor and emulator included).  Aim: >= 200×.

``--realtime`` instead paces the read loop by the chip's own conversions on
``MonotonicClock`` for ``--seconds`` and prints CPU share, data-ready ->
read latency (p50 / p99 / max) and timeouts, as on the device.

    .venv/bin/python bench/bench_sampling.py [--backend both] [--rate 80]
    .venv/bin/python bench/bench_sampling.py --realtime [--seconds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.device.options import RigOptions
from firmware.device.sim_setup import build_rig
from firmware.realtime.virtual import run_virtual_session
from hal.clock import Clock, MonotonicClock, VirtualClock
from hal.hx711_adapter import try_realtime_priority
from simulator.loadcell import SIMULATED_CALIBRATION
from simulator.pin_rig import PinRig, build_emulated_rig

BACKENDS = ("hx711-spi", "hx711-gpio")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _rig(backend: str, clock: Clock, rate: float) -> PinRig[Any]:
    hardware = DeviceConfig().with_backend(backend).hardware
    return build_emulated_rig(lambda t: 5.0, SIMULATED_CALIBRATION, clock, hardware=hardware, sample_rate_hz=rate)


def conversions_in_virtual_time(backend: str, rate: float, count: int, *, count_emulator: bool = False) -> None:
    clock = VirtualClock()
    rig = _rig(backend, clock, rate)
    try:
        emulator0 = rig.spi.cpu_seconds() if count_emulator and rig.spi is not None else 0.0
        transfers0 = rig.spi.transfers if rig.spi is not None else 0
        cpu0, t0 = time.process_time(), clock.now()
        readings = sum(rig.sensor.read(1 / rate) is not None for _ in range(count))
        cpu, virtual = time.process_time() - cpu0, clock.now() - t0
        transfers = (rig.spi.transfers - transfers0) if rig.spi is not None else 0
        emulator = rig.spi.cpu_seconds() - emulator0 if count_emulator and rig.spi is not None else 0.0
    finally:
        rig.close()
    per = max(1, readings)
    if count_emulator:
        print(f"  second pass, the emulator's accounting on: {1e6 * cpu / per:.1f} µs CPU a conversion, of which the "
              f"emulator {1e6 * emulator / per:.1f} µs ({1e6 * emulator / max(1, transfers):.1f} µs a transfer)")
        return
    line = f"  {readings} conversions in {virtual:.1f} s virtual: {1e6 * cpu / per:.1f} µs CPU each"
    if transfers:
        line += f", {transfers / per:.2f} SPI transfers each"
    print(line)


def session_speed(backend: str) -> None:
    """A default-plan ``simulate --pins`` session, in process: virtual seconds per CPU second."""
    device = DeviceConfig().with_backend(backend)
    plan = TherapyPlan()
    clock = VirtualClock()
    cpu0 = time.process_time()
    rig = build_rig(plan, device, clock, RigOptions(pins=True))
    try:
        summary = run_virtual_session(plan, sampler=rig.sampler, haptics=rig.haptics, clock=clock,
                                      device_id=device.device_id, device_max_n=device.device_max,
                                      stop_at_s=rig.stop_at_s)
    finally:
        rig.close()
    cpu = time.process_time() - cpu0
    print(f"  default-plan session: {summary.outcome.value}, {summary.duration_s:.1f} s virtual, "
          f"{summary.samples} samples in {cpu:.2f} s CPU = {summary.duration_s / cpu:.0f}× real time")


def realtime_loop(backend: str, rate: float, seconds: float, realtime: bool) -> None:
    clock = MonotonicClock()
    rig = _rig(backend, clock, rate)
    period = 1.0 / rate
    latencies: list[float] = []
    readings = 0
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        end = clock.now() + seconds
        while clock.now() < end:
            raw = rig.sensor.read(period)
            done = clock.now()
            if raw is None or rig.chip.last_ready_at is None:
                continue
            readings += 1
            latencies.append(done - rig.chip.last_ready_at)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        rig.close()
    stats = rig.sensor.stats
    print(f"  {wall:.2f} s real time" + (", SCHED_FIFO" if realtime else ""))
    print(f"  conversions read      {readings} (expected ≈ {seconds * rate:.0f})")
    print(f"  CPU share of one core {100 * cpu / wall:.2f} %")
    print(f"  CPU per conversion    {1e6 * cpu / max(1, readings):.0f} µs (driver + emulator)")
    if latencies:
        ms = [1e3 * x for x in latencies]
        print(f"  data-ready -> read    p50 {statistics.median(ms):.3f} ms   "
              f"p99 {percentile(ms, 0.99):.3f} ms   max {max(ms):.3f} ms")
    kinds = Counter(error.kind for error in rig.chip.errors)
    extra = (f"SCK-high > 60 µs {stats.overlong_pulses} (longest {1e6 * stats.max_high_s:.1f} µs)"
             if hasattr(stats, "overlong_pulses") else f"desyncs {stats.desyncs}")
    print(f"  timeouts {stats.timeouts}, {extra}, chip protocol errors {dict(kinds)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="hx711-spi")
    parser.add_argument("--rate", type=float, default=80.0, choices=[10.0, 80.0])
    parser.add_argument("--conversions", type=int, default=20_000, help="virtual time: conversions to read")
    parser.add_argument("--realtime", action="store_true", help="pace by the chip on the real clock instead")
    parser.add_argument("--seconds", type=float, default=5.0, help="real time: how long")
    parser.add_argument("--fifo", action="store_true", help="real time: run the loop under SCHED_FIFO")
    args = parser.parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    fifo = try_realtime_priority() if args.fifo else False
    for backend in backends:
        print(f"{backend}: sampling path over the emulated HX711, {args.rate:g} samples/s")
        if args.realtime:
            realtime_loop(backend, args.rate, args.seconds, fifo)
        else:
            conversions_in_virtual_time(backend, args.rate, args.conversions)
            if backend == "hx711-spi":
                conversions_in_virtual_time(backend, args.rate, args.conversions, count_emulator=True)
            session_speed(backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
