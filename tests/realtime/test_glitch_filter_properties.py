"""Property tests: every reading the sampler delivers reaches the safety rules as it is.

The sampler on real hardware counts isolated implausible readings
(``sensor_glitches``) but must never remove, delay or smooth one.  So a
session through the hardware path (sensor -> ``Sampler`` with glitch counting
-> engine -> controller) decides exactly what the pure controller decides on
the same readings: same outcome, same abort reason, time and force.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.plan import TherapyPlan
from firmware.realtime.sampler import Sample, Sampler
from firmware.realtime.virtual import run_virtual_session
from firmware.session.controller import SessionController
from firmware.session.states import AbortReason, Outcome
from firmware.session.summary import SessionSummary, build_summary
from hal.clock import VirtualClock
from hal.sensor import ForceSensor
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION
from tests.conftest import DEVICE_MAX_N

#: Short waits, so a session ends soon after its trace does.
PLAN = TherapyPlan(hold_s=30, repetitions=1, rest_s=5, max_wait_for_contact_s=5)
RATE = 80.0
MAX_JUMP_N = DEVICE_MAX_N / 2  # what the device and `simulate --pins` use
FLICKER_HIGH_N = 95.0  # above the 88.26 N device maximum
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: Fields of the summary that are decisions (not ids, wall-clock start or diagnostics).
DECIDED = ("outcome", "abort", "holds", "peak_force_n", "duration_s", "samples", "cues", "stop_source")


class ListSensor(ForceSensor):
    """One conversion per period from a list of forces, then 0 N (let go) for ever."""

    sample_rate_hz = RATE

    def __init__(self, forces: list[float], clock: VirtualClock) -> None:
        self.forces = forces
        self.clock = clock
        self.n = 0

    def read(self, timeout_s: float) -> int | None:
        self.clock.sleep_until(self.n / RATE)
        force = self.forces[self.n] if self.n < len(self.forces) else 0.0
        self.n += 1
        return SIMULATED_CALIBRATION.to_counts(force)


def as_read(force_n: float) -> float:
    """The force the sampler reports for ``force_n`` (the counts round it)."""
    return SIMULATED_CALIBRATION.to_newtons(SIMULATED_CALIBRATION.to_counts(force_n))


def decided(summary: SessionSummary) -> dict[str, object]:
    return {key: value for key, value in summary.model_dump().items() if key in DECIDED}


def pure_summary(forces: list[float]) -> SessionSummary:
    """The pure controller fed the very readings, then 0 N until it ends."""
    controller = SessionController(PLAN, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    n = 0
    while not controller.finished:
        controller.on_sample(round(n / RATE, 9), as_read(forces[n] if n < len(forces) else 0.0))
        n += 1
    return build_summary(controller, session_id="pure", device_id="prop", started_at=datetime.now(UTC))


def hardware_summary(forces: list[float]) -> SessionSummary:
    """The same readings through the sampler (glitch counting on), the engine and the motor."""
    clock = VirtualClock()
    sampler = Sampler(ListSensor(forces, clock), SIMULATED_CALIBRATION, clock, max_jump_n=MAX_JUMP_N)
    return run_virtual_session(
        PLAN,
        sampler=sampler,
        haptics=RecordingHaptics(clock),
        clock=clock,
        device_id="prop",
        device_max_n=DEVICE_MAX_N,
    )


def force_values() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, PLAN.target, PLAN.tolerance + 0.5, DEVICE_MAX_N + 1.0, FLICKER_HIGH_N]),
        st.floats(min_value=-0.3 * DEVICE_MAX_N, max_value=DEVICE_MAX_N * 1.2),
    )


def traces(value: st.SearchStrategy[float], *, max_runs: int = 40) -> st.SearchStrategy[list[float]]:
    """Plateaus of 1-6 samples: lone spikes, flicker and stretches around the debounce."""
    runs = st.lists(st.tuples(value, st.integers(1, 6)), min_size=1, max_size=max_runs)
    return runs.map(lambda rs: [force for force, length in rs for _ in range(length)])


@SETTINGS
@given(forces=traces(force_values()))
@example(forces=[0.0, 20.0, 45.0, 0.0, 45.0, 0.0])
@example(forces=[0.0, FLICKER_HIGH_N] * 5)
def test_the_hardware_path_decides_what_the_pure_controller_decides(forces: list[float]) -> None:
    assert decided(hardware_summary(forces)) == decided(pure_summary(forces))


@SETTINGS
@given(
    before=st.lists(st.floats(min_value=-0.2 * DEVICE_MAX_N, max_value=PLAN.tolerance), max_size=200),
    over=st.floats(min_value=DEVICE_MAX_N, max_value=1.5 * DEVICE_MAX_N, exclude_min=True),
    after=st.lists(force_values(), max_size=20),
)
def test_any_reading_over_device_max_aborts_on_that_reading(
    before: list[float], over: float, after: list[float]
) -> None:
    summary = hardware_summary([*before, over, *after])
    assert summary.abort is not None
    assert summary.abort.reason is AbortReason.OVER_DEVICE_MAX
    assert summary.abort.at_s == round(len(before) / RATE, 9)
    assert summary.abort.force_n == as_read(over)


@SETTINGS
@given(
    lead_in=st.integers(0, 200),
    lead_force=st.floats(min_value=0.0, max_value=PLAN.tolerance),
    flicker_runs=st.lists(st.integers(1, 3), min_size=1, max_size=10),
)
def test_a_flickering_sensor_aborts_on_its_first_high_reading(
    lead_in: int, lead_force: float, flicker_runs: list[int]
) -> None:
    flicker = [FLICKER_HIGH_N if i % 2 == 0 else 0.0 for i, length in enumerate(flicker_runs) for _ in range(length)]
    summary = hardware_summary([lead_force] * lead_in + flicker)
    assert summary.abort is not None
    assert summary.abort.reason is AbortReason.OVER_DEVICE_MAX
    assert summary.abort.at_s == round(lead_in / RATE, 9)


def test_flicker_between_0_and_95_n_aborts_on_the_first_95() -> None:
    summary = hardware_summary([0.0] * 40 + [FLICKER_HIGH_N, 0.0] * 20)
    assert summary.outcome is Outcome.ABORTED
    assert summary.abort is not None and summary.abort.reason is AbortReason.OVER_DEVICE_MAX
    assert summary.abort.at_s == 40 / RATE


def test_a_single_over_range_reading_between_normal_ones_aborts_on_it() -> None:
    forces = [0.0] * 10 + [PLAN.target] * 100 + [DEVICE_MAX_N + 5.0] + [PLAN.target] * 100
    summary = hardware_summary(forces)
    assert summary.abort is not None and summary.abort.reason is AbortReason.OVER_DEVICE_MAX
    assert summary.abort.at_s == 110 / RATE
    assert summary.abort.force_n == as_read(DEVICE_MAX_N + 5.0)


def test_readings_that_dip_below_tolerance_do_not_abort_over_tolerance() -> None:
    """45, 0, 45 N at 80/s: each stretch over tolerance is one sample, shorter than the debounce."""
    summary = hardware_summary([0.0, 20.0, 45.0, 0.0, 45.0, 0.0])
    assert PLAN.tolerance < 45.0
    assert summary.outcome is not Outcome.ABORTED
    assert decided(summary) == decided(pure_summary([0.0, 20.0, 45.0, 0.0, 45.0, 0.0]))


def test_the_sampler_delivers_every_reading_and_counts_the_implausible_ones() -> None:
    forces = [0.0, FLICKER_HIGH_N, 0.0, FLICKER_HIGH_N, 0.0, 10.0, 80.0, 80.0, 10.0]
    clock = VirtualClock()
    sampler = Sampler(ListSensor(forces, clock), SIMULATED_CALIBRATION, clock, max_jump_n=MAX_JUMP_N)
    events = [sampler.next() for _ in forces]
    assert events == [Sample(n / RATE, as_read(f), SIMULATED_CALIBRATION.to_counts(f)) for n, f in enumerate(forces)]
    # The two lone 95 N readings; the 10 -> 80 N jump is confirmed by the next reading.
    assert sampler.glitches == 2
