"""Real-time scheduling for the real-time process, where the system allows it."""

from __future__ import annotations

import logging
import os

#: SCHED_FIFO priority: above ordinary work, below the kernel's own threads (50).
REALTIME_PRIORITY = 40


def raise_to_realtime(log: logging.Logger, priority: int = REALTIME_PRIORITY) -> bool:
    """Put this thread, and every thread it starts later, under SCHED_FIFO; log once if not allowed.

    Needs root, CAP_SYS_NICE, or a unit that sets ``CPUSchedulingPolicy=fifo``
    (then the process already runs so and this is a no-op that succeeds).
    """
    if not hasattr(os, "sched_setscheduler"):
        log.warning("real-time scheduling: not available on this system; running at normal priority")
        return False
    if os.sched_getscheduler(0) == os.SCHED_FIFO:
        return True
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, ValueError) as exc:
        log.warning("real-time scheduling: not allowed (%s); running at normal priority", exc)
        return False
    log.info("real-time scheduling: SCHED_FIFO priority %d", priority)
    return True


def lower_to_normal(log: logging.Logger) -> bool:
    """Step this thread (and the threads it starts later) down to SCHED_OTHER, if it runs real-time.

    The service process does this right after starting the real-time process,
    which keeps the unit's SCHED_FIFO: slow work must never share its priority.
    """
    if not hasattr(os, "sched_getscheduler") or os.sched_getscheduler(0) not in (os.SCHED_FIFO, os.SCHED_RR):
        return True
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (OSError, ValueError) as exc:
        log.warning("service process: cannot step down from real-time scheduling (%s)", exc)
        return False
    return True
