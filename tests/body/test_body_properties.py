"""Properties over random traces and check-in sequences.

Whatever the person says: no target ever brings the band's top to the
tolerance, no limit moves, the safety rules abort exactly when the same
oracle as for plain sessions says so, and stop ends the session on the spot.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.plan import TherapyPlan
from config.units import kgf
from firmware.session.controller import SessionController
from firmware.session.decisions import Adjusted, Decision, HoldStarted
from firmware.session.states import Gesture, Outcome
from tests.body.helpers import body_plan
from tests.conftest import DEVICE_MAX_N
from tests.session.test_safety_properties import PLAN, force_samples, oracle

PLANS = [
    body_plan(),
    body_plan(adjust_step=0.25, max_increments=5, check_in_s=10),
    body_plan(
        target="2 kgf",
        tolerance="3 kgf",
        band=0.05,
        adjust_step=0.05,
        max_increments=5,
        spots=[{"name": "a", "hold_s": 30}, {"name": "b", "target": "2.5 kgf", "band": 0.1}, {"name": "c"}],
    ),
]


@st.composite
def pressing(draw: st.DrawFn, plan: TherapyPlan) -> list[float]:
    """Plateaus near every band the check-ins can reach, plus contact, rest and strokes."""
    top = plan.tolerance
    levels = st.one_of(
        st.sampled_from([0.0, plan.contact_threshold, plan.stroke_max_n, plan.target, top * 0.95]),
        st.floats(min_value=0.0, max_value=top * 0.999),
    )
    segments = draw(st.lists(st.tuples(levels, st.integers(1, 2400)), min_size=1, max_size=40))
    return [force for force, length in segments for _ in range(length)]


def gestures(n: int) -> st.SearchStrategy[dict[int, list[Gesture]]]:
    return st.dictionaries(st.integers(0, max(0, n - 1)), st.lists(st.sampled_from(list(Gesture)), max_size=6))


def feed(
    plan: TherapyPlan, forces: list[float], said: dict[int, list[Gesture]], rate: float = 80.0
) -> tuple[SessionController, list[Decision]]:
    controller = SessionController(plan, sample_rate_hz=rate, device_max_n=DEVICE_MAX_N)
    decisions: list[Decision] = []
    for n, force in enumerate(forces):
        for kind in said.get(n, []):
            controller.on_gesture(kind)
        decisions.extend(controller.on_sample(n / rate, force))
        if controller.finished:
            break
    return controller, decisions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), which=st.sampled_from(range(len(PLANS))))
def test_no_target_reaches_the_tolerance_and_no_limit_moves(data: st.DataObject, which: int) -> None:
    plan = PLANS[which]
    forces = data.draw(pressing(plan))
    said = data.draw(gestures(len(forces)))
    before = plan.model_dump()
    controller, decisions = feed(plan, forces, said)
    spots = {spot.index: spot for spot in plan.spot_plans()}
    for decision in decisions:
        if isinstance(decision, Adjusted | HoldStarted):
            spot = spots[decision.spot]
            assert decision.target_n * (1 + spot.band) < spot.tolerance <= plan.therapist_max <= DEVICE_MAX_N
            assert decision.target_n >= max(0.5 * spot.target, 1.5 * plan.contact_threshold) or (
                decision.target_n == spot.target
            )
    for hold in controller.holds:
        spot = spots[hold.spot]
        assert all(a.target_n * (1 + spot.band) < spot.tolerance for a in hold.adjustments)
        assert sum(a.kind is Gesture.MORE for a in hold.adjustments) <= plan.max_increments
    assert plan.model_dump() == before
    assert controller._safety.tolerance_n == plan.tolerance and controller._safety.device_max_n == DEVICE_MAX_N


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), rate=st.sampled_from([10.0, 80.0]), debounce=st.sampled_from([0.0, 25.0, 100.0]))
def test_check_ins_change_no_abort(data: st.DataObject, rate: float, debounce: float) -> None:
    """The same oracle as plain sessions: check-ins never delay, add or remove an abort."""
    forces = data.draw(force_samples())
    said = data.draw(gestures(len(forces)))
    plan = PLAN.model_copy(update={"abort_debounce_ms": debounce, "adjust_step": 0.25, "max_increments": 5})
    controller, _ = feed(plan, forces, said, rate)
    expected = oracle(forces, rate, debounce)
    if expected is None:
        assert controller.abort is None and not controller.finished
    else:
        assert controller.abort is not None
        assert (controller.abort.reason, controller.abort.t) == expected


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), which=st.sampled_from(range(len(PLANS))))
def test_stop_ends_the_session_at_once_in_every_phase(data: st.DataObject, which: int) -> None:
    plan = PLANS[which]
    forces = data.draw(pressing(plan))
    stop_at = data.draw(st.integers(0, len(forces)))
    said = data.draw(gestures(len(forces)))
    controller = SessionController(plan, sample_rate_hz=80.0, device_max_n=DEVICE_MAX_N)
    for n, force in enumerate(forces[:stop_at]):
        for kind in said.get(n, []):
            controller.on_gesture(kind)
        controller.on_sample(n / 80.0, force)
    t = stop_at / 80.0
    finished_before = controller.finished
    controller.on_gesture(Gesture.MORE)  # said with the stop: changes nothing
    controller.on_stop(t, "button")
    if not finished_before:
        assert controller.outcome is Outcome.STOPPED and controller.ended_at == t
    assert controller.on_sample(t + 1 / 80.0, kgf(3.0)) == ()
