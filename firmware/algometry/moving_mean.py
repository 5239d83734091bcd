"""The moving mean whose peak is the recorded threshold (one noisy sample never counts alone)."""

from __future__ import annotations

from collections import deque

from firmware.session.hold import TIME_EPS


class MovingMean:
    """Mean force over the last ``window_s`` (a window of 0 s is the sample itself)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def add(self, t: float, force_n: float) -> float:
        """Take one sample; the mean over the window ending at ``t``."""
        self._points.append((t, force_n))
        self._sum += force_n
        while len(self._points) > 1 and t - self._points[0][0] > self.window_s + TIME_EPS:
            self._sum -= self._points.popleft()[1]
        return self._sum / len(self._points)
