"""Small helpers for driving the session core in tests, and for the device config of a real ``presspoint run``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from config.plan import TherapyPlan
from firmware.session.controller import SessionController
from firmware.session.decisions import CueDecision, Decision
from tests.conftest import DEVICE_MAX_N

RATE = 80.0


def run_forces(
    plan: TherapyPlan,
    force_at: Callable[[float], float | None],
    *,
    rate: float = RATE,
    max_s: float = 2000.0,
    device_max_n: float = DEVICE_MAX_N,
    stop_at: float | None = None,
) -> tuple[SessionController, list[Decision]]:
    """Feed ``force_at(t)`` at ``rate`` until the session ends (None = no sample)."""
    controller = SessionController(plan, sample_rate_hz=rate, device_max_n=device_max_n)
    decisions: list[Decision] = []
    n = 0
    while not controller.finished:
        t = n / rate
        if t > max_s:
            raise AssertionError(f"session did not end within {max_s} s")
        if stop_at is not None and t >= stop_at:
            decisions.extend(controller.on_stop(t, "button"))
            break
        force = force_at(t)
        decisions.extend(controller.on_gap(t) if force is None else controller.on_sample(t, force))
        n += 1
    return controller, decisions


def run_samples(
    plan: TherapyPlan, forces: Sequence[float], *, rate: float = RATE
) -> tuple[SessionController, list[Decision]]:
    """Feed a list of forces, one per sample; stops early if the session ends."""
    controller = SessionController(plan, sample_rate_hz=rate, device_max_n=DEVICE_MAX_N)
    decisions: list[Decision] = []
    for n, force in enumerate(forces):
        if controller.finished:
            break
        decisions.extend(controller.on_sample(n / rate, force))
    return controller, decisions


def cues(decisions: Sequence[Decision], kind: str | None = None) -> list[CueDecision]:
    return [d for d in decisions if isinstance(d, CueDecision) and (kind is None or d.cue == kind)]


def press_profile(plan: TherapyPlan, *, press_at: float = 1.0, hold_extra: float = 2.0, rest_gap: float = 3.0):
    """A simple square pressing pattern: target for hold_s + hold_extra, then off."""
    cycle = press_at + plan.hold_s + hold_extra + plan.rest_s + rest_gap

    def force_at(t: float) -> float:
        phase = t % cycle
        return plan.target if press_at <= phase < press_at + plan.hold_s + hold_extra else 0.0

    return force_at


def profile_device(folder: Path, device_id: str, *, profile: Path, state: Path, extra: str = "") -> Path:
    """``folder/device.toml``: ``device_id``, ``profile``, its state in ``state``; ``extra``: more top-level lines."""
    config = folder / "device.toml"
    config.write_text(
        f'device_id = "{device_id}"\nprofile_file = "{profile}"\n{extra}[storage]\nstate_dir = "{state}"\n'
    )
    return config
