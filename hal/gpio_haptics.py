"""The vibration motor on a PWM pin (through a transistor), via gpiozero.

gpiozero gives one GPIO stack for the whole device: lgpio's PWM on the Pi,
``MockPWMPin`` in tests, where the pin's ``states`` history is what the
cue-pattern tests check.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from gpiozero import PWMOutputDevice

from hal.haptics import Haptics


class PwmMotor(Haptics):
    """``Haptics`` on a gpiozero ``PWMOutputDevice``; off when closed, whatever happened.

    Safety over strictness: after ``close()`` the motor stays off and later
    ``set_level`` calls are ignored (a cue task cancelled late during shutdown
    must not raise in an exit path, nor switch the motor back on).
    """

    def __init__(self, pin: int, *, pin_factory: Any = None, frequency_hz: int = 200) -> None:
        self._device = PWMOutputDevice(
            pin, active_high=True, initial_value=0.0, frequency=frequency_hz,
            pin_factory=pin_factory,
        )
        self._pin = self._device.pin
        self._level = 0.0
        self._closed = False
        self._lock = threading.Lock()

    @property
    def pin(self) -> Any:
        """The gpiozero pin, also after close (a ``MockPWMPin`` in tests: ``states`` is the
        PWM history, the last entry 0.0 once the motor is off)."""
        return self._pin

    @property
    def level(self) -> float:
        return self._level

    @property
    def closed(self) -> bool:
        return self._closed

    def set_level(self, level: float) -> None:
        if not (isinstance(level, int | float) and math.isfinite(level) and 0.0 <= level <= 1.0):
            raise ValueError(f"motor level must be a number from 0.0 to 1.0, not {level!r}")
        with self._lock:
            if self._closed or level == self._level:
                return  # idempotent: no extra pin writes for an unchanged level
            self._device.value = float(level)
            self._level = float(level)

    def off(self) -> None:
        """Stop the motor; any number of times, also after ``close()``."""
        self.set_level(0.0)

    def close(self) -> None:
        """Stop the motor and release the pin.  Idempotent."""
        with self._lock:
            if self._closed:
                return
            try:
                self._device.value = 0.0
                self._level = 0.0
            finally:
                self._closed = True
                self._device.close()
