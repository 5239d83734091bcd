"""Benchmark: how long the ``presspoint`` CLI takes to start, per command.

The hostile-input tests start the real CLI about 170 times; most of a refusal's
cost is the Python start and the imports, so this prints, for a few typical
commands, the median wall and CPU time of N starts (each a fresh process, as a
user or the tests start it) and the number of modules it imported.

    .venv/bin/python bench/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BAD_PLAN = 'target = "3 kgf"\ntolerance = "4 kgf"\nrepetitions = true\n'
GOOD_PLAN = 'target = "3 kgf"\ntolerance = "4 kgf"\nhold_s = 5\nrepetitions = 1\n'
COMMANDS: dict[str, list[str]] = {
    "--help": ["--help"],
    "config check (bad plan)": ["config", "check", "bad.toml"],
    "simulate --plan (bad plan)": ["simulate", "--plan", "bad.toml"],
    "simulate --json (quick plan)": ["simulate", "--json", "--plan", "good.toml"],
    "therapist sessions --help": ["therapist", "sessions", "--help"],
}
COUNT_MODULES = "import sys, atexit; atexit.register(lambda: print(len(sys.modules), file=sys.stderr))\n"


def _start(argv: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one start of the CLI."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "firmware.cli.main", *argv], cwd=folder, env=env, capture_output=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _modules(argv: list[str], folder: Path, env: dict[str, str]) -> int:
    """How many modules one start leaves in ``sys.modules``."""
    code = COUNT_MODULES + "import sys; from firmware.cli.main import main; sys.argv[1:] = " + repr(argv)
    code += "\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    done = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True)
    return int(done.stderr.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="starts per command (default 20)")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PRESSPOINT_CONFIG", None)
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        (folder / "bad.toml").write_text(BAD_PLAN)
        (folder / "good.toml").write_text(GOOD_PLAN)
        print(f"{'command':<30} {'wall p50':>9} {'cpu p50':>9} {'modules':>8}   ({args.runs} starts each)")
        for name, argv in COMMANDS.items():
            runs = [_start(argv, folder, env) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            print(f"{name:<30} {wall * 1000:>7.0f}ms {cpu * 1000:>7.0f}ms {_modules(argv, folder, env):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
