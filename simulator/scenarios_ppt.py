"""The default pressure-pain-threshold trace: at each spot, ramps at the protocol's rate with a mark each.

The simulated person ramps from rest at ``rate_kpa_s`` on the probe, marks
the first discomfort at a share of the spot's tolerance (a little different
each trial, as people are), lets go, and starts the next ramp a little after
the rest between trials is over.
"""

from __future__ import annotations

from typing import Final

from config.plan import TherapyPlan
from config.profile import PptProtocol
from simulator.trace import ButtonPress, Keyframe

#: Where the person marks, as shares of the spot's tolerance, trial after trial.
MARK_SHARES: Final = (0.72, 0.78, 0.75)
#: When the first ramp starts, how long the release takes and how late after a rest the next ramp starts, s.
FIRST_RAMP_S: Final = 1.0
RELEASE_S: Final = 0.5
AFTER_REST_S: Final = 2.0
KPA_PER_N_PER_CM2: Final = 10.0


def ppt_keyframes(
    plan: TherapyPlan, protocol: PptProtocol | None = None, probe_area_cm2: float = 1.0
) -> tuple[list[Keyframe], list[ButtonPress]]:
    """The keyframes and the ``mark`` presses of a whole measurement under ``plan`` (its spots, in order)."""
    protocol = protocol or PptProtocol()
    rate_n_per_s = protocol.rate_kpa_s * probe_area_cm2 / KPA_PER_N_PER_CM2
    frames = [Keyframe(0.0, 0.0)]
    presses: list[ButtonPress] = []
    t = FIRST_RAMP_S
    for spot in plan.spot_plans():
        for trial in range(protocol.trials):
            threshold = spot.tolerance * MARK_SHARES[trial % len(MARK_SHARES)]
            mark = t + threshold / rate_n_per_s
            frames += [Keyframe(t, 0.0), Keyframe(mark, threshold), Keyframe(mark + RELEASE_S, 0.0)]
            presses.append(ButtonPress(mark, "mark"))
            t = mark + protocol.trial_rest_s + AFTER_REST_S
    frames.append(Keyframe(t + 5.0, 0.0))
    return frames, presses
