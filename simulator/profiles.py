"""Scripted pressing profiles and the named scenarios built from them.

A profile is open loop: it is laid out from the plan's timings (lead-in,
ramp, hold a little longer than ``hold_s``, release, rest) as keyframes, then
tremor and noise are added on top.  Scenarios vary one thing each so every
session outcome and cue can be produced on demand.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from config.plan import TherapyPlan
from config.spots import Spot
from firmware.session.states import Gesture
from firmware.session.targets import SpotTarget
from simulator.scenarios_ppt import ppt_keyframes
from simulator.trace import ButtonPress, ForceTrace, Keyframe


@dataclass(frozen=True)
class PressingStyle:
    """How one simulated person presses."""

    lead_in_s: float = 2.0
    ramp_s: float = 2.0
    target_fraction: float = 1.0
    overshoot_n: float = 0.0
    hold_margin_s: float = 2.0
    release_s: float = 0.6
    rest_margin_s: float = 1.5
    drift_n: float = 0.6  # slow sag over a hold, N (negative = creeping up)


@dataclass
class ScenarioEvents:
    """Edits laid over the regular repetitions (times are session seconds)."""

    dropouts_from: float | None = None
    spikes: list[tuple[float, float]] = field(default_factory=list)  # (time, force), one sample wide
    slams: list[tuple[float, float, float]] = field(default_factory=list)  # (time, seconds, force), sudden
    segments: list[tuple[float, float, float]] = field(default_factory=list)  # (start, end, force)
    early_release: tuple[int, float, float] | None = None  # (rep, offset into hold, off time)
    overshoot_rep: int | None = None
    overshoot_peak_n: float = 0.0
    no_contact: bool = False
    ramp_from: tuple[float, float, float] | None = None  # (start, N/s, final force): one slow ramp
    check_ins: list[tuple[float, str]] = field(default_factory=list)  # (offset into every hold, less|more)
    rest_strokes_n: float | None = None  # light stroking in every rest, N
    rest_press_n: float | None = None  # one firmer press in the first rest, N
    presses: list[ButtonPress] = field(default_factory=list)  # filled by build_keyframes
    keyframes: list[Keyframe] | None = None  # laid out by the scenario itself (pain-threshold ramps)


class ProfileSource:
    """Force as a function of time: keyframes + tremor + seeded noise."""

    def __init__(
        self,
        trace: ForceTrace,
        presses: tuple[ButtonPress, ...] = (),
        *,
        tremor_n: float = 0.25,
        tremor_hz: float = 9.0,
        noise_n: float = 0.0,
        seed: int = 1,
        contact_n: float = 1.0,
    ) -> None:
        self.trace = trace
        #: Button presses the scripted person makes (the check-ins), in time order.
        self.presses = presses
        self.tremor_n = tremor_n
        self._omega = 2.0 * math.pi * tremor_hz
        self.noise_n = noise_n
        self._rng = random.Random(seed)
        self._contact_n = contact_n

    def force_at(self, t: float) -> float | None:
        base = self.trace.force_at(t)
        if base is None:
            return None
        force = base
        if base > self._contact_n and self.tremor_n:
            force += self.tremor_n * math.sin(self._omega * t)
        if self.noise_n:
            force += self._rng.gauss(0.0, self.noise_n)
        return force


def build_keyframes(plan: TherapyPlan, style: PressingStyle, events: ScenarioEvents) -> list[Keyframe]:
    """Lay out every repetition of every spot of ``plan`` as keyframes, then apply ``events``."""
    frames: list[Keyframe] = [Keyframe(0.0, 0.0)]
    t = 0.0
    if events.no_contact:
        return frames
    if events.keyframes is not None:
        return list(events.keyframes)
    if events.ramp_from is not None:
        start, rate, final = events.ramp_from
        return [*frames, Keyframe(start, 0.0), Keyframe(start + final / rate, final)]
    spots = plan.spot_plans()
    total = sum(spot.repetitions for spot in spots)
    rep = 0
    for spot in spots:
        followed = SpotTarget(
            spot, step=plan.adjust_step, max_increments=plan.max_increments, contact_threshold_n=plan.contact_threshold
        )
        for _ in range(spot.repetitions):
            rep += 1
            target = followed.target_n * style.target_fraction
            t += style.lead_in_s
            frames.append(Keyframe(t, 0.0))
            ramp_end = t + style.ramp_s
            if events.overshoot_rep == rep:
                frames.append(Keyframe(ramp_end - 0.3, events.overshoot_peak_n))
                frames.append(Keyframe(ramp_end + 0.2, events.overshoot_peak_n))
                frames.append(Keyframe(ramp_end + 0.6, target))
            else:
                frames.append(Keyframe(ramp_end, target + style.overshoot_n))
            # The hold starts roughly when the ramp enters the band; stay long enough.
            hold_start = ramp_end - style.ramp_s * spot.band
            hold_end = hold_start + spot.hold_s + style.hold_margin_s
            if events.early_release and events.early_release[0] == rep:
                _, offset, off_s = events.early_release
                lift = hold_start + offset
                frames.append(Keyframe(lift, target - style.drift_n * offset / spot.hold_s))
                frames.append(Keyframe(lift + style.release_s, 0.0))
                t = lift + style.release_s + off_s
                frames.append(Keyframe(t, 0.0))
                t += spot.rest_s - off_s + style.rest_margin_s if spot.rest_s > off_s else style.rest_margin_s
                frames.append(Keyframe(t, 0.0))
                continue
            for offset, kind in events.check_ins:
                at = hold_start + offset
                frames.append(Keyframe(at, target - style.drift_n * offset / spot.hold_s))
                events.presses.append(ButtonPress(at, kind))
                target = followed.adjust(Gesture(kind)).target_n * style.target_fraction
                frames.append(Keyframe(at + 0.5, target - style.drift_n * (offset + 0.5) / spot.hold_s))
            frames.append(Keyframe(hold_end, target - style.drift_n))
            t = hold_end + style.release_s
            frames.append(Keyframe(t, 0.0))
            if rep < total:
                _rest_touches(frames, t, spot.rest_s, events, first=rep == 1)
                t += spot.rest_s + style.rest_margin_s - style.lead_in_s
                frames.append(Keyframe(t, 0.0))
    frames.append(Keyframe(t + 5.0, 0.0))
    return _apply_overlays(frames, events)


def _rest_touches(frames: list[Keyframe], released: float, rest_s: float, events: ScenarioEvents, first: bool) -> None:
    """Light strokes through the rest (and one firmer press in the first), ending before it does."""
    at = released + 1.0
    if first and events.rest_press_n is not None:
        frames.extend([Keyframe(at, 0.0), Keyframe(at + 0.3, events.rest_press_n), Keyframe(at + 1.3, 0.0)])
        at += 2.0
    if events.rest_strokes_n is not None and rest_s - (at - released) > 2.0:
        end = released + rest_s - 1.0
        frames.extend([Keyframe(at, 0.0), Keyframe(at + 0.3, events.rest_strokes_n)])
        frames.extend([Keyframe(end - 0.3, events.rest_strokes_n), Keyframe(end, 0.0)])


def _value_at(frames: list[Keyframe], t: float) -> float:
    trace = ForceTrace(frames)
    value = trace.force_at(t)
    return 0.0 if value is None else value


def _apply_overlays(frames: list[Keyframe], events: ScenarioEvents) -> list[Keyframe]:
    for start, end, force in events.segments:
        before, after = _value_at(frames, start), _value_at(frames, end)
        kept = [k for k in frames if not start <= k.time_s <= end]
        kept += [
            Keyframe(start, before),
            Keyframe(start + 0.5, force),
            Keyframe(end - 0.5, force),
            Keyframe(end, after),
        ]
        frames = sorted(kept, key=lambda k: k.time_s)
    steps = [(at, 0.0, force) for at, force in events.spikes] + list(events.slams)
    for at, seconds, force in steps:
        start, end = at - 0.006, at + seconds + 0.006
        before, after = _value_at(frames, start), _value_at(frames, end)
        kept = [k for k in frames if not start <= k.time_s <= end]
        kept += [Keyframe(start, before), Keyframe(at, force), Keyframe(at + seconds, force), Keyframe(end, after)]
        frames = sorted(kept, key=lambda k: k.time_s)
    if events.dropouts_from is not None:
        frames = [k for k in frames if k.time_s < events.dropouts_from]
        frames.append(Keyframe(events.dropouts_from, math.nan))
    return frames


@dataclass(frozen=True)
class Scenario:
    """A named, reproducible simulated session."""

    name: str
    description: str
    expected_outcome: str
    build: Callable[[TherapyPlan, float], ScenarioEvents]
    style: PressingStyle = PressingStyle()
    stop_at_s: float | None = None


def _hold_start(plan: TherapyPlan, rep: int, style: PressingStyle = PressingStyle()) -> float:
    cycle = style.lead_in_s + style.ramp_s + plan.hold_s + style.hold_margin_s + style.release_s
    cycle += plan.rest_s + style.rest_margin_s - style.lead_in_s
    first = style.lead_in_s + style.ramp_s * (1.0 - plan.band)
    return first + (rep - 1) * cycle


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario("normal", "a good session: every hold in band", "completed", lambda p, d: ScenarioEvents()),
        Scenario(
            "overshoot",
            "the second ramp overshoots past the tolerance",
            "aborted",
            lambda p, d: ScenarioEvents(overshoot_rep=2, overshoot_peak_n=p.tolerance + 3.0),
        ),
        Scenario(
            "spike",
            "one 10 ms spike above the tolerance during the first hold (no abort)",
            "completed",
            lambda p, d: ScenarioEvents(spikes=[(_hold_start(p, 1) + 20.0, p.tolerance + 4.0)]),
        ),
        Scenario(
            "early-release",
            "lets go for 5 s in the middle of the second hold",
            "completed",
            lambda p, d: ScenarioEvents(early_release=(2, 20.0, 5.0)),
        ),
        Scenario("no-contact", "never presses", "timed_out", lambda p, d: ScenarioEvents(no_contact=True)),
        Scenario(
            "sensor-dropout",
            "the sensor stops delivering samples during the first hold",
            "aborted",
            lambda p, d: ScenarioEvents(dropouts_from=_hold_start(p, 1) + 25.0),
        ),
        Scenario(
            "too-light",
            "sags below the band for 5 s in the first hold",
            "completed",
            lambda p, d: ScenarioEvents(
                segments=[(_hold_start(p, 1) + 10.0, _hold_start(p, 1) + 16.0, p.band_low_n - 2.0)]
            ),
        ),
        Scenario(
            "too-hard",
            "presses above the band (below tolerance) for 5 s in the first hold",
            "completed",
            lambda p, d: ScenarioEvents(
                segments=[
                    (
                        _hold_start(p, 1) + 10.0,
                        _hold_start(p, 1) + 16.0,
                        (p.band_high_n + p.tolerance) / 2.0,
                    )
                ]
            ),
        ),
        Scenario(
            "device-max",
            "slams past the load cell's safe range in the first hold",
            "aborted",
            lambda p, d: ScenarioEvents(slams=[(_hold_start(p, 1) + 15.0, 0.3, d + 10.0)]),
        ),
        Scenario(
            "slow-ramp",
            "presses slowly, 0.8 kgf/s from t = 1 s, up to the tolerance (for threshold trials)",
            "aborted",
            lambda p, d: ScenarioEvents(ramp_from=(1.0, 0.8 * 9.80665, p.tolerance + 2.0)),
        ),
        Scenario(
            "spots",
            "two sore spots (the plan's own, or left and right upper trapezius), twice each",
            "completed",
            lambda p, d: ScenarioEvents(),
        ),
        Scenario(
            "check-in-less",
            "says 'less' 10 s into every hold and follows the lighter target",
            "completed",
            lambda p, d: ScenarioEvents(check_ins=[(10.0, "less")]),
        ),
        Scenario(
            "progressive",
            "says 'more' 15 s and 30 s into every hold as the spot eases (one reaching the tolerance is refused)",
            "completed",
            lambda p, d: ScenarioEvents(check_ins=[(15.0, "more"), (30.0, "more")]),
        ),
        Scenario(
            "ppt",
            "the standard pain-threshold measurement: three ~50 kPa/s ramps a spot, a mark at each (--mode ppt;"
            " in a session the first mark is a press, so it stops)",
            "stopped",
            lambda p, d: _ppt_events(p),
        ),
        Scenario(
            "strokes",
            "strokes lightly through every rest, and presses too firmly once in the first",
            "completed",
            lambda p, d: ScenarioEvents(rest_strokes_n=0.6 * 9.80665, rest_press_n=1.5 * 9.80665),
        ),
        Scenario(
            "stop",
            "the stop button is pressed during the second hold",
            "stopped",
            lambda p, d: ScenarioEvents(),
            stop_at_s=None,
        ),
    ]
}


def _ppt_events(plan: TherapyPlan) -> ScenarioEvents:
    frames, presses = ppt_keyframes(plan)
    return ScenarioEvents(keyframes=frames, presses=presses)


def scenario_stop_time(scenario: Scenario, plan: TherapyPlan) -> float | None:
    """When the scenario presses the stop button, if it does."""
    if scenario.name == "stop":
        return _hold_start(plan, 2) + 10.0
    return scenario.stop_at_s


def scenario_plan(name: str | None, plan: TherapyPlan) -> TherapyPlan:
    """The plan scenario ``name`` runs with: ``spots`` gives a plan without spots two of them."""
    if name != "spots" or plan.spots:
        return plan
    spots = (
        Spot(name="left upper trapezius", repetitions=2),
        Spot(name="right upper trapezius", repetitions=2, target=plan.target * 0.9),
    )
    return plan.model_copy(update={"spots": spots})


def build_scenario_source(
    name: str, plan: TherapyPlan, device_max_n: float, *, noise_n: float = 0.0, seed: int = 1
) -> ProfileSource:
    """The force source of scenario ``name`` for ``plan`` (give it ``scenario_plan(name, plan)``)."""
    scenario = SCENARIOS[name]
    events = scenario.build(plan, device_max_n)
    frames = build_keyframes(plan, scenario.style, events)
    return ProfileSource(
        ForceTrace(frames), tuple(events.presses), noise_n=noise_n, seed=seed, contact_n=plan.contact_threshold
    )
