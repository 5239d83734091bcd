"""The real CLI's ``main`` in a fresh process, forked from one that has imported it already.

Starting ``presspoint`` spends up to 1.5 s of CPU on imports, and the suite
starts it hundreds of times (the hostile corpus alone over 160).  A
multiprocessing forkserver that preloaded ``firmware.cli.main`` forks each run
from a clean copy instead: still one new process per run, with its own working
folder, environment, stdin, exit code and output, as the console script gives
them (``sys.exit(main())``; an uncaught exception prints its traceback and
exits 1).  What it skips - a CLI that fails while importing, which modules a
process loads - the tests about those launch ``presspoint`` itself.
:func:`presspoint` is ``subprocess.run([presspoint, *argv])`` done this way.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping, Sequence
from multiprocessing.context import ForkServerContext
from pathlib import Path

#: Imported once, in the forkserver, before any case is forked from it: the CLI and what its
#: commands import when they run ("__main__": the parent's main script, e.g. pytest's, which
#: every child would import again otherwise).
PRELOAD = [
    "__main__",
    "tests.cli_fork",
    *(f"firmware.cli.{name}" for name in ("main", "hardware", "therapist", "person", "person_commands", "clinic",
                                          "simulate", "ppt_simulate", "publish", "run", "text_report")),
    "firmware.service.app",
    "firmware.device.sim_setup",
    "firmware.realtime.runtime",
    "firmware.therapist.review",
    "firmware.therapist.connection",
    "firmware.storage.database",
    "firmware.clinic.server",
    "firmware.clinic.actions",
    "hal.factory",
    "simulator.pin_rig",
]


def forkserver() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def run_cli(
    argv: Sequence[str], cwd: str, env: Mapping[str, str], out_path: str, err_path: str, in_path: str = os.devnull
) -> None:
    """The child: ``presspoint ARGV`` in ``cwd`` with ``env``; stdin from ``in_path``, stdout and stderr to files."""
    from firmware.cli.main import main

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, path, flags in ((0, in_path, os.O_RDONLY), (1, out_path, os.O_WRONLY), (2, err_path, os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - multiprocessing gave the child a /dev/null of its own
    sys.argv = ["presspoint", *argv]
    try:
        code = _exit_code(main(list(argv)))
    except SystemExit as leaving:
        code = _exit_code(leaving.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    for thread in threading.enumerate():  # as the interpreter does at exit: non-daemon threads finish first
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    sys.stdout.flush()
    sys.stderr.flush()
    Path(out_path).with_name("code").write_text(str(code))  # the forkserver can lose it (it reports 255)
    os._exit(code)  # no multiprocessing clean-up: the process ends as the console script's would


def exit_code(reported: int, out_path: str | Path) -> int:
    """The code a finished ``run_cli`` child chose, as it wrote it beside its stdout.

    The forkserver reports 255 when it loses a child's status (seen under
    load with many children at once); its own report counts only for a child
    that died before writing (a signal).
    """
    code_file = Path(out_path).with_name("code")
    return int(code_file.read_text()) if code_file.exists() else reported


def _exit_code(value: object) -> int:
    """What the interpreter makes of ``sys.exit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def presspoint(
    *argv: str,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    input: str | None = None,
    timeout: float = 120.0,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``presspoint ARGV`` run to its end in a process forked by :func:`forkserver`, as ``subprocess.run``
    with ``capture_output=True, text=True`` gives it (``TimeoutExpired`` after killing it on a hang)."""
    with tempfile.TemporaryDirectory(prefix="presspoint-cli-") as tmp:
        out, err, stdin = Path(tmp) / "stdout", Path(tmp) / "stderr", Path(tmp) / "stdin"
        for path in (out, err):
            path.touch()
        stdin.write_text(input or "")
        process = forkserver().Process(
            target=run_cli,
            args=(list(argv), str(cwd or os.getcwd()), dict(os.environ if env is None else env), str(out), str(err),
                  str(stdin)),
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["presspoint", *argv], timeout, out.read_text(), err.read_text())
        code = exit_code(process.exitcode, out)
        done = subprocess.CompletedProcess(["presspoint", *argv], code, out.read_text(), err.read_text())
    if check:
        done.check_returncode()
    return done
