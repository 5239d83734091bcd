"""Every bad file, option and URL of the corpus is refused cleanly by the real CLI.

Cleanly means: exit 2, exactly one line on stderr that names the file, field
or option, no traceback, done within ``TIMEOUT_S`` (a FIFO or ``/dev/zero``
must not hang it), and nothing written in the folder it ran in.  Each case
runs in a process of its own, forked from one that imported the CLI once
(``tests/cli_fork.py``), in parallel, once per test session; each
case checks its own result.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest

from tests.cli_fork import exit_code, forkserver, run_cli
from tests.conftest import ROOT
from tests.hostile.corpus import CASES, FIFO, FOLDER, HUGE_CSV, HUGE_TOML, LOOP, Case, FileContent

#: Only a hang (a FIFO or /dev/zero read for ever) takes this long, on any machine.
TIMEOUT_S = 60.0
WORKERS = 4
#: The corpus runs once, on one xdist worker (its fixture is per session, so per worker).
pytestmark = pytest.mark.xdist_group("hostile-corpus")
_SPARSE = {HUGE_TOML: 2 * 1024 * 1024, HUGE_CSV: 65 * 1024 * 1024}


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: it did not finish in time
    stderr: str
    changed: list[str]


def _make(path: Path, content: FileContent) -> None:
    if content == FIFO:
        os.mkfifo(path)
    elif content == LOOP:
        path.symlink_to(path.name)
    elif content == FOLDER:
        path.mkdir()
    elif isinstance(content, str):
        with path.open("wb") as out:
            out.truncate(_SPARSE[content])  # sparse: no disk used
    else:
        path.write_bytes(content)


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    found: dict[str, tuple[int, int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            info = os.lstat(os.path.join(dirpath, name))
            found[os.path.relpath(os.path.join(dirpath, name), folder)] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def _run(case: Case, env: dict[str, str], forks: ForkServerContext) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp, tempfile.TemporaryDirectory(prefix="output-") as out:
        folder = Path(tmp)
        for name, content in case.files.items():
            _make(folder / name, content)
        before = _snapshot(folder)
        stdout, stderr = Path(out) / "stdout", Path(out) / "stderr"
        stdout.touch()
        stderr.touch()
        process = forks.Process(target=run_cli, args=(case.argv, tmp, env, str(stdout), str(stderr)))
        process.start()
        process.join(TIMEOUT_S)
        if process.exitcode is None:
            process.kill()
            process.join()
            return Outcome(None, stderr.read_text(errors="replace"), [])
        after = _snapshot(folder)
        changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
        return Outcome(exit_code(process.exitcode, stdout), stderr.read_text(errors="replace"), changed)


@pytest.fixture(scope="session")
def outcomes() -> Iterator[dict[str, Outcome]]:
    """Every case's outcome, run once per session (a module fixture would run again whenever
    xdist hands the worker another module's test between two of these)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PRESSPOINT_CONFIG", None)
    forks = forkserver()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = dict(zip((c.name for c in CASES), pool.map(lambda c: _run(c, env, forks), CASES), strict=True))
    yield results


def test_the_corpus_is_large_and_names_are_unique() -> None:
    assert len(CASES) >= 100
    assert len({c.name for c in CASES}) == len(CASES)


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(reason=case.xfail, strict=False)] if case.xfail else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[case.name]
    assert got.returncode is not None, f"did not finish within {TIMEOUT_S} s"
    assert "Traceback" not in got.stderr, got.stderr[-2000:]
    assert got.returncode == 2, got.stderr[-2000:]
    lines = got.stderr.splitlines()
    assert len(lines) == 1 and got.stderr.endswith("\n"), got.stderr[-2000:]
    assert len(lines[0]) < 400, lines[0][:400]
    assert case.expect in lines[0]
    assert got.changed == [], f"wrote {got.changed}"
