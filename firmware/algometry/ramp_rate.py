"""The ramp rate and the "too fast" cue of a PPT trial.

A median of 3 removes single-sample spikes, a least-squares slope over a
short window averages the load cell's noise; hysteresis keeps noise at the
limit from flickering the cue (docs/algometry.md).
"""

from __future__ import annotations

import statistics
from collections import deque

from firmware.session.hold import TIME_EPS

#: The slope is trusted once the window spans this share of its length.
MIN_WINDOW_SHARE = 0.8


class RampRateEstimator:
    """Slope (N/s) of the median-of-3 filtered force over the last ``window_s``."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last3: deque[float] = deque(maxlen=3)
        self._window: deque[tuple[float, float]] = deque()

    def add(self, t: float, force_n: float) -> float | None:
        """Take one sample; the slope, or None while the window is too short."""
        self._last3.append(force_n)
        self._window.append((t, statistics.median(self._last3)))
        while t - self._window[0][0] > self.window_s + TIME_EPS:
            self._window.popleft()
        if t - self._window[0][0] < MIN_WINDOW_SHARE * self.window_s or len(self._window) < 3:
            return None
        return least_squares_slope(self._window)


class TooFastCue:
    """When to cue "ease off": entering too fast, then every ``repeat_s`` while it lasts."""

    def __init__(self, limit_n_per_s: float, rearm_fraction: float, repeat_s: float) -> None:
        self.limit_n_per_s = limit_n_per_s
        self.rearm_below_n_per_s = rearm_fraction * limit_n_per_s
        self.repeat_s = repeat_s
        self._too_fast = False
        self._last_cue_at: float | None = None

    def due(self, t: float, rate_n_per_s: float) -> bool:
        """Whether to cue now, given the rate at ``t``."""
        if rate_n_per_s > self.limit_n_per_s:
            repeat = self._last_cue_at is not None and t - self._last_cue_at >= self.repeat_s - TIME_EPS
            if not self._too_fast or repeat:
                self._too_fast = True
                self._last_cue_at = t
                return True
        elif rate_n_per_s < self.rearm_below_n_per_s:
            self._too_fast = False
        return False


def least_squares_slope(points: deque[tuple[float, float]]) -> float:
    """Least-squares slope of (t, f) points (N/s)."""
    n = len(points)
    t0 = points[0][0]
    mean_t = sum(p[0] - t0 for p in points) / n
    mean_f = sum(p[1] for p in points) / n
    num = 0.0
    den = 0.0
    for t, f in points:
        dt = t - t0 - mean_t
        num += dt * (f - mean_f)
        den += dt * dt
    return num / den if den > 0 else 0.0
