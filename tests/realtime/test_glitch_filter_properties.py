"""Property tests: the hardware path's glitch filter never weakens the safety rules.

The sampler on real hardware holds back a reading that jumps more than
``max_jump_n`` until the next one confirms it.  Fed through it, any trace
whose values last at least two samples must give exactly the decisions the
controller makes on the raw trace (same abort, same reason, same time); and
on any trace at all, the filter may drop lone spikes but never invents an
over-tolerance or over-range abort.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.plan import TherapyPlan
from firmware.realtime.sampler import NoSample, Sample, Sampler
from firmware.session.controller import SessionController
from firmware.session.states import AbortReason
from hal.clock import VirtualClock
from hal.sensor import ForceSensor
from simulator.loadcell import SIMULATED_CALIBRATION
from tests.conftest import DEVICE_MAX_N

PLAN = TherapyPlan()
RATE = 80.0


class ListSensor(ForceSensor):
    """One conversion per period from a list of forces, on a virtual clock."""

    sample_rate_hz = RATE

    def __init__(self, forces: list[float], clock: VirtualClock) -> None:
        self.forces = forces
        self.clock = clock
        self.n = 0

    def read(self, timeout_s: float) -> int | None:
        if self.n >= len(self.forces):
            self.clock.advance(timeout_s)
            return None
        self.clock.sleep_until(self.n / RATE)
        force = self.forces[self.n]
        self.n += 1
        return SIMULATED_CALIBRATION.to_counts(force)


def raw_decision(forces: list[float]) -> tuple[AbortReason, float] | None:
    controller = SessionController(PLAN, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    for n, force in enumerate(forces):
        controller.on_sample(n / RATE, SIMULATED_CALIBRATION.to_newtons(SIMULATED_CALIBRATION.to_counts(force)))
        if controller.abort is not None:
            return controller.abort.reason, controller.abort.t
    return None


def filtered_decision(forces: list[float]) -> tuple[tuple[AbortReason, float] | None, int]:
    clock = VirtualClock()
    sampler = Sampler(ListSensor(forces, clock), SIMULATED_CALIBRATION, clock, max_jump_n=DEVICE_MAX_N / 2)
    controller = SessionController(PLAN, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    while clock.now() <= len(forces) / RATE and controller.abort is None:
        event = sampler.next()
        if isinstance(event, Sample):
            controller.on_sample(round(event.t, 9), event.force_n)
        elif isinstance(event, NoSample) and sampler.sensor.n < len(sampler.sensor.forces):  # type: ignore[attr-defined]
            controller.on_gap(round(event.t, 9))
    abort = controller.abort
    return (None if abort is None else (abort.reason, abort.t)), sampler.glitches


def forces_strategy(min_run: int) -> st.SearchStrategy[list[float]]:
    value = st.one_of(
        st.sampled_from([0.0, PLAN.target, PLAN.tolerance + 0.5, DEVICE_MAX_N + 1.0, DEVICE_MAX_N * 1.15]),
        st.floats(min_value=0.0, max_value=DEVICE_MAX_N * 1.2),
    )
    runs = st.lists(st.tuples(value, st.integers(min_run, 6)), min_size=1, max_size=40)
    return runs.map(lambda rs: [force for force, length in rs for _ in range(length)])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forces=forces_strategy(min_run=2))
def test_without_lone_spikes_the_filter_changes_no_decision(forces: list[float]) -> None:
    expected = raw_decision(forces)
    got, glitches = filtered_decision(forces)
    assert glitches == 0
    assert got == expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forces=forces_strategy(min_run=1))
def test_the_filter_never_invents_a_force_abort(forces: list[float]) -> None:
    expected = raw_decision(forces)
    got, _ = filtered_decision(forces)
    if got is not None and got[0] is not AbortReason.SENSOR_FAULT:
        assert expected is not None, f"filtered path aborted {got} but the raw trace never broke a rule"
        assert expected[1] <= got[1], "the filtered path decided earlier than the facts allow"
