"""A haptics recorder: a ``Haptics`` backend that remembers every level change."""

from __future__ import annotations

from pathlib import Path

from hal.clock import Clock
from hal.haptics import Haptics


class RecordingHaptics(Haptics):
    """Keeps ``(time, level)`` for every change, timed on the injected clock."""

    def __init__(self, clock: Clock, log_path: Path | None = None) -> None:
        self.clock = clock
        self._level = 0.0
        self.changes: list[tuple[float, float]] = []
        #: Optional file that gets one ``<time> <level>`` line per change, flushed
        #: at once, so a test in another process can see the motor's last state.
        self._log = log_path.open("a", encoding="utf-8") if log_path is not None else None

    def set_level(self, level: float) -> None:
        if not 0.0 <= level <= 1.0:
            raise ValueError(f"motor level must be within 0..1, got {level}")
        if level != self._level:
            self._level = level
            self.changes.append((self.clock.now(), level))
            if self._log is not None:
                self._log.write(f"{self.clock.now():.6f} {level}\n")
                self._log.flush()

    @property
    def level(self) -> float:
        return self._level

    def close(self) -> None:
        self.off()
        if self._log is not None:
            self._log.close()
            self._log = None
