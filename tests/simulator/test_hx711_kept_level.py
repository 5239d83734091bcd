"""The emulated HX711 keeps DOUT's level for the span it holds: looking again must answer as computing afresh.

The reference is a chip that keeps nothing (``keep_levels=False``) behind a
front that replays every transfer edge by edge (``exact=True``): the SPI
front's shortcuts - probes answered from the kept level, whole reads by
``read_out`` - must give the same MISO bytes and leave the chip in the same
state, whatever the timing, the transfers and the test controls.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from hal.clock import VirtualClock
from hal.hx711_spi_bits import READY_PROBE, conversion_pattern, decode_conversion
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE
SETTLED = 4 * PERIOD

TRANSFERS = st.one_of(
    st.sampled_from([conversion_pattern(25), conversion_pattern(26), conversion_pattern(27), READY_PROBE]),
    st.lists(st.integers(0, 255), min_size=1, max_size=8),
)
CONTROLS = st.sampled_from(["disconnect", "reconnect", "desync", "resync"])
#: A step: how long to wait, then a transfer or a test control.
STEPS = st.tuples(st.floats(0.0, 1.5 * PERIOD), st.one_of(TRANSFERS, CONTROLS))


def chip_and_front(*, reference: bool) -> tuple[VirtualClock, HX711Chip, HX711SpiFront]:
    clock = VirtualClock()
    # Each conversion carries its own time (in 0.1 ms), so a reading says which conversion it was.
    chip = HX711Chip(
        clock=clock, force_source=lambda t: round(t * 10_000), sample_rate_hz=RATE, keep_levels=not reference
    )
    return clock, chip, HX711SpiFront(chip, exact=reference)


def play(steps: list[tuple[float, list[int] | str]], *, reference: bool) -> tuple[object, ...]:
    clock, chip, front = chip_and_front(reference=reference)
    answers: list[object] = []
    for gap, step in steps:
        clock.advance(gap)
        if isinstance(step, str):
            chip.disconnected = {"disconnect": True, "reconnect": False}.get(step, chip.disconnected)
            chip.desync = {"desync": True, "resync": False}.get(step, chip.desync)
        else:
            answers.append(front.transfer(list(step)))
    kinds = [error.kind for error in chip.errors]
    reads = (chip.reads.overwritten, chip.reads.late_half_period)
    return answers, chip.conversions_read, chip.next_gain, chip.power_downs, kinds, reads, clock.now()


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(STEPS, min_size=1, max_size=25))
# A probe, then the conversion comes due within the same period's kept span: the next probe sees it.
@example(steps=[(SETTLED - 1e-4, READY_PROBE), (1e-4, READY_PROBE), (0.0, conversion_pattern(25))])
# Read, the controls flip DOUT's kept level (high after the read; then stuck high), probe again.
@example(
    steps=[
        (SETTLED, conversion_pattern(25)),
        (0.0, READY_PROBE),
        (0.0, "desync"),
        (0.0, READY_PROBE),
        (0.0, "disconnect"),
        (0.0, READY_PROBE),
    ]
)
def test_kept_levels_and_shortcuts_answer_as_the_edge_by_edge_reference(
    steps: list[tuple[float, list[int] | str]],
) -> None:
    assert play(steps, reference=False) == play(steps, reference=True)


def test_a_probe_sees_the_conversion_that_came_due_since_the_last_look() -> None:
    clock, chip, front = chip_and_front(reference=False)
    clock.sleep_until(SETTLED - 1e-3)
    assert front.transfer(READY_PROBE) == [0xFF]  # settling, kept until just before conversion 0
    clock.sleep_until(chip.conversion_time(0))
    assert front.transfer(READY_PROBE) == [0x00]


def test_the_test_controls_end_a_kept_level() -> None:
    clock, chip, front = chip_and_front(reference=False)
    clock.sleep_until(SETTLED)
    assert front.transfer(READY_PROBE) == [0x00]  # ready, kept for the rest of the period
    chip.disconnected = True
    assert front.transfer(READY_PROBE) == [0xFF]
    chip.disconnected = False
    assert decode_conversion(front.transfer(conversion_pattern(25))) is not None
    assert front.transfer(READY_PROBE) == [0xFF]  # high after the 25th pulse, kept until the next conversion
    chip.desync = True
    assert front.transfer(READY_PROBE) == [0x00]


def test_cpu_is_counted_from_the_first_ask_on() -> None:
    clock, _, front = chip_and_front(reference=False)
    for _ in range(200):
        front.transfer(READY_PROBE)
    assert front.cpu_seconds() == 0.0  # nobody asked before: nothing counted, nothing paid
    clock.sleep_until(SETTLED)
    for _ in range(2_000):
        front.transfer(READY_PROBE)
        front.transfer(conversion_pattern(25))
        clock.advance(PERIOD)
    assert front.cpu_seconds() > 0.0
