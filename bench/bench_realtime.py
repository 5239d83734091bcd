"""Benchmark: does the safety loop hold in real time?  ``presspoint run`` as it runs on the device.

For each backend - ``simulated`` (``run --simulate``: the simulated load
cell), ``hx711-spi`` and ``hx711-gpio`` (``run --simulate --pins --backend
…``: the real driver over the HX711 emulator) - and each load (0: idle; 2:
two ordinary busy processes, one per core, for the whole run), it runs the
two-process daemon in real time for ``--sessions`` sessions of ``--plan`` and
prints:

* sessions completed / aborted with ``sensor_fault`` / other outcomes;
* reads lost per 10,000: conversions missing between consecutive session
  samples by their data-ready stamps (a gap of k periods lost k - 1), counted
  inside the real-time process; beside it ``dur×rate``, the old estimate
  (each summary's duration × rate + 1 against its samples), which also
  counts a first or last sample stamped over half a period late - timing
  jitter, not a lost read;
* for the emulated backends, the chip's own count (``chip/10k``): conversions
  it overwrote unread, as a real HX711 on its own oscillator would - the
  ground truth the grid count estimates - and ``late/max``: reads that began
  over half a period after their conversion, and the longest such delay (ms);
* data-ready → decision latency p50 / p99 / max, measured inside the
  real-time process (its ``real-time stats:`` line at exit);
* the real-time process's CPU share of one core (its ``real-time stats:``
  line; every figure there, none hidden):

  - ``CPU %``: CPU time over wall time from the first sample on the loop
    to the daemon's end - steady sampling at 80/s, idle time between
    sessions included; start-up (imports, hardware set-up, the chip's
    settling) is left out, a one-time cost;
  - ``-emu %``: the same less ``emu %``, the CPU the simulated hardware
    took in the process over that span - the HX711 emulator behind the SPI
    front (with the simulated person's force), or the simulated load cell
    (on ``simulated`` that is the whole sensor read: no driver figure is
    left in ``-emu %``).  A device runs neither: ``-emu %`` is what the
    real-time process would cost there, driver and transfers' waits
    included.  Not separated on ``hx711-gpio`` (its chip is driven through
    mock pins): ``-``;
  - ``smpl %``: the sampling thread's CPU over the same span (emulator
    included); the rest is the loop thread (and gpiozero's pin callbacks);
  - ``life %``: CPU since the process was created over its whole life,
    imports and hardware set-up included;

* the peak RSS of each process (``service stats:`` line) and their sum.

    .venv/bin/python bench/bench_realtime.py --quick --load 0 2
    .venv/bin/python bench/bench_realtime.py --sessions 3 --load 2 --backend hx711-spi   # acceptance: ~12 min
    .venv/bin/python bench/bench_realtime.py --quick --load 0 --backend hx711-spi --profile /tmp/rt-prof

``--profile DIR`` runs every thread of both processes under cProfile
(``bench/rt_profile/sitecustomize.py``, on the path for that run only) and
prints where the real-time process computes: driver / ready-poll, emulator,
sampler hand-off, core, link, asyncio (``bench/profile_split.py``).  Its CPU
and latency figures are inflated by the profiler; take them from a run
without it.

Aims: no false ``sensor_fault``, no lost reads, CPU < 5 % at 80/s (``CPU %``
and ``-emu %``), RSS of both processes together < 80 MiB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_split import describe as describe_profile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAN = ROOT / "config" / "defaults" / "plan.toml"
QUICK_PLAN = ROOT / "config" / "examples" / "quick-test.toml"
BACKENDS = ("simulated", "hx711-spi", "hx711-gpio")
#: The folder whose ``sitecustomize.py`` profiles each thread (``--profile``).
PROFILE_HOOK = ROOT / "bench" / "rt_profile"

RT_STATS = re.compile(
    r"real-time stats: (?P<samples>\d+) samples, (?:data-ready→decision p50 (?P<p50>[\d.]+) ms, "
    r"p99 (?P<p99>[\d.]+) ms, max (?P<max>[\d.]+) ms|no samples); CPU (?P<cpu>[\d.]+) % of one core "
    r"over (?P<wall>[\d.]+) s; peak RSS (?P<rss>[\d.]+) MiB; lost reads (?P<lost>\d+)"
    r"(?:; CPU less the emulator (?P<cpu_device>-?[\d.]+) % \(emulator (?P<cpu_emulator>[\d.]+) %\))?"
    r"(?:; sampling thread (?P<cpu_sampler>[\d.]+) %)?"
    r"(?:; whole life CPU (?P<cpu_life>[\d.]+) % over (?P<life_wall>[\d.]+) s)?"
)
SERVICE_STATS = re.compile(r"service stats: peak RSS (?P<rss>[\d.]+) MiB")
CHIP_STATS = re.compile(
    r"emulated HX711: (?P<read>\d+) conversions read, (?P<overwritten>\d+) conversions overwritten unread, "
    r"(?P<late>\d+) read over half a period late, longest read delay (?P<delay>[\d.]+) ms"
)


def busy_loop() -> None:  # pragma: no cover - runs in the load processes
    while True:
        pass


@contextmanager
def cpu_load(processes: int) -> Iterator[None]:
    """``processes`` ordinary busy loops for as long as the block runs."""
    workers = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join()


@dataclass
class RunFigures:
    backend: str
    load: int
    returncode: int
    outcomes: dict[str, int]
    expected_samples: int
    samples: int
    rt: dict[str, float] | None
    service_rss_mib: float | None
    #: The emulated chip's own count (``hx711-*`` backends): what a real HX711 would have overwritten.
    chip: dict[str, float] | None = None
    stderr: str = ""

    @property
    def lost_per_10k(self) -> float | None:
        """Lost reads per 10,000 conversions, from the gaps between sample stamps."""
        if self.rt is None or "lost" not in self.rt:
            return None
        lost, samples = self.rt["lost"], self.rt["samples"]
        return lost * 10_000 / (samples + lost) if samples + lost else 0.0

    @property
    def chip_lost_per_10k(self) -> float | None:
        """Conversions the emulated chip overwrote unread, per 10,000 it made (the reads' ground truth)."""
        if self.chip is None:
            return None
        lost, read = self.chip["overwritten"], self.chip["read"]
        return lost * 10_000 / (read + lost) if read + lost else 0.0

    @property
    def duration_estimate(self) -> int:
        """Expected (duration × rate + 1 per session) less counted samples: jitter-sensitive."""
        return self.expected_samples - self.samples


def command(backend: str, plan: Path, sessions: int, config: Path) -> list[str]:
    argv = [sys.executable, "-m", "firmware.cli.main", "run", "--simulate", "--json"]
    argv += ["--sessions", str(sessions), "--plan", str(plan), "--config", str(config)]
    if backend != "simulated":
        argv += ["--pins", "--backend", backend]
    return argv


def outcome_of(summary: dict[str, Any]) -> str:
    abort = summary.get("abort")
    return f"aborted {abort['reason']}" if abort else str(summary["outcome"])


def run_once(backend: str, load: int, plan: Path, sessions: int, profile: Path | None = None) -> RunFigures:
    with tempfile.TemporaryDirectory(prefix="bench-rt-") as folder:
        config = Path(folder) / "device.toml"
        config.write_text(f'device_id = "bench-rt"\n[storage]\nstate_dir = "{Path(folder) / "state"}"\n')
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("NOTIFY_SOCKET", None)
        if profile is not None:  # every thread of both processes under cProfile (bench/rt_profile)
            profile.mkdir(parents=True, exist_ok=True)
            env.update(PYTHONPATH=f"{PROFILE_HOOK}{os.pathsep}{ROOT}", PRESSPOINT_PROFILE_DIR=str(profile))
        with cpu_load(load):
            done = subprocess.run(
                command(backend, plan, sessions, config), capture_output=True, text=True, env=env, check=False
            )
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    outcomes: dict[str, int] = {}
    expected = samples = 0
    for summary in summaries:
        name = outcome_of(summary)
        outcomes[name] = outcomes.get(name, 0) + 1
        expected += round(summary["duration_s"] * summary["sample_rate_hz"]) + 1
        samples += summary["samples"]
    rt = next((m.groupdict() for line in done.stderr.splitlines() if (m := RT_STATS.search(line))), None)
    service = next((m for line in done.stderr.splitlines() if (m := SERVICE_STATS.search(line))), None)
    chip = next((m.groupdict() for line in done.stderr.splitlines() if (m := CHIP_STATS.search(line))), None)
    return RunFigures(
        backend=backend,
        load=load,
        returncode=done.returncode,
        outcomes=outcomes,
        expected_samples=expected,
        samples=samples,
        rt={k: float(v) for k, v in rt.items() if v is not None} if rt else None,
        service_rss_mib=float(service["rss"]) if service else None,
        chip={k: float(v) for k, v in chip.items()} if chip else None,
        stderr=done.stderr,
    )


def row(fig: RunFigures) -> str:
    completed = fig.outcomes.get("completed", 0)
    faults = fig.outcomes.get("aborted sensor_fault", 0)
    other = sum(fig.outcomes.values()) - completed - faults
    rt = fig.rt or {}
    rt_rss, svc_rss = rt.get("rss"), fig.service_rss_mib
    total = f"{rt_rss + svc_rss:.1f}" if rt_rss is not None and svc_rss is not None else "-"

    def ms(key: str) -> str:
        return f"{rt[key]:.3f}" if key in rt else "-"

    def pct(key: str) -> str:
        return f"{rt[key]:.2f}" if key in rt else "-"

    lost = "-" if fig.lost_per_10k is None else f"{fig.lost_per_10k:.1f}"
    chip_lost = "-" if fig.chip_lost_per_10k is None else f"{fig.chip_lost_per_10k:.1f}"
    late = "-" if fig.chip is None else f"{fig.chip['late']:.0f}/{fig.chip['delay']:.1f}"
    return (
        f"{fig.backend:<11} {fig.load:>4} {completed:>4}/{faults:<3}/{other:<3} {lost:>9} {fig.duration_estimate:>9} "
        f"{chip_lost:>9} {late:>10} "
        f"{ms('p50'):>8} {ms('p99'):>8} {ms('max'):>8} {pct('cpu'):>6} {pct('cpu_device'):>6} {pct('cpu_emulator'):>6} "
        f"{pct('cpu_sampler'):>6} {pct('cpu_life'):>6} {rt_rss or 0:>7.1f} {svc_rss or 0:>7.1f} {total:>7}"
        f"  exit {fig.returncode}"
    )


HEADER = (
    f"{'backend':<11} {'load':>4} {'ok/fault/other':>14} {'lost/10k':>9} {'dur×rate':>9} "
    f"{'chip/10k':>9} {'late/max':>10} "
    f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
    f"{'CPU %':>6} {'-emu %':>6} {'emu %':>6} {'smpl %':>6} {'life %':>6} {'rt MiB':>7} {'svc MiB':>7} {'sum MiB':>7}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=None, help="sessions per run (default 3; 1 with --quick)")
    parser.add_argument("--plan", type=Path, default=None, help=f"plan file (default {DEFAULT_PLAN.relative_to(ROOT)})")
    parser.add_argument("--quick", action="store_true", help=f"use {QUICK_PLAN.relative_to(ROOT)} (one 30 s hold)")
    parser.add_argument("--load", type=int, nargs="+", choices=(0, 2), default=[2], help="busy processes (0 and/or 2)")
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="backends to run")
    parser.add_argument("--logs", type=Path, default=None, help="keep each run's log (stderr) in this folder")
    parser.add_argument(
        "--profile", type=Path, default=None, help="profile every thread into this folder and print the CPU split"
    )
    args = parser.parse_args(argv)
    plan = args.plan or (QUICK_PLAN if args.quick else DEFAULT_PLAN)
    sessions = args.sessions if args.sessions is not None else (1 if args.quick else 3)
    cores = os.cpu_count()
    print(f"plan {plan.name}, {sessions} session(s) a run, {cores} cores; load = busy processes", flush=True)
    print(HEADER, flush=True)
    for backend in args.backend:
        for load in args.load:
            profile = None if args.profile is None else args.profile / f"{backend}-load{load}"
            figures = run_once(backend, load, plan, sessions, profile)
            print(row(figures), flush=True)
            if profile is not None:
                print(describe_profile(profile), flush=True)
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                (args.logs / f"{backend}-load{load}.log").write_text(figures.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
