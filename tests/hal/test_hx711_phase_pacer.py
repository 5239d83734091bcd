"""``PhaseLockedPacer`` on a virtual clock against a chip's conversion times: on time, few looks, nothing lost.

The "chip" here is a list of conversion times: DOUT is low from a conversion
until it is read, and a conversion not read before the next one is ready is
overwritten, as on an HX711.  Each look at DOUT takes ``LOOK_S`` and each read
``READ_S`` of the clock, as the 8-bit probe and the 56-bit transfer do at 500 kHz.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import pytest

from hal.clock import VirtualClock
from hal.hx711_phase import PhaseLockedPacer

RATE = 80.0
PERIOD = 1 / RATE
POLL = 0.25e-3
LOOK_S = 8 / 500_000
READ_S = 56 / 500_000


class Conversions:
    """DOUT of a chip that converts at ``times``; ``read`` takes the latest conversion."""

    def __init__(self, clock: VirtualClock, times: list[float]) -> None:
        self.clock = clock
        self.times = times
        self.looks = 0
        self.overwritten = 0
        self._read_upto = -1

    def _latest(self) -> int:
        return bisect.bisect_right(self.times, self.clock.now()) - 1

    def busy(self) -> bool:
        self.looks += 1
        self.clock.advance(LOOK_S / 2)  # MISO sampled mid-bit, as on the SPI front
        high = self._latest() <= self._read_upto
        self.clock.advance(LOOK_S / 2)
        return high

    def read(self) -> float:
        """Read the latest conversion; how long after it was ready the look that found it began."""
        latest = self._latest()
        assert latest > self._read_upto, "read with no conversion waiting"
        self.overwritten += latest - self._read_upto - 1
        self._read_upto = latest
        delay = self.clock.now() - LOOK_S - self.times[latest]
        self.clock.advance(READ_S)
        return delay


def steady(period: float, count: int, first: float = PERIOD / 2) -> list[float]:
    return [first + k * period for k in range(count)]


def pacer_for(clock: VirtualClock) -> PhaseLockedPacer:
    pacer = PhaseLockedPacer(clock, RATE, poll_s=POLL, search_fraction=0.15, look_s=LOOK_S)
    pacer.restart(clock.now(), 0.5)  # the chip woke now: first conversion half a period on
    return pacer


def run(
    times: list[float], reads: int, *, timeout_s: float = PERIOD,
    on_read: Callable[[PhaseLockedPacer], None] | None = None,
) -> tuple[Conversions, PhaseLockedPacer, list[float | None], list[int]]:
    """The sensor's loop: wait (``timeout_s``), read; the delay of each read (``None``: timeout) and its looks."""
    clock = VirtualClock()
    chip = Conversions(clock, times)
    pacer = pacer_for(clock)
    delays: list[float | None] = []
    looks: list[int] = []
    for _ in range(reads):
        before = chip.looks
        start = clock.now()
        deadline = start + timeout_s
        if pacer.wait_ready(deadline, chip.busy):
            delays.append(chip.read())
        else:
            assert deadline - LOOK_S <= clock.now() <= deadline + 1e-12  # a timeout ends at its deadline, not later
            delays.append(None)
        looks.append(chip.looks - before)
        if on_read is not None:
            on_read(pacer)
    return chip, pacer, delays, looks


def test_locked_on_a_steady_chip_a_conversion_costs_one_look_read_the_moment_it_is_ready() -> None:
    chip, pacer, delays, looks = run(steady(PERIOD, 500), 400)
    assert pacer.locked
    assert chip.overwritten == 0
    assert max(d for d in delays if d is not None) == pytest.approx(0, abs=1e-9)
    steady_looks = looks[-96:]
    assert sum(steady_looks) / 96 == pytest.approx(1 + 2 / 8)  # every 8th wait: two looks before, to check
    assert sorted(set(steady_looks)) == [1, 3]


@pytest.mark.parametrize("rate_error", [-0.03, -0.005, 0.005, 0.03])
def test_a_chip_off_its_nominal_rate_is_learned_and_nothing_is_lost(rate_error: float) -> None:
    true_period = PERIOD / (1 + rate_error)
    # A slower chip's conversions come more than a nominal period apart: wait a little longer than one.
    chip, pacer, delays, looks = run(steady(true_period, 1200), 1000, timeout_s=1.1 * PERIOD)
    assert None not in delays
    assert chip.overwritten == 0
    assert pacer.learned_period_s == pytest.approx(true_period, rel=2e-4)
    later = [d for d in delays[200:] if d is not None]
    assert max(later) <= 2 * POLL + LOOK_S  # read within two poll steps of ready, once learned
    assert sum(looks[200:]) / len(looks[200:]) <= 1.5


@pytest.mark.parametrize("shift_s", [3e-3, 9e-3])
def test_a_conversion_later_than_expected_is_polled_for_and_picked_up_within_a_poll_step(shift_s: float) -> None:
    times = steady(PERIOD, 100) + [t + shift_s for t in steady(PERIOD, 100, first=PERIOD / 2 + 100 * PERIOD)]
    chip, pacer, delays, looks = run(times, 190)
    assert chip.overwritten == 0
    assert None not in delays[:99]
    late = [d for d in delays[100:] if d is not None]
    assert max(late) <= POLL + LOOK_S
    assert max(looks) <= round(PERIOD / POLL) + 2  # polling from the expected time, bounded by the deadline
    assert pacer.locked


@pytest.mark.parametrize("shift_s", [-1e-3, -4e-3, -9e-3])
def test_a_conversion_earlier_than_expected_is_caught_and_the_phase_found_again(shift_s: float) -> None:
    times = steady(PERIOD, 100) + [t + shift_s for t in steady(PERIOD, 100, first=PERIOD / 2 + 100 * PERIOD)]
    chip, pacer, delays, _ = run(times, 190)
    assert chip.overwritten == 0
    assert None not in delays
    assert max(d for d in delays if d is not None) <= -shift_s + 1e-9  # waited at most the shift
    assert max(d for d in delays[130:] if d is not None) <= POLL  # within a poll step again
    assert pacer.locked


def test_a_missing_conversion_is_a_timeout_at_the_deadline_and_the_next_one_is_read_on_time() -> None:
    times = steady(PERIOD, 200)
    del times[100]
    chip, _, delays, looks = run(times, 190)
    timeouts = [i for i, d in enumerate(delays) if d is None]
    assert len(timeouts) == 1
    gap = timeouts[0]
    assert looks[gap] <= round(PERIOD / POLL) + 2  # it polled, on a grid, until the deadline: no spinning
    assert chip.overwritten == 0
    assert max(d for d in delays[gap + 1 :] if d is not None) <= POLL + LOOK_S


def test_a_chip_that_never_converts_gives_bounded_waits() -> None:
    clock = VirtualClock()
    chip = Conversions(clock, [])
    pacer = pacer_for(clock)
    for _ in range(5):
        start, before = clock.now(), chip.looks
        assert not pacer.wait_ready(start + PERIOD, chip.busy)
        assert start + PERIOD - LOOK_S <= clock.now() <= start + PERIOD + 1e-12
        assert chip.looks - before <= round(PERIOD / POLL) + 2
    assert not pacer.locked


def test_hold_off_after_a_garbled_read_looks_again_only_when_the_next_conversion_is_due() -> None:
    clock = VirtualClock()
    chip = Conversions(clock, steady(PERIOD, 100))
    pacer = pacer_for(clock)
    for _ in range(20):
        assert pacer.wait_ready(clock.now() + PERIOD, chip.busy)
        chip.read()
    due = chip.times[20]
    pacer.hold_off()
    assert pacer.wait_ready(clock.now() + 2 * PERIOD, chip.busy)
    assert clock.now() - LOOK_S == pytest.approx(due, abs=1e-9)  # the first look at the conversion itself


def wait_first_look_late(pacer: PhaseLockedPacer, chip: Conversions, deadline: float, late_s: float) -> bool:
    """``wait_ready`` driven from the planner, as the loop's timers drive it, with each wait's first timer late."""
    clock = chip.clock
    pacer.begin(deadline)
    now, first = clock.now(), True
    while True:
        at = pacer.next_look(now)
        if at is None:
            return False
        if at > now:
            clock.sleep_until(at + (late_s if first else 0.0))
            now = clock.now()
        first = False
        ready = not chip.busy()
        after = clock.now()
        if pacer.looked(now, ready, after):
            return True
        now = after


def test_a_late_check_look_that_finds_the_conversion_within_a_poll_step_of_its_time_keeps_the_lock() -> None:
    # Locked, then the chip's conversions come 0.8 of a poll step early; every wait's first timer
    # fires 1.5 poll steps late, so the check look (planned two steps early) finds the conversion
    # waiting half a step before it was due: within the lock's precision, not a phase to search for.
    shift = -0.8 * POLL
    times = steady(PERIOD, 60) + [t + shift for t in steady(PERIOD, 140, first=PERIOD / 2 + 60 * PERIOD)]
    clock = VirtualClock()
    chip = Conversions(clock, times)
    pacer = pacer_for(clock)
    for _ in range(50):
        assert pacer.wait_ready(clock.now() + PERIOD, chip.busy)
        chip.read()
    assert pacer.locked
    looks: list[int] = []
    for _ in range(120):
        before = chip.looks
        assert wait_first_look_late(pacer, chip, clock.now() + PERIOD, 1.5 * POLL)
        delay = chip.read()
        looks.append(chip.looks - before)
        assert pacer.locked
        assert delay <= 1.5 * POLL + POLL + LOOK_S  # the timer's lateness and a poll step, at most
    assert chip.overwritten == 0
    assert max(looks) <= 2  # no search: it would poll from 15 % of a period before (7 looks)
