"""Where the real-time process's CPU goes: the per-thread profiles of one run, summed by part.

Reads the ``<pid>-<thread>.prof`` files ``bench/rt_profile/sitecustomize.py``
wrote (``bench/bench_realtime.py --profile DIR``), picks the real-time
process (the one with the ``presspoint-sampler`` thread) and sums each
function's own time by the part it belongs to.  Waiting (sleeps, epoll,
locks) is left out: the shares are of the time the process computed.
cProfile weighs many small calls more than a sampling profiler would, so
read the shares as proportions, not as exact CPU.

    .venv/bin/python bench/profile_split.py DIR
"""

from __future__ import annotations

import pstats
import sys
from collections import defaultdict
from pathlib import Path

#: (part, substrings of a profiled function's file or name), first match wins.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("waiting", ("time.sleep", "'poll' of 'select.epoll'", "'acquire' of '_thread", "'select' of", "select.select")),
    ("driver / ready-poll", ("hal/hx711", "hal/clock.py")),
    ("emulator", ("simulator/",)),
    ("link", ("realtime/link.py", "device/link_", "_pickle", "posix.write", "posix.read")),
    (
        "sampler + hand-off",
        (
            "realtime/sampler.py",
            "realtime/stream.py",
            "realtime/handoff.py",
            "realtime/loop_reads.py",
            "call_soon_threadsafe",
            "'send' of",
        ),
    ),
    (
        "start-up (imports)",
        (
            "importlib",
            "compile",
            "marshal",
            "__build_class__",
            "dataclasses.py",
            "inspect.py",
            "re/_",
            "typing.py",
            "enum.py",
            "pydantic",
            "exec>",
            "_imp.",
        ),
    ),
    ("core (session, safety, motor)", ("firmware/", "hal/")),
    ("asyncio loop", ("asyncio/", "selectors.py", "contextvars")),
)


def part_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    return next((part for part, keys in PARTS if any(key in where for key in keys)), "other (stdlib, imports)")


def realtime_profiles(folder: Path) -> list[Path]:
    """The profile files of the real-time process: the one that ran the sampling thread, or read on its loop."""
    pids = {path.name.split("-", 1)[0] for path in folder.glob("*-presspoint-sampler.prof")}
    if not pids:  # reads on the loop (realtime/loop_reads.py): no sampling thread
        pids = {
            path.name.split("-", 1)[0]
            for path in folder.glob("*-MainThread.prof")
            if any("loop_reads.py" in filename for filename, *_ in pstats.Stats(str(path)).stats)  # type: ignore[attr-defined]
        }
    if len(pids) != 1:
        raise SystemExit(f"{folder}: expected the profiles of one real-time process, found {len(pids)}")
    (pid,) = pids
    return sorted(folder.glob(f"{pid}-*.prof"))


def split(folder: Path) -> dict[str, dict[str, float]]:
    """Seconds of own time by thread and part, in the real-time process."""
    result: dict[str, dict[str, float]] = {}
    for path in realtime_profiles(folder):
        thread = path.stem.split("-", 1)[1]
        parts: dict[str, float] = defaultdict(float)
        stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        for (filename, _line, function), (_cc, _nc, own_s, _cum, callers) in stats.items():
            part = part_of(filename, function)
            if filename == "~" and part.startswith("other") and callers:
                # A builtin (len, isinstance, a socket call): its time belongs to whoever called it.
                for (caller_file, _l, caller_function), (_c, _n, caller_own_s, _ct) in callers.items():
                    parts[part_of(caller_file, caller_function)] += caller_own_s
                continue
            parts[part] += own_s
        result[thread] = dict(parts)
    return result


def describe(folder: Path) -> str:
    threads = split(folder)
    totals: dict[str, float] = defaultdict(float)
    for parts in threads.values():
        for part, seconds in parts.items():
            totals[part] += seconds
    busy = sum(seconds for part, seconds in totals.items() if part != "waiting")
    lines = [f"real-time process, own time by part (of {busy:.2f} s computing; waiting left out):"]
    for part, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        if part != "waiting" and busy > 0:
            by_thread = ", ".join(
                f"{thread} {parts.get(part, 0.0) / busy * 100:.0f} %"
                for thread, parts in threads.items()
                if parts.get(part, 0.0) / busy >= 0.005
            )
            lines.append(f"  {part:<32} {seconds / busy * 100:5.1f} %   ({by_thread})")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(Path(sys.argv[1])))
