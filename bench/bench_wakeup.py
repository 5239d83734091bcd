"""What a bare wake-up costs this machine: the floor under the real-time process's CPU share.

At 80 samples a second the real-time process wakes at least once a sample:
the loop's timer for the look at DOUT (and, over SPI, the kernel putting it
to sleep for the conversion transfer).  This measures the CPU time (this
process's, ``time.process_time``) of one wake-up doing nothing else, at the
sampling period, for

* ``sleep``:       ``time.sleep`` until the next period (a thread's wait);
* ``select``:      ``select.select`` on one socket with the period as timeout;
* ``loop timer``:  one ``call_at`` timer a period on a ``PreciseTimerLoop``
  (the real-time process's loop), the callback doing nothing;

median of ``--runs`` runs, and the share of one core that is at the rate.
Compare it with ``bench/bench_realtime.py``'s ``-emu %`` on the same machine:
on the development VM an idle machine makes each wake-up dearer than a busy
one (the host halts an idle vCPU and its caches go cold).

    .venv/bin/python bench/bench_wakeup.py --rate 80 --seconds 5 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import select
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firmware.realtime.loop_reads import PreciseTimerLoop


def by_sleep(period_s: float, count: int) -> float:
    started, due = time.process_time(), time.monotonic()
    for _ in range(count):
        due += period_s
        time.sleep(max(0.0, due - time.monotonic()))
    return (time.process_time() - started) / count


def by_select(period_s: float, count: int) -> float:
    quiet, other = socket.socketpair()
    try:
        started, due = time.process_time(), time.monotonic()
        for _ in range(count):
            due += period_s
            select.select([quiet], [], [], max(0.0, due - time.monotonic()))
        return (time.process_time() - started) / count
    finally:
        quiet.close()
        other.close()


def by_loop_timer(period_s: float, count: int) -> float:
    loop = PreciseTimerLoop()
    try:
        done: asyncio.Future[None] = loop.create_future()
        ticks = 0
        first = loop.time() + period_s

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            if ticks >= count:
                done.set_result(None)
            else:
                loop.call_at(first + ticks * period_s, tick)

        started = time.process_time()
        loop.call_at(first, tick)
        loop.run_until_complete(done)
        return (time.process_time() - started) / count
    finally:
        loop.close()


WAYS: dict[str, Callable[[float, int], float]] = {"sleep": by_sleep, "select": by_select, "loop timer": by_loop_timer}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=80.0, help="wake-ups a second (default 80)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one run (default 5)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each way, median printed (default 3)")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.runs < 1:
        parser.error("--rate and --seconds must be positive and --runs at least 1")
    period, count = 1 / args.rate, max(1, round(args.seconds * args.rate))
    print(f"{args.rate:g} wake-ups a second, {count} a run, median of {args.runs} runs")
    print(f"{'way':<12} {'µs CPU a wake-up':>17} {'% of a core':>12}   runs (µs)")
    for name, way in WAYS.items():
        runs = [way(period, count) * 1e6 for _ in range(args.runs)]
        median = statistics.median(runs)
        listed = " ".join(f"{r:.1f}" for r in runs)
        print(f"{name:<12} {median:>17.1f} {median * args.rate / 1e4:>12.2f}   {listed}")


if __name__ == "__main__":
    main()
