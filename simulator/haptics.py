"""A haptics recorder: a ``Haptics`` backend that remembers every level change."""

from __future__ import annotations

from hal.clock import Clock
from hal.haptics import Haptics


class RecordingHaptics(Haptics):
    """Keeps ``(time, level)`` for every change, timed on the injected clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._level = 0.0
        self.changes: list[tuple[float, float]] = []

    def set_level(self, level: float) -> None:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"motor level must be within 0..1, got {level}")
        if level != self._level:
            self._level = level
            self.changes.append((self.clock.now(), level))

    @property
    def level(self) -> float:
        return self._level

    def on_time_s(self) -> float:
        """Total time the motor was on (for checking that cues were felt)."""
        total, on_since = 0.0, None
        for t, level in self.changes:
            if level > 0 and on_since is None:
                on_since = t
            elif level == 0 and on_since is not None:
                total += t - on_since
                on_since = None
        return total
