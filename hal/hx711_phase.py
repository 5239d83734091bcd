"""A ready-wait that learns when the HX711 converts, so most conversions cost one look.

The chip converts on its own oscillator, steady to well under a part in a
thousand from one conversion to the next, though its rate may be a few per
cent off the nominal 10/80 per second.  On SPI every look at DOUT is a bus
transfer and, on real time, a wake-up of the real-time loop; polling from
a margin before each conversion took about five looks per conversion.

So this pacer keeps the conversion's phase and period:

* a **precise** finding - DOUT seen high, then low at the next poll step -
  places a conversion within one poll step; it sets the phase, and two of
  them some periods apart give a measure of the period, averaged in;
* **locked** (after a precise finding), a wait sleeps until the expected
  conversion and looks once; found ready, it is read at once.  A conversion
  not ready yet (the chip is slower than we thought) is polled for from
  there, one poll step at a time - a precise finding again;
* every ``check_every`` conversions a wait starts two poll steps early, to
  see DOUT high before the conversion: a chip faster than we thought is
  caught long before a conversion could wait a whole period;
* **searching** (at start-up, or when a look made over a poll step before
  the expected conversion found it already waiting): the wait polls from
  ``search_fraction`` of a period before the expected conversion, as a
  plain poll would, until a precise finding locks it again.

A conversion found ready with no high look just before it may have been
waiting (a late call, a wake-up the scheduler delayed): it never moves the
schedule later.  The grid of looks is anchored at the expected conversion,
so in virtual time a conversion is picked up exactly when it is ready.
Every wait is bounded by its deadline and never spins.

The pacer is a planner that never blocks - ``begin`` a wait, ask
``next_look`` when to look, tell ``looked`` what a look found - so the
real-time loop can look from its timers (``HX711SpiSensor.step_read``);
``wait_ready`` is the same plan driven by sleeping on the injected
``Clock`` between looks (start-up settling, ``selfcheck``, ``calibrate``,
virtual time).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hal.clock import Clock
from hal.hx711_pacing import conversion_grid

#: How far the learned period may stray from the nominal one (an HX711's oscillator, generously).
MAX_RATE_ERROR = 0.2
#: Weight of a period measure over ``FULL_SPAN`` conversions or more in the running estimate.
PERIOD_GAIN = 0.25
#: A measure over fewer conversions counts for less: each end may be off by a poll step.
FULL_SPAN = 16
#: After a measure over this many conversions, the next ones start from its end.
REFERENCE_SPAN = 64


class PhaseLockedPacer:
    """Bounded waiting for DOUT low that looks once per conversion when on schedule; ``busy()`` reads DOUT."""

    def __init__(
        self,
        clock: Clock,
        sample_rate_hz: float,
        *,
        poll_s: float,
        search_fraction: float,
        look_s: float = 0.0,
        check_every: int = 8,
    ) -> None:
        if check_every < 1:
            raise ValueError(f"check_every must be at least 1, not {check_every!r}")
        self.clock = clock
        #: The nominal period (what the sensor's timeouts are based on), and the poll step.
        self.period_s, self._poll = conversion_grid(sample_rate_hz, poll_s)
        #: The chip's period as measured, within ``MAX_RATE_ERROR`` of nominal.
        self.learned_period_s = self.period_s
        self._search_lead = search_fraction * self.period_s
        self._check_lead = 2 * self._poll
        #: How long one ``busy()`` look takes; the last look is timed to end by the deadline.
        self._look = look_s
        self._check_every = check_every
        self._expected = clock.now()
        self._locked = False
        self._since_check = 0
        self._lead = self._search_lead
        self._hold_until = -math.inf
        #: A precise finding the period is measured from, and the conversions found since.
        self._reference: float | None = None
        self._counted = 0
        #: The wait under way: its last look, its latest look that saw DOUT high, and its next look.
        self._last_look = -math.inf
        self._busy_at = -math.inf
        self._target = math.inf

    @property
    def locked(self) -> bool:
        """The phase is known: waits look once at the expected conversion."""
        return self._locked

    def restart(self, woke_at: float, periods_to_first: float) -> None:
        """The chip (re)started at ``woke_at``; its first conversion is due ``periods_to_first`` later."""
        self._expected = woke_at + periods_to_first * self.period_s
        self._hold_until = -math.inf
        self._reference = None
        self._search()

    def hold_off(self) -> None:
        """Do not trust DOUT before the next conversion is due (after a garbled read)."""
        # Half a poll step: a look earlier than that may see the garbled transfer's DOUT, not a conversion.
        self._hold_until = self._expected - self._poll / 2
        self._reference = None
        self._search()

    def wait_ready(self, deadline: float, busy: Callable[[], bool]) -> bool:
        """Wait until ``busy()`` is false or ``deadline`` passes on the clock; never spin.

        The blocking driver of the planner below: it sleeps on the clock until
        each planned look.  The first look is at the planned moment (the
        expected conversion less the lead), or at once when the wait starts after it.
        """
        clock_now, sleep_until, next_look = self.clock.now, self.clock.sleep_until, self.next_look
        self.begin(deadline)
        now = clock_now()
        while True:
            at = next_look(now)
            if at is None:
                return False
            if at > now:
                sleep_until(at)
                now = clock_now()
                if now < self._hold_until:  # DOUT not trusted yet: plan again (as next_look would)
                    continue
            ready = not busy()
            after = clock_now()
            if self.looked(now, ready, after):
                return True
            now = after

    # -- the planner: when to look, and what a look found (never blocks) ---------------------------

    def begin(self, deadline: float) -> None:
        """Start waiting for the next conversion, until ``deadline`` on the clock."""
        self._last_look = deadline - self._look
        self._busy_at = -math.inf  # the latest look of this wait that saw DOUT high
        self._target = self._first_look()

    def next_look(self, now: float) -> float | None:
        """When to look next: ``now`` (look at once) or later; ``None`` when the wait has timed out.

        A wait whose next look would fall after its last moment looks once
        more at that moment, then times out.
        """
        while True:
            target = self._target
            if now < target:
                if now >= self._last_look:
                    self._timed_out()
                    return None
                self._target = min(target, self._last_look)
                return self._target
            if now >= self._hold_until:
                return now
            if now >= self._last_look:  # not looked (DOUT not trusted yet), and no time left
                self._timed_out()
                return None
            self._target = self._next_poll(now)

    def looked(self, at: float, ready: bool, after: float) -> bool:
        """What the look begun at ``at`` (and ended at ``after``) found; ``True``: ready, the wait is over."""
        if ready:
            # Ready at a first look made over a poll step before it was due: it came earlier than we
            # thought.  Within a poll step is the lock's own precision (a check look whose timer fired
            # late, say): no reason to search again.
            early = self._busy_at == -math.inf and at < self._expected - self._poll
            self._found(at, self._busy_at, early=early)
            return True
        self._busy_at = at
        self._target = math.inf if after >= self._last_look else self._next_poll(after)
        return False

    # -- the schedule ----------------------------------------------------------------------------

    def _found(self, looked_at: float, busy_at: float, *, early: bool) -> None:
        """Move the schedule on from a conversion seen ready by the look that began at ``looked_at``."""
        precise = looked_at - busy_at <= 1.5 * self._poll + self._look
        self._counted += 1
        if looked_at - self._expected > self.learned_period_s / 2:
            self._reference = None  # so late that a conversion may have gone by unread: the count is unsure
        if precise:
            self._learn(looked_at)
            self._expected = looked_at + self.learned_period_s
            self._locked = True
        else:
            # It may have been waiting: never later than the schedule, perhaps earlier.
            self._expected = min(looked_at, self._expected) + self.learned_period_s
            if early:  # ready already at a look before it was due: the phase is not what we thought
                self._search()
        self._plan_next()

    def _timed_out(self) -> None:
        """No conversion within the wait: where the next one falls is unknown."""
        self._reference = None
        self._search()

    def _plan_next(self) -> None:
        if not self._locked:
            self._lead = self._search_lead
            return
        self._since_check += 1
        if self._since_check >= self._check_every:
            self._since_check = 0
            self._lead = self._check_lead
        else:
            self._lead = 0.0

    def _search(self) -> None:
        self._locked = False
        self._since_check = 0
        self._lead = self._search_lead

    def _learn(self, conversion_at: float) -> None:
        """Average in the period measured from the reference finding to this precise one."""
        reference, span = self._reference, self._counted
        if reference is None or span < 1:
            self._reference, self._counted = conversion_at, 0
            return
        measured = (conversion_at - reference) / span
        if abs(measured / self.period_s - 1) <= MAX_RATE_ERROR:
            self.learned_period_s += PERIOD_GAIN * min(1.0, span / FULL_SPAN) * (measured - self.learned_period_s)
        if span >= REFERENCE_SPAN:
            self._reference, self._counted = conversion_at, 0

    def _first_look(self) -> float:
        """The first point of the poll grid at or after the expected conversion less the lead, and the hold-off."""
        start = max(self._expected - self._lead, self._hold_until)
        return self._expected + math.ceil((start - self._expected) / self._poll - 1e-6) * self._poll

    def _next_poll(self, now: float) -> float:
        """The next point after ``now`` of the poll grid anchored at the expected conversion."""
        steps = math.floor((now - self._expected) / self._poll + 1e-6) + 1
        t = self._expected + steps * self._poll
        return t if t > now else now + self._poll
