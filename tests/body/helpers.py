"""Driving the session core with forces and check-ins at exact sample times."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from config.plan import TherapyPlan, validate_plan
from firmware.session.controller import SessionController
from firmware.session.decisions import Decision
from firmware.session.states import Gesture
from tests.conftest import DEVICE_MAX_N

RATE = 80.0


def body_plan(**fields: object) -> TherapyPlan:
    """A validated plan: 3 kgf / 4 kgf, one 30 s hold, 5 s rests, then ``fields``."""
    data: dict[str, object] = {"target": "3 kgf", "tolerance": "4 kgf", "hold_s": 30, "repetitions": 1, "rest_s": 5}
    data.update(fields)
    return validate_plan(data, DEVICE_MAX_N)


def drive(
    plan: TherapyPlan,
    force_at: Callable[[float], float],
    *,
    gestures: Mapping[int, Gesture] | None = None,
    stop_at_sample: int | None = None,
    max_s: float = 1000.0,
) -> tuple[SessionController, list[Decision]]:
    """Feed ``force_at(n / RATE)``; ``gestures[n]`` is said just before sample ``n``."""
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N)
    decisions: list[Decision] = []
    n = 0
    while not controller.finished:
        t = n / RATE
        assert t <= max_s, "the session did not end"
        if gestures and n in gestures:
            controller.on_gesture(gestures[n])
        if stop_at_sample is not None and n == stop_at_sample:
            decisions.extend(controller.on_stop(t))
            break
        decisions.extend(controller.on_sample(t, force_at(t)))
        n += 1
    return controller, decisions


def of_type(decisions: list[Decision], kind: str) -> list[Decision]:
    return [d for d in decisions if d.type == kind]


def cue_names(decisions: list[Decision]) -> list[str]:
    return [str(d.cue) for d in decisions if d.type == "cue"]  # type: ignore[union-attr]
