"""Benchmark: the paths that must never wait, timed on this machine (the tests check only that they never block).

* the adapter's stand-in ``delay_us`` outside a read (a no-op): ns per call;
* a read of a disconnected HX711 (GPIO backend, emulated chip, virtual clock):
  wall ms for a 3-period timeout - the virtual clock jumps, nothing spins;
* the store writer's producer side with the writer thread stuck (a hung SD
  card): µs per sample handed over, and how many were shed;
* sd_notify with a receiver that never reads: µs per send, how many dropped.

    .venv/bin/python bench/bench_nonblocking.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gpiozero.pins.mock import MockFactory, MockPWMPin

from firmware.device.sdnotify import Notifier
from firmware.protocol.topics import Topics
from firmware.storage.writer import StoreWriter
from hal.clock import VirtualClock
from hal.hx711_adapter import MICROCONTROLLER_SHIM, HX711Sensor
from simulator.hx711_chip import HX711Chip

RATE = 80.0


def shim_delay_ns(calls: int = 100_000) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        MICROCONTROLLER_SHIM.delay_us(1)
    return (time.perf_counter() - start) / calls * 1e9


def disconnected_read_ms() -> float:
    clock = VirtualClock(1000.0)
    factory = MockFactory(pin_class=MockPWMPin)
    chip = HX711Chip(factory, dout_pin=5, sck_pin=6, clock=clock, force_source=lambda t: 0, sample_rate_hz=RATE)
    sensor = HX711Sensor(dout_pin=5, sck_pin=6, pin_factory=factory, clock=clock, sample_rate_hz=RATE)
    try:
        chip.disconnected = True
        start = time.perf_counter()
        assert sensor.read(3 / RATE) is None
        return (time.perf_counter() - start) * 1e3
    finally:
        sensor.close()
        chip.close()
        factory.reset()
        factory.close()


def stalled_writer(samples: int = 20_000) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-nb-") as folder:
        writer = StoreWriter(Path(folder) / "state.db", topics=Topics("bench"), max_queue=1_000)
        writer.start()
        stall = threading.Event()
        writer.submit(stall.wait)
        start = time.perf_counter()
        for i in range(samples):
            writer.sample("s1", i / RATE, 1.0)
        per_sample_us = (time.perf_counter() - start) / samples * 1e6
        shed = writer.stats().samples_dropped_at_queue
        stall.set()
        writer.close()
    return per_sample_us, shed


def unread_notify(sends: int = 2_000) -> tuple[float, int]:
    import socket

    with tempfile.TemporaryDirectory(prefix="bench-nb-", dir="/tmp") as folder:
        path = str(Path(folder) / "notify")
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(path)
        notifier = Notifier(path)
        start = time.perf_counter()
        results = [notifier.status("x" * 1000) for _ in range(sends)]
        per_send_us = (time.perf_counter() - start) / sends * 1e6
        notifier.close()
        receiver.close()
    return per_send_us, results.count(False)


def main() -> int:
    logging.disable(logging.WARNING)  # the dropped sd_notify sends are the point, not news
    print(f"shim delay_us outside a read     {shim_delay_ns():8.1f} ns/call")
    print(f"disconnected HX711, 3-period read {disconnected_read_ms():8.2f} ms wall (virtual clock)")
    per_sample, shed = stalled_writer()
    print(f"store writer stalled, producer    {per_sample:8.2f} µs/sample, {shed} of 20000 shed")
    per_send, dropped = unread_notify()
    print(f"sd_notify, receiver never reads   {per_send:8.2f} µs/send, {dropped} of 2000 dropped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
