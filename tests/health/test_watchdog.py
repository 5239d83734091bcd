"""The watchdog decision with plain numbers, and run_watchdog in virtual time."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from firmware.device.watchdog import run_watchdog
from firmware.health.watchdog_policy import LoopWatchdog, Verdict, WatchdogPolicy

PERIOD = 1 / 80  # 12.5 ms; defaults: sample gap 8 periods = 100 ms, lateness 250 ms


def fed(until: float, start: float = 0.0, period: float = PERIOD) -> LoopWatchdog:
    """A watchdog armed at ``start`` whose loop handled samples on time until ``until``."""
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=period), now=start)
    n = 0
    while start + n * period <= until + 1e-9:
        t = start + n * period
        wd.on_sample(t)
        wd.on_tick(t, deadline=t)
        n += 1
    return wd


def test_pings_while_samples_flow_on_time() -> None:
    assert fed(10.0).check(10.005).ok


def test_pings_stop_when_samples_stop() -> None:
    wd = fed(10.0)
    assert wd.assess(10.1).ok  # 100 ms: still within 8 periods
    verdict = wd.assess(10.101)
    assert not verdict.ok
    assert verdict.reason is not None and "no samples for 101 ms" in verdict.reason
    assert verdict.sample_age_s == pytest.approx(0.101)


def test_no_first_sample_after_arming() -> None:
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=PERIOD), now=5.0)
    assert wd.assess(5.05).ok
    verdict = wd.assess(5.2)
    assert not verdict.ok and verdict.reason is not None and "no sample yet" in verdict.reason


def test_gap_scales_with_sample_rate() -> None:
    wd = fed(10.0, period=0.1)  # 10 Hz: 8 periods = 0.8 s
    assert wd.assess(10.7).ok
    assert not wd.assess(10.9).ok


def test_a_late_tick_withholds_one_ping_then_recovers() -> None:
    wd = fed(10.0)
    wd.on_sample(10.3)
    wd.on_tick(10.3, deadline=10.0125)  # handled 288 ms after its sample: loop was blocked
    verdict = wd.check(10.31)
    assert not verdict.ok
    assert verdict.reason is not None and "288 ms late" in verdict.reason
    for n in range(1, 9):  # back on time
        t = 10.3 + n * PERIOD
        wd.on_sample(t)
        wd.on_tick(t, deadline=t - 0.002)
    assert wd.check(10.41).ok  # the window restarted at the previous check


def test_lateness_below_bound_is_tolerated() -> None:
    wd = fed(10.0)
    wd.on_sample(10.2)
    wd.on_tick(10.2, deadline=10.0)  # 200 ms < 250 ms
    assert wd.check(10.21).ok


def test_worst_lateness_in_window_counts_not_just_the_last() -> None:
    wd = fed(10.0)
    wd.on_tick(10.5, deadline=10.0)
    wd.on_sample(10.6)
    wd.on_tick(10.6, deadline=10.6)  # the last tick is punctual
    assert not wd.check(10.61).ok


def test_lateness_without_deadline_uses_tick_period() -> None:
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=PERIOD, tick_period_s=0.1), now=0.0)
    wd.on_sample(0.0)
    wd.on_tick(0.0)
    wd.on_sample(0.1)
    wd.on_tick(0.1)
    assert wd.check(0.1).ok
    wd.on_sample(0.5)
    wd.on_tick(0.5)  # due at 0.2: 300 ms late
    assert not wd.check(0.5).ok


def test_samples_without_ticks_mean_the_control_task_died() -> None:
    """The sampler and the event loop live on, but nothing runs the control step."""
    wd = fed(10.0)
    for n in range(1, 40):
        wd.on_sample(10.0 + n * PERIOD)
    verdict = wd.assess(10.0 + 39 * PERIOD)
    assert not verdict.ok and verdict.reason is not None and "late" in verdict.reason


def test_blocked_event_loop_shows_as_wake_lateness() -> None:
    wd = fed(10.0)
    assert not wd.assess(10.01, wake_lateness=0.5).ok
    assert wd.assess(10.01, wake_lateness=0.01).ok


def test_deliberate_pause_judges_only_the_loop() -> None:
    wd = fed(10.0)
    wd.set_active(False, 10.0)
    assert wd.assess(60.0).ok
    assert not wd.assess(60.0, wake_lateness=1.0).ok
    wd.set_active(True, 60.0)  # re-armed: the first sample is due within the gap
    assert wd.assess(60.05).ok
    assert not wd.assess(60.2).ok


def test_assess_is_pure_check_resets_window() -> None:
    wd = fed(10.0)
    wd.on_tick(10.01, deadline=9.0)
    assert not wd.assess(10.01).ok
    assert not wd.assess(10.01).ok
    assert not wd.check(10.01).ok
    assert wd.assess(10.01).ok


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sample_period_s": 0.0},
        {"sample_period_s": PERIOD, "max_lateness_s": 0.0},
        {"sample_period_s": PERIOD, "max_sample_gap_periods": -1.0},
        {"sample_period_s": PERIOD, "tick_period_s": 0.0},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        WatchdogPolicy(**kwargs)


class RecordingNotifier:
    """Duck-typed stand-in for Notifier that records ping times."""

    def __init__(self) -> None:
        self.pings: list[float] = []

    def watchdog(self) -> bool:
        self.pings.append(asyncio.get_running_loop().time())
        return True


async def feed(wd: LoopWatchdog, until: float, late_by: float = 0.0) -> None:
    """The control loop: handle a sample every period until loop time ``until``."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    n = 0
    while True:
        n += 1
        deadline = start + n * PERIOD
        if deadline > until:
            return
        await asyncio.sleep(deadline - loop.time())
        now = loop.time()
        wd.on_sample(now)
        wd.on_tick(now, deadline=deadline - late_by)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_run_watchdog_pings_until_samples_stop() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=PERIOD), now=t0)
    notifier = RecordingNotifier()
    changes: list[Verdict] = []
    task = asyncio.create_task(
        run_watchdog(notifier, wd, interval=0.5, on_change=changes.append)  # type: ignore[arg-type]
    )
    await feed(wd, until=t0 + 30.0)  # 30 s of samples at 80 Hz, then the sampler dies
    await asyncio.sleep(10.0)
    task.cancel()
    pings = [p - t0 for p in notifier.pings]
    assert len(pings) == 60  # every 0.5 s up to 30 s, none after
    assert pings[-1] == pytest.approx(30.0)
    assert max(b - a for a, b in itertools.pairwise(pings)) == pytest.approx(0.5)
    assert len(changes) == 1 and not changes[0].ok
    assert changes[0].reason is not None and "no samples" in changes[0].reason


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_run_watchdog_withholds_while_loop_is_late_and_resumes() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=PERIOD), now=t0)
    notifier = RecordingNotifier()
    changes: list[Verdict] = []
    task = asyncio.create_task(
        run_watchdog(notifier, wd, interval=0.5, on_change=changes.append)  # type: ignore[arg-type]
    )
    await feed(wd, until=t0 + 5.0)
    await feed(wd, until=t0 + 10.0, late_by=0.4)  # every sample handled 400 ms late
    await feed(wd, until=t0 + 15.0)
    task.cancel()
    pings = [p - t0 for p in notifier.pings]
    assert not [p for p in pings if 5.1 < p < 10.0]
    assert len([p for p in pings if p <= 5.0]) == 10
    assert len([p for p in pings if p > 10.1]) >= 9
    assert [c.ok for c in changes] == [False, True]


@pytest.mark.asyncio
async def test_run_watchdog_returns_when_systemd_wants_no_watchdog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    wd = LoopWatchdog(WatchdogPolicy(sample_period_s=PERIOD), now=0.0)
    async with asyncio.timeout(1.0):
        await run_watchdog(RecordingNotifier(), wd)  # type: ignore[arg-type]
