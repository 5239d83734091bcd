"""The haptics interface: one vibration motor with a variable level."""

from __future__ import annotations

from abc import ABC, abstractmethod


class Haptics(ABC):
    """A vibration motor.  ``level`` is the PWM duty from 0.0 (off) to 1.0."""

    @abstractmethod
    def set_level(self, level: float) -> None:
        """Drive the motor at ``level`` (0.0 … 1.0)."""

    def off(self) -> None:
        """Stop the motor.  Must be safe to call at any time, any number of times."""
        self.set_level(0.0)

    @property
    @abstractmethod
    def level(self) -> float:
        """The level the motor is driven at now."""

    def close(self) -> None:
        """Stop the motor and release its pin."""
        self.off()
