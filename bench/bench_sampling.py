"""Benchmark: the HX711 sampling path over the emulated chip, in real time.

Runs ``HX711Sensor.read()`` (Adafruit driver + adapter) against the pin-level
chip emulator on gpiozero mock pins, paced by the emulated chip's own
conversions on ``MonotonicClock``, the way the firmware's sampler thread
calls it (timeout = one sample period).  Prints:

* CPU share of one core: process CPU time / wall time over the run.  It
  includes the emulator's work (on the device that is the chip's), so it is
  an upper bound for the driver side;
* CPU per conversion (µs);
* data-ready -> read complete: from the moment the chip's conversion became
  ready (DOUT fell) to the return of ``read()`` - p50 / p99 / max in ms;
* timeouts, SCK pulses over 60 µs (chip powered down), protocol errors.

    .venv/bin/python bench/bench_sampling.py [--seconds 5] [--rate 80]

Aim (issue 3): under 10 % of a core; p99 under 2 ms on the development VM.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpiozero.pins.mock import MockFactory, MockPWMPin

from hal.clock import MonotonicClock
from hal.hx711_adapter import HX711Sensor, try_realtime_priority
from simulator.hx711_chip import HX711Chip


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=80.0, choices=[10.0, 80.0])
    parser.add_argument("--poll-us", type=float, default=250.0, help="adapter poll step")
    parser.add_argument("--realtime", action="store_true",
                        help="run the sampling loop under SCHED_FIFO (as on the device)")
    args = parser.parse_args(argv)
    realtime = try_realtime_priority() if args.realtime else False

    clock = MonotonicClock()
    factory = MockFactory(pin_class=MockPWMPin)
    chip = HX711Chip(factory, dout_pin=5, sck_pin=6, clock=clock,
                     force_source=lambda t: 123_456, sample_rate_hz=args.rate)
    sensor = HX711Sensor(dout_pin=5, sck_pin=6, pin_factory=factory, clock=clock,
                         sample_rate_hz=args.rate, poll_s=args.poll_us * 1e-6)
    period = 1.0 / args.rate
    latencies: list[float] = []
    readings = 0
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        end = clock.now() + args.seconds
        while clock.now() < end:
            raw = sensor.read(period)
            done = clock.now()
            if raw is None or chip.last_ready_at is None:
                continue
            readings += 1
            latencies.append(done - chip.last_ready_at)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        sensor.close()
        chip.close()
        factory.reset()

    stats = sensor.stats
    print(f"sampling path over the emulated HX711, {args.rate:g} samples/s, {wall:.2f} s real time"
          + (", SCHED_FIFO" if realtime else ""))
    print(f"  conversions read      {readings} (expected ≈ {args.seconds * args.rate:.0f})")
    print(f"  CPU share of one core {100 * cpu / wall:.2f} %")
    print(f"  CPU per conversion    {1e6 * cpu / max(1, readings):.0f} µs (driver + emulator)")
    if latencies:
        ms = [1e3 * x for x in latencies]
        print(f"  data-ready -> read    p50 {statistics.median(ms):.3f} ms   "
              f"p99 {percentile(ms, 0.99):.3f} ms   max {max(ms):.3f} ms")
    kinds = Counter(error.kind for error in chip.errors)
    print(f"  timeouts {stats.timeouts}, SCK-high > 60 µs {stats.overlong_pulses} "
          f"(longest {1e6 * stats.max_high_s:.1f} µs), chip protocol errors {dict(kinds)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
