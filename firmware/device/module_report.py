"""Which modules a process holds, written at its exit when asked (``PRESSPOINT_MODULES_TO=DIR``).

Memory on the Pi is mostly imports, so a test and ``bench/bench_memory.py``
read the module sets of a real ``presspoint run`` from these files: a heavy
package that creeps back into either process is seen.  One name a line, in
import order, to ``DIR/<role>.txt``; without the variable this does nothing.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from firmware.device.deferred_imports import is_stand_in

MODULES_ENV = "PRESSPOINT_MODULES_TO"


def report_modules_at_exit(role: str) -> None:
    """At exit, write this process's module names to ``$PRESSPOINT_MODULES_TO/<role>.txt`` if it is set."""
    folder = os.environ.get(MODULES_ENV)
    if folder:
        atexit.register(_write, Path(folder) / f"{role}.txt")


def _write(path: Path) -> None:
    # None: kept out (``lean_process``); a stand-in: not loaded yet (``deferred_imports``).
    loaded = [name for name, module in list(sys.modules.items()) if module is not None and not is_stand_in(module)]
    path.write_text("".join(f"{name}\n" for name in loaded), encoding="utf-8")
