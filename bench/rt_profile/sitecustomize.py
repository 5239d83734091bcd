"""Bench only: profile every thread of every ``presspoint`` process started with this folder on the path.

``bench/bench_realtime.py --profile DIR`` puts this folder first on
``PYTHONPATH`` and sets ``PRESSPOINT_PROFILE_DIR``; each thread of each
process (service and real-time) then runs under its own ``cProfile`` and
writes ``DIR/<pid>-<thread>.prof`` at exit.  Nothing here runs otherwise.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import threading

_FOLDER = os.environ.get("PRESSPOINT_PROFILE_DIR")
_PROFILES: list[tuple[str, cProfile.Profile]] = []


def _profile_this_thread(*_: object) -> None:
    profile = cProfile.Profile()
    _PROFILES.append((threading.current_thread().name, profile))
    profile.enable()  # replaces the hook below for this thread


def _dump() -> None:
    assert _FOLDER is not None
    for name, profile in _PROFILES:
        profile.disable()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        profile.dump_stats(os.path.join(_FOLDER, f"{os.getpid()}-{safe}.prof"))


if _FOLDER:
    _profile_this_thread()
    threading.setprofile(_profile_this_thread)
    atexit.register(_dump)
