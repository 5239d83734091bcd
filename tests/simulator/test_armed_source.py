"""The simulated person starts pressing at the session's start, even when the reader is behind."""

from __future__ import annotations

from hal.clock import VirtualClock
from simulator.armed_source import ArmedSource
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import parse_trace_csv

PERIOD_S = 1 / 80


def forces(cell: SimulatedLoadCell, n: int) -> list[float]:
    """The next ``n`` conversions, in newtons."""
    out = []
    for _ in range(n):
        raw = cell.read(1.0)
        assert raw is not None
        out.append(round(SIMULATED_CALIBRATION.to_newtons(raw), 3))
    return out


def rig(*, knows_time: bool) -> tuple[VirtualClock, ArmedSource, SimulatedLoadCell]:
    clock = VirtualClock()
    armed = ArmedSource(parse_trace_csv("time_s,force_n\n0,10\n1,90\n", "press"))
    cell = SimulatedLoadCell(armed, clock)
    if knows_time:
        armed.source_time = cell.source_time
    return clock, armed, cell


def test_slots_from_before_the_arm_rest_and_the_press_starts_at_the_first_slot_after_it() -> None:
    clock, armed, cell = rig(knows_time=True)
    assert forces(cell, 4) == [0.0] * 4  # at rest
    clock.advance(20 * PERIOD_S)  # the reader falls behind: slots 4-22 are past, slot 23 is now
    armed.arm()  # the session starts now
    got = forces(cell, 23)
    assert got[:19] == [0.0] * 19, got  # the stale slots were taken before the press
    assert got[19:] == [10.0, 11.0, 12.0, 13.0], got  # the trace from its t = 0 at slot 23, 1/80 s a slot


def test_without_the_source_time_a_stale_slot_would_start_the_trace_early() -> None:
    """What the above guards against: the trace played from the first stale slot, ahead of the session."""
    clock, armed, cell = rig(knows_time=False)
    forces(cell, 4)
    clock.advance(20 * PERIOD_S)
    armed.arm()
    assert forces(cell, 2) == [10.0, 11.0]


def test_an_arm_with_the_reader_on_time_starts_at_the_next_slot() -> None:
    _, armed, cell = rig(knows_time=True)
    forces(cell, 4)
    armed.arm()
    assert forces(cell, 3) == [10.0, 11.0, 12.0]
    armed.rest()
    assert forces(cell, 2) == [0.0, 0.0]
