"""The asyncio task that pings systemd's watchdog while the control loop is healthy.

The decision itself is pure and lives in ``firmware.health.watchdog_policy``;
this task only wakes on a timer, asks it, and pings (or withholds the ping).
When pings stop, systemd restarts the service after WatchdogSec=.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from firmware.device.sdnotify import Notifier, watchdog_interval
from firmware.health.watchdog_policy import LoopWatchdog, Verdict

log = logging.getLogger(__name__)


def _log_change(verdict: Verdict) -> None:
    if verdict.ok:
        log.warning("watchdog pings resumed: control loop healthy again")
    else:
        log.error("watchdog pings withheld: %s; systemd will restart us if this persists", verdict.reason)


async def run_watchdog(
    notifier: Notifier,
    watchdog: LoopWatchdog,
    *,
    interval: float | None = None,
    clock: Callable[[], float] | None = None,
    on_change: Callable[[Verdict], None] | None = None,
) -> None:
    """Ping systemd every ``interval`` seconds while ``watchdog`` says the loop is healthy.

    ``interval`` defaults to a quarter of WatchdogSec=, not the usual half:
    pings are withheld on purpose here, and at a quarter one withheld ping (a
    transient hiccup) does not by itself let the timeout expire, while a real
    stall withholds them all and systemd restarts us within WatchdogSec=.
    Returns at once when systemd asked for no watchdog.  Ticks are scheduled on
    absolute deadlines so the wake-up lateness measures the loop, not drift.
    ``on_change`` is called when the verdict flips (default: log it).
    """
    if interval is None:
        interval = watchdog_interval(fraction=0.25)
    if interval is None:
        log.debug("systemd watchdog not enabled for this process")
        return
    if interval <= 0:
        raise ValueError(f"watchdog interval must be > 0, got {interval}")
    now_fn = clock if clock is not None else asyncio.get_running_loop().time
    report = on_change if on_change is not None else _log_change
    healthy = True
    deadline = now_fn() + interval
    while True:
        await asyncio.sleep(max(0.0, deadline - now_fn()))
        now = now_fn()
        verdict = watchdog.check(now, wake_lateness=now - deadline)
        if verdict.ok:
            notifier.watchdog()
        if verdict.ok != healthy:
            healthy = verdict.ok
            report(verdict)
        deadline += interval
        if deadline <= now:  # we slept through whole periods: do not burst to catch up
            deadline = now + interval
