"""Benchmark: the memory of ``presspoint run`` - the service process and its real-time child.

For each backend (``simulated``: ``run --simulate``; ``hx711-spi``: ``run
--simulate --pins``, the real driver over the chip emulator) it starts the
daemon as a real process pair, waits until the first session is in its hold
(the ``STATUS=phase: hold`` the service forwards to systemd: the bench is its
``$NOTIFY_SOCKET``), and prints for each process RSS and PSS
(``/proc/PID/smaps_rollup``), anonymous memory, peak RSS so far (``VmHWM``),
threads, and the sums.  It then stops the daemon with SIGTERM and prints each
process's peak RSS at its exit (from its own stats line), so memory first
used after the hold is seen too.  Both processes write their module names at
exit (``PRESSPOINT_MODULES_TO``), and the top packages of each by import cost
are printed: memory (tracemalloc, each module imported after what it
imports, so each figure is the package's own) and import time (``-X
importtime``, self).  ``--env`` tries a setting on both processes:
``MALLOC_ARENA_MAX=1`` or ``2`` changed nothing here (within 0.2 MiB), so
none is set.  What is kept out and why: ``firmware/device/lean_process.py``
(TLS, in the real-time process) and ``firmware/device/deferred_imports.py``
(modules used late or never, in both).

    .venv/bin/python bench/bench_memory.py
    .venv/bin/python bench/bench_memory.py --backend simulated --env MALLOC_ARENA_MAX=2 --top 15

Aim (issue 10): RSS of both processes together < 80 MiB.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK_PLAN = ROOT / "config" / "examples" / "quick-test.toml"
BACKENDS = ("simulated", "hx711-spi")
HOLD_STATUS = b"STATUS=phase: hold"
#: Longest wait for the first hold, and for the stop.
HOLD_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
#: Packages the daemon needs none of at run time (shown so a return is seen at once).
HEAVY = ("matplotlib", "numpy", "rich", "tomlkit", "sqlalchemy", "starlette", "jinja2", "hypothesis", "pytest")

#: Run in a fresh interpreter: import the given modules in import-completion order, print each one's memory.
IMPORT_COST = """
import io, sys, tracemalloc
names, out = sys.stdin.read().split(), sys.stdout
tracemalloc.start()
for name in names:
    if name in sys.modules:
        continue
    before = tracemalloc.get_traced_memory()[0]
    sys.stdout = io.StringIO()  # a module that prints on import does not garble the figures
    try:
        __import__(name)
    except BaseException:
        continue
    finally:
        sys.stdout = out
    print("cost", name, tracemalloc.get_traced_memory()[0] - before)
"""
IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
#: Each process's stats line at its exit: its peak RSS.
PEAK_AT_EXIT = {
    "realtime": re.compile(r"real-time stats: .*peak RSS (\d+\.\d) MiB"),
    "service": re.compile(r"service stats: peak RSS (\d+\.\d) MiB"),
}


@dataclass
class Process:
    role: str
    pid: int
    rss_kib: int
    pss_kib: int
    anon_kib: int
    peak_kib: int
    threads: int


def rollup(role: str, pid: int) -> Process:
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        fields[key] = int(value.split()[0])
    status = Path(f"/proc/{pid}/status").read_text()
    threads, peak = (int(re.search(rf"^{key}:\s+(\d+)", status, re.M).group(1)) for key in ("Threads", "VmHWM"))  # type: ignore[union-attr]
    return Process(role, pid, fields["Rss"], fields["Pss"], fields["Anonymous"], peak, threads)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_hold(sock: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    """Until the service forwards the first hold's status (or the daemon ends: an error)."""
    deadline = time.monotonic() + HOLD_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the daemon ended (exit {proc.returncode}) before a hold")
        sock.settimeout(max(0.01, min(1.0, deadline - time.monotonic())))
        try:
            datagram = sock.recv(4096)
        except TimeoutError:
            continue
        if HOLD_STATUS in datagram.split(b"\n"):
            return
    raise SystemExit("no hold within the timeout")


Run = tuple[list[Process], dict[str, list[str]], dict[str, float]]


def run_once(backend: str, plan: Path, extra_env: dict[str, str]) -> Run:
    """Both processes' memory in the first hold, each one's modules (by role) and peak RSS (MiB) at exit."""
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as name:
        folder = Path(name)
        config = folder / "device.toml"
        config.write_text(f'device_id = "bench-mem"\n[storage]\nstate_dir = "{folder / "state"}"\n')
        argv = [sys.executable, "-m", "firmware.cli.main", "run", "--simulate", "--json", "--sessions", "1"]
        argv += ["--plan", str(plan), "--config", str(config)]
        if backend != "simulated":
            argv += ["--pins", "--backend", backend]
        env = dict(os.environ, PYTHONPATH=str(ROOT), NOTIFY_SOCKET=str(folder / "notify"), **extra_env)
        env["PRESSPOINT_MODULES_TO"] = str(folder)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.bind(str(folder / "notify"))
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_for_hold(sock, proc)
                found = [rollup("service", proc.pid), *(rollup("realtime", c) for c in children(proc.pid))]
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=STOP_TIMEOUT_S)
            finally:
                proc.kill()
                proc.wait()
        if proc.returncode not in (0, 128 + signal.SIGTERM):
            raise SystemExit(f"the daemon exited {proc.returncode}:\n{err.decode(errors='replace')}")
        names = {p.stem: p.read_text().split() for p in folder.glob("*.txt")}
    text = err.decode(errors="replace")
    peaks = {role: float(m.group(1)) for role, pattern in PEAK_AT_EXIT.items() if (m := pattern.search(text))}
    return found, names, peaks


def import_order(names: list[str]) -> tuple[list[str], dict[str, int]]:
    """``names`` (the process's modules, ``__main__`` left out) in import-completion order, each one's self µs.

    ``__import__``, not ``importlib.import_module``: only the former is seen by ``-X importtime``.
    """
    wanted = [n for n in names if not n.startswith("__main__") and n != "__mp_main__"]
    code = "import sys\nfor n in sys.argv[1:]:\n  try: __import__(n)\n  except BaseException: pass"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *wanted],
        capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False,
    )  # fmt: skip
    order, micros = [], {}
    for match in IMPORTTIME.finditer(done.stderr):
        order.append(match.group(4))
        micros[match.group(4)] = int(match.group(1))
    return order, micros


def top_packages(names: list[str], top: int) -> list[str]:
    """Lines: the ``top`` packages by memory (KiB) with their import time (ms) and module count."""
    order, micros = import_order(names)
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_COST], input="\n".join(order), capture_output=True, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False,
    )  # fmt: skip
    memory: dict[str, int] = {}
    for line in done.stdout.splitlines():
        if not line.startswith("cost "):
            continue
        _, module, size = line.split()
        memory[module.split(".")[0]] = memory.get(module.split(".")[0], 0) + int(size)
    counts: dict[str, int] = {}
    time_us: dict[str, int] = {}
    for module in names:
        package = module.split(".")[0]
        counts[package] = counts.get(package, 0) + 1
        time_us[package] = time_us.get(package, 0) + micros.get(module, 0)
    ranked = sorted(memory, key=memory.__getitem__, reverse=True)[:top]
    return [
        f"    {p:<24} {memory[p] / 1024:>8.0f} KiB {time_us.get(p, 0) / 1000:>7.1f} ms {counts.get(p, 0):>4}"
        for p in ranked
    ]


def report(backend: str, found: list[Process], names: dict[str, list[str]], peaks: dict[str, float], top: int) -> None:
    print(f"\n{backend}: in the first hold")
    print(f"  {'process':<9} {'pid':>7} {'RSS MiB':>8} {'PSS MiB':>8} {'anon MiB':>9} {'peak MiB':>9} {'threads':>8} "
          f"{'modules':>8}")  # fmt: skip
    for p in found:
        count = len(names.get(p.role, []))
        print(f"  {p.role:<9} {p.pid:>7} {p.rss_kib / 1024:>8.1f} {p.pss_kib / 1024:>8.1f} "
              f"{p.anon_kib / 1024:>9.1f} {p.peak_kib / 1024:>9.1f} {p.threads:>8} {count:>8}")  # fmt: skip
    rss, pss = sum(p.rss_kib for p in found) / 1024, sum(p.pss_kib for p in found) / 1024
    print(f"  {'sum':<9} {'':>7} {rss:>8.1f} {pss:>8.1f}   (aim: RSS < 80 MiB)")
    at_exit = ", ".join(f"{role} {peaks[role]:.1f}" for role in ("service", "realtime") if role in peaks)
    if at_exit:
        print(f"  peak RSS at exit (MiB): {at_exit}, sum {sum(peaks.values()):.1f}")
    for role, modules in sorted(names.items()) if top > 0 else ():
        heavy = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
        print(f"  {role}: heavy packages loaded: {', '.join(heavy) or 'none'}; top by import memory "
              "(own KiB, own ms, modules):")  # fmt: skip
        for line in top_packages(modules, top):
            print(line)


def env_item(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` for ``--env``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="backends to run")
    parser.add_argument("--plan", type=Path, default=QUICK_PLAN, help="plan file (default: one 30 s hold)")
    parser.add_argument("--top", type=int, default=10, help="packages to list per process")
    parser.add_argument("--env", action="append", type=env_item, default=[], metavar="KEY=VALUE", help="environment")
    args = parser.parse_args(argv)
    extra = dict(args.env)
    for backend in args.backend:
        found, names, peaks = run_once(backend, args.plan, extra)
        report(backend, found, names, peaks, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
