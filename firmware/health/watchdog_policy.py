"""Does the control loop deserve a systemd watchdog ping?  The pure decision.

A ping must mean "sessions are being supervised right now", not merely "the
process exists".  So the control loop reports two things and a ping is honest
only while both look healthy:

* samples flow: the last sample reached the loop within N sample periods (a
  dead or wedged sampling thread stops them);
* the loop keeps its deadlines: no control-loop tick ran later than a bound,
  and the next tick is not overdue by more than that bound (a loop blocked by
  synchronous work, or a control task that died while the event loop lives on).

:meth:`LoopWatchdog.assess` is a function of the reported times and ``now``
only, so it is tested with plain numbers; ``firmware.device.watchdog`` is the
asyncio task that applies it on a timer.  All times are seconds on the event
loop's clock (``loop.time()``), passed in: nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchdogPolicy:
    """Thresholds for a healthy loop.

    The defaults are looser than scheduling jitter (a few ms on a loaded Pi) and
    far tighter than anything a person would accept: 8 periods is 100 ms at
    80 Hz.  Single bad samples are the session controller's business (its
    ``sensor_fault`` abort after 3 periods); the watchdog is about a process
    that can no longer supervise at all.
    """

    sample_period_s: float
    max_sample_gap_periods: float = 8.0
    max_lateness_s: float = 0.25
    tick_period_s: float | None = None
    """Expected time between ``on_tick`` calls; defaults to the sample period."""

    def __post_init__(self) -> None:
        if self.sample_period_s <= 0:
            raise ValueError(f"sample_period_s must be > 0, got {self.sample_period_s}")
        if self.max_sample_gap_periods <= 0 or self.max_lateness_s <= 0:
            raise ValueError("max_sample_gap_periods and max_lateness_s must be > 0")
        if self.tick_period_s is not None and self.tick_period_s <= 0:
            raise ValueError(f"tick_period_s must be > 0, got {self.tick_period_s}")

    @property
    def max_sample_age_s(self) -> float:
        return self.max_sample_gap_periods * self.sample_period_s

    @property
    def tick_interval_s(self) -> float:
        return self.sample_period_s if self.tick_period_s is None else self.tick_period_s


@dataclass(frozen=True)
class Verdict:
    """The outcome of one watchdog check; ``reason`` says why a ping is withheld."""

    ok: bool
    reason: str | None = None
    sample_age_s: float | None = None
    lateness_s: float = 0.0


class LoopWatchdog:
    """Collects liveness reports from the control loop and judges them.

    Call :meth:`on_sample` when a sample reaches the event loop (the callback
    the sampling thread schedules with ``call_soon_threadsafe``) and
    :meth:`on_tick` when the control step has processed it, both with
    ``loop.time()``; a sample-driven loop may call both in one place.  Not
    thread-safe by design: call it from the event loop only, so a report proves
    the *loop* got to run, not just the sampling thread.
    """

    def __init__(self, policy: WatchdogPolicy, now: float) -> None:
        """``now`` arms the watchdog: the first sample is due within the gap from here."""
        self.policy = policy
        self._active = True
        self._armed_at = now
        self._last_sample: float | None = None
        self._last_tick: float | None = None
        self._worst_lateness = 0.0

    @property
    def active(self) -> bool:
        return self._active

    def set_active(self, active: bool, now: float) -> None:
        """Declare whether samples and ticks are expected at all.

        Only for a deliberate pause (e.g. the load cell powered down between
        sessions): while inactive only the event loop's own responsiveness is
        judged.  Re-activating re-arms the sample gap from ``now``.
        """
        if active and not self._active:
            self._armed_at = now
            self._last_sample = None
            self._last_tick = None
            self._worst_lateness = 0.0
        self._active = active

    def on_sample(self, t: float) -> None:
        """A sample reached the control loop at loop time ``t``."""
        if self._last_sample is None or t > self._last_sample:
            self._last_sample = t

    def on_tick(self, t: float, deadline: float | None = None) -> None:
        """One control-loop iteration ran at ``t``.

        ``deadline`` is when it should have run: the sample's timestamp for a
        loop driven by samples, ``start + n * period`` for a timed loop.
        Without it lateness is measured against the previous tick plus the
        expected tick period, which suits only a timed loop (in a sample-driven
        one a sample gap would count as lateness).
        """
        if deadline is not None:
            lateness = t - deadline
        elif self._last_tick is not None:
            lateness = t - (self._last_tick + self.policy.tick_interval_s)
        else:
            lateness = 0.0
        self._worst_lateness = max(self._worst_lateness, lateness)
        if self._last_tick is None or t > self._last_tick:
            self._last_tick = t

    def assess(self, now: float, wake_lateness: float = 0.0) -> Verdict:
        """Would a ping at ``now`` be honest?  Pure: changes nothing.

        ``wake_lateness`` is how late the caller itself woke up, a direct measure
        of an event loop that is blocked or starved.
        """
        policy = self.policy
        lateness = max(wake_lateness, self._worst_lateness, 0.0)
        sample_age: float | None = None
        if self._active:
            since = self._armed_at if self._last_sample is None else self._last_sample
            sample_age = now - since
            if sample_age > policy.max_sample_age_s:
                what = "no sample yet" if self._last_sample is None else "no samples"
                return Verdict(
                    False,
                    f"{what} for {sample_age * 1000:.0f} ms (limit {policy.max_sample_age_s * 1000:.0f} ms)",
                    sample_age,
                    lateness,
                )
            # A sample that arrived after the last tick is work the control step
            # owes; only then is a missing tick overdue (a sample gap is not).
            last_tick = self._armed_at if self._last_tick is None else self._last_tick
            if self._last_sample is not None and self._last_sample > last_tick:
                lateness = max(lateness, now - (last_tick + policy.tick_interval_s))
        if lateness > policy.max_lateness_s:
            return Verdict(
                False,
                f"control loop {lateness * 1000:.0f} ms late (limit {policy.max_lateness_s * 1000:.0f} ms)",
                sample_age,
                lateness,
            )
        return Verdict(True, None, sample_age, lateness)

    def check(self, now: float, wake_lateness: float = 0.0) -> Verdict:
        """:meth:`assess`, then start a new window for the worst-lateness record."""
        verdict = self.assess(now, wake_lateness)
        self._worst_lateness = 0.0
        return verdict
