"""Property tests of the safety rules over random force traces.

An independent oracle scans the same samples for the first moment a safety
rule is broken; the controller must abort exactly then, for that reason, and
never otherwise.  Traces are kept shorter than any timed ending (a 30 s hold
or the 30 s contact wait), so aborts are the only way these sessions end.
"""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.plan import TherapyPlan
from firmware.cues.patterns import pattern_duration
from firmware.realtime.sampler import Sampler
from firmware.realtime.virtual import run_virtual_session
from firmware.session.controller import SessionController
from firmware.session.states import AbortReason, Cue, Outcome
from hal.clock import VirtualClock
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import ForceTrace, Keyframe
from tests.conftest import DEVICE_MAX_N

PLAN = TherapyPlan()
EPS = 1e-9


def interesting_force() -> st.SearchStrategy[float]:
    """Forces clustered around every threshold that matters, plus anything in range."""
    t, tol = PLAN.target, PLAN.tolerance
    return st.one_of(
        st.sampled_from([0.0, PLAN.contact_threshold, t, PLAN.band_high_n, tol, tol + 1e-6, tol + 0.5, DEVICE_MAX_N]),
        st.floats(min_value=tol - 1.0, max_value=tol + 1.0),
        st.floats(min_value=0.0, max_value=DEVICE_MAX_N * 1.2),
    )


@st.composite
def force_samples(draw: st.DrawFn) -> list[float]:
    """Plateaus of 1-6 samples: spikes and stretches right around the debounce length."""
    segments = draw(st.lists(st.tuples(interesting_force(), st.integers(1, 6)), min_size=1, max_size=60))
    return [force for force, length in segments for _ in range(length)]


def oracle(forces: list[float], rate: float, debounce_ms: float) -> tuple[AbortReason, float] | None:
    """The first safety violation, computed the plain way."""
    since: float | None = None
    for n, force in enumerate(forces):
        t = n / rate
        if force > DEVICE_MAX_N:
            return AbortReason.OVER_DEVICE_MAX, t
        if force > PLAN.tolerance:
            since = t if since is None else since
            if t - since >= debounce_ms / 1000 - EPS:
                return AbortReason.OVER_TOLERANCE, t
        else:
            since = None
    return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(forces=force_samples(), rate=st.sampled_from([10.0, 80.0]), debounce=st.sampled_from([0.0, 25.0, 50.0, 100.0]))
def test_abort_exactly_when_a_safety_rule_is_broken(forces: list[float], rate: float, debounce: float) -> None:
    plan = PLAN.model_copy(update={"abort_debounce_ms": debounce})
    controller = SessionController(plan, sample_rate_hz=rate, device_max_n=DEVICE_MAX_N)
    for n, force in enumerate(forces):
        controller.on_sample(n / rate, force)
        if controller.finished:
            break
    expected = oracle(forces, rate, debounce)
    if expected is None:
        assert controller.abort is None, "aborted without a safety violation"
        assert not controller.finished
    else:
        assert controller.abort is not None, f"no abort for {expected}"
        assert (controller.abort.reason, controller.abort.t) == expected
        assert controller.outcome is Outcome.ABORTED


@settings(max_examples=200, deadline=None)
@given(present=st.lists(st.booleans(), min_size=1, max_size=300))
def test_sensor_fault_exactly_when_samples_stop_for_more_than_three_periods(present: list[bool]) -> None:
    rate = 80.0
    controller = SessionController(PLAN, sample_rate_hz=rate, device_max_n=DEVICE_MAX_N)
    last = 0.0
    expected: float | None = None
    for n, has_sample in enumerate([True, *present]):
        t = n / rate
        if expected is None and t - last > 3 / rate + EPS:
            expected = t
        if has_sample:
            last = t
            controller.on_sample(t, 0.0)
        else:
            controller.on_gap(t)
        if controller.finished:
            break
    if expected is None:
        assert controller.abort is None
    else:
        assert controller.abort is not None
        assert controller.abort.reason is AbortReason.SENSOR_FAULT
        assert controller.abort.t == expected


@st.composite
def keyframe_traces(draw: st.DrawFn) -> list[Keyframe]:
    times = draw(st.lists(st.floats(0.01, 200.0), min_size=1, max_size=25, unique=True))
    forces = draw(
        st.lists(st.one_of(interesting_force(), st.just(float("nan"))), min_size=len(times), max_size=len(times))
    )
    return [Keyframe(0.0, 0.0)] + [Keyframe(t, f) for t, f in sorted(zip(times, forces, strict=True))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=keyframe_traces(), stop_at=st.one_of(st.none(), st.floats(0.0, 300.0)))
@example(  # abort while a "too hard" tap already drives the motor at full level
    frames=[Keyframe(0.0, 0.0), Keyframe(4.0, 39.5), Keyframe(5.0, 0.0), Keyframe(6.0, 0.0)], stop_at=None
)
def test_motor_is_off_after_every_session(frames: list[Keyframe], stop_at: float | None) -> None:
    """Whatever the trace and however it ends, the motor is off at the end."""
    short = PLAN.model_copy(update={"hold_s": 30.0, "rest_s": 5.0})
    clock = VirtualClock()
    sensor = SimulatedLoadCell(ForceTrace(frames), clock, sample_rate_hz=80.0)
    haptics = RecordingHaptics(clock)
    summary = run_virtual_session(
        short,
        sampler=Sampler(sensor, SIMULATED_CALIBRATION, clock),
        haptics=haptics,
        clock=clock,
        device_id="prop",
        device_max_n=DEVICE_MAX_N,
        stop_at_s=stop_at,
    )
    assert summary.outcome in set(Outcome) - {Outcome.INTERRUPTED}
    assert haptics.level == 0.0
    if haptics.changes:
        assert haptics.changes[-1][1] == 0.0
    if summary.outcome is Outcome.ABORTED:
        assert summary.abort is not None
        assert summary.cues.get("abort") == 1
        # The abort buzz was felt: full level from the abort on (it may already have
        # been at full level, e.g. in a "too hard" tap), off only after the pattern.
        at = summary.abort.at_s
        level_then = next((level for t, level in reversed(haptics.changes) if t <= at + 1e-9), 0.0)
        assert level_then == 1.0
        off_at = next(t for t, level in haptics.changes if t > at + 1e-9 and level == 0.0)
        assert off_at >= at + pattern_duration(Cue.ABORT) - 1e-6
