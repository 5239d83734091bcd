"""The standard pressure-pain-threshold protocol (DFNS/QST): kPa, the ramp rate to follow, the mean of trials.

Pressure is force over the probe's area: 1 N on 1 cm² is 10 kPa.  A ramp
more than ``RATE_MARGIN`` off ``rate_kpa_s`` is cued while it happens
(``too_fast`` / ``too_slow`` over the last 0.5 s) and makes the trial
``off_rate`` when its mean rate from contact to the mark is that far off.
The measurement is the mean over the trials on rate when at least two are,
else over all; a change from the previous measurement at the spot is real
when it exceeds the minimum detectable change (``mdc_kpa``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from firmware.session.hold import TIME_EPS

RATE_MARGIN: Final = 0.30
KPA_PER_N_PER_CM2: Final = 10.0


def kpa(force_n: float, probe_area_cm2: float) -> float:
    """Pressure on the probe, kPa."""
    return force_n / probe_area_cm2 * KPA_PER_N_PER_CM2


class RateCue(StrEnum):
    TOO_FAST = "too_fast"
    TOO_SLOW = "too_slow"


def rate_off(rate_kpa_s: float, target_kpa_s: float) -> RateCue | None:
    """Which way a rate is more than 30 % off the target, or ``None`` when on rate."""
    if rate_kpa_s > target_kpa_s * (1 + RATE_MARGIN):
        return RateCue.TOO_FAST
    if rate_kpa_s < target_kpa_s * (1 - RATE_MARGIN):
        return RateCue.TOO_SLOW
    return None


class RateCueTimer:
    """Cue on entering too fast / too slow, then every ``repeat_s`` while it lasts."""

    def __init__(self, target_kpa_s: float, repeat_s: float = 1.5) -> None:
        self.target_kpa_s = target_kpa_s
        self.repeat_s = repeat_s
        self._state: RateCue | None = None
        self._last_at = 0.0

    def due(self, t: float, rate_kpa_s: float) -> RateCue | None:
        state = rate_off(rate_kpa_s, self.target_kpa_s)
        changed = state is not self._state
        self._state = state
        if state is None or not (changed or t - self._last_at >= self.repeat_s - TIME_EPS):
            return None
        self._last_at = t
        return state


@dataclass(frozen=True)
class StandardRate:
    """The ramp a standard trial follows: ``target_kpa_s`` on a probe of ``probe_area_cm2``."""

    target_kpa_s: float
    probe_area_cm2: float


@dataclass(frozen=True)
class TrialPressure:
    threshold_n: float
    threshold_kpa: float
    rate_kpa_s: float | None
    off_rate: bool


def trial_pressure(
    threshold_n: float, mean_rate_n_per_s: float | None, *, probe_area_cm2: float, target_kpa_s: float
) -> TrialPressure:
    """One trial in kPa; a trial whose mean rate is unknown counts as off rate."""
    rate = None if mean_rate_n_per_s is None else kpa(mean_rate_n_per_s, probe_area_cm2)
    off = rate is None or rate_off(rate, target_kpa_s) is not None
    return TrialPressure(threshold_n, kpa(threshold_n, probe_area_cm2), rate, off)


@dataclass(frozen=True)
class SpotMeasurement:
    mean_n: float
    mean_kpa: float
    cv: float | None
    used_trials: tuple[int, ...]
    change_kpa: float | None
    real_change: bool | None


def combine(trials: list[TrialPressure], *, previous_mean_kpa: float | None, mdc_kpa: float) -> SpotMeasurement:
    """The mean over the on-rate trials when at least two are, else over all (``used_trials``: 1-based)."""
    if not trials:
        raise ValueError("a measurement needs at least one recorded trial")
    on_rate = [n for n, trial in enumerate(trials, start=1) if not trial.off_rate]
    used = tuple(on_rate) if len(on_rate) >= 2 else tuple(range(1, len(trials) + 1))
    forces = [trials[n - 1].threshold_n for n in used]
    pressures = [trials[n - 1].threshold_kpa for n in used]
    mean_n = statistics.fmean(forces)
    cv = statistics.stdev(forces) / mean_n if len(forces) >= 2 and mean_n > 0 else None
    mean_kpa = statistics.fmean(pressures)
    change = None if previous_mean_kpa is None else mean_kpa - previous_mean_kpa
    return SpotMeasurement(
        mean_n=mean_n,
        mean_kpa=mean_kpa,
        cv=cv,
        used_trials=used,
        change_kpa=change,
        real_change=None if change is None else abs(change) > mdc_kpa,
    )
