"""A stand-in daemon wired like the real runtime, for the end-to-end systemd tests.

It does what ``presspoint run`` must do with the service pieces: a sampling
thread hands timestamped samples to the asyncio loop at 80 Hz, the control step
reports each one to a :class:`LoopWatchdog`, :func:`run_watchdog` pings systemd,
READY is sent once samples flow, STATUS carries the phase, and SIGTERM leads to
STOPPING=1 and a clean exit.

Fault injection (test only; the real daemon needs an equivalent hook):
* SIGUSR1 blocks the event loop with ``time.sleep`` (a stalled control loop);
* SIGUSR2 ends the sampling thread (a dead sampler, the loop itself stays alive).

On exit it prints one JSON line on stdout: the stop signal and the sample count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware.logging_setup import setup_logging
from firmware.sdnotify import Notifier
from firmware.signals import install_stop_signals
from firmware.watchdog import LoopWatchdog, Verdict, WatchdogPolicy, run_watchdog

log = logging.getLogger("watchdog_daemon")


class FakeSampler(threading.Thread):
    """Produces samples on absolute deadlines, like the HX711 thread paces on data-ready."""

    def __init__(self, rate_hz: float, deliver: Callable[[float], None]) -> None:
        super().__init__(name="fake-sampler", daemon=True)
        self.period = 1.0 / rate_hz
        self.deliver = deliver
        self.halt = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self.halt.is_set():
            n += 1
            deadline = start + n * self.period
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.deliver(time.monotonic())  # same clock as the default loop's time()


async def main(rate_hz: float, stall_s: float) -> int:
    loop = asyncio.get_running_loop()
    notifier = Notifier.from_env()
    watchdog = LoopWatchdog(WatchdogPolicy(sample_period_s=1.0 / rate_hz), now=loop.time())
    stop = asyncio.Event()
    signals = install_stop_signals(stop)
    first_sample = asyncio.Event()
    samples = 0

    def on_sample(t_sample: float) -> None:  # the control step, on the loop
        nonlocal samples
        now = loop.time()
        watchdog.on_sample(now)
        watchdog.on_tick(now, deadline=t_sample)
        samples += 1
        first_sample.set()

    def deliver(t_sample: float) -> None:  # runs in the sampling thread
        loop.call_soon_threadsafe(on_sample, t_sample)

    sampler = FakeSampler(rate_hz, deliver)

    def stall() -> None:
        log.warning("fault injection: blocking the event loop for %.1f s", stall_s)
        time.sleep(stall_s)

    def kill_sampler() -> None:
        log.warning("fault injection: stopping the sampling thread")
        sampler.halt.set()

    def on_change(verdict: Verdict) -> None:
        notifier.status("phase: idle" if verdict.ok else f"watchdog withheld: {verdict.reason}")

    loop.add_signal_handler(signal.SIGUSR1, stall)
    loop.add_signal_handler(signal.SIGUSR2, kill_sampler)
    sampler.start()
    await first_sample.wait()
    notifier.ready("phase: idle")
    pinger = asyncio.create_task(run_watchdog(notifier, watchdog, on_change=on_change))
    await stop.wait()

    notifier.stopping("phase: stopping (motor off, storing summary)")
    pinger.cancel()
    sampler.halt.set()
    sampler.join(timeout=1.0)
    signals.remove()
    name = signals.received.name if signals.received else None
    print(json.dumps({"stopped_by": name, "samples": samples}), flush=True)
    return 0


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=80.0, help="samples per second")
    parser.add_argument("--stall", type=float, default=2.0, help="seconds SIGUSR1 blocks the loop")
    args = parser.parse_args()
    setup_logging(logging.INFO)
    return asyncio.run(main(args.rate, args.stall))


if __name__ == "__main__":
    sys.exit(cli())
