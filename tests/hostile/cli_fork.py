"""The real CLI's ``main`` in a fresh process, forked from one that has imported it already.

Starting ``presspoint`` spends about 1.5 s of CPU on imports, and the hostile
corpus starts it over 160 times.  A multiprocessing forkserver that preloaded
``firmware.cli.main`` forks each run from a clean copy instead: still one new
process per case, with its own working folder, environment, stdin, exit code
and output, as the console script gives them (``sys.exit(main())``; an
uncaught exception prints its traceback and exits 1).  What it skips, a CLI
that fails while importing, every other CLI test launches ``presspoint`` for.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from multiprocessing.context import ForkServerContext

#: Imported once, in the forkserver, before any case is forked from it: the CLI and what its
#: commands import when they run ("__main__": the parent's main script, e.g. pytest's, which
#: every child would import again otherwise).
PRELOAD = [
    "__main__",
    "tests.hostile.cli_fork",
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


def run_cli(argv: Sequence[str], cwd: str, env: Mapping[str, str], out_path: str, err_path: str) -> None:
    """The child: ``presspoint ARGV`` in ``cwd`` with ``env``; stdout and stderr go to the two files."""
    from firmware.cli.main import main

    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.stdout.flush()
    sys.stderr.flush()
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out_path, os.O_WRONLY), (2, err_path, os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["presspoint", *argv]
    try:
        code = _exit_code(main(list(argv)))
    except SystemExit as leaving:
        code = _exit_code(leaving.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # no multiprocessing clean-up: the process ends as the console script's would


def _exit_code(value: object) -> int:
    """What the interpreter makes of ``sys.exit(value)``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1
