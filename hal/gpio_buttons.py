"""A start/stop push button on a GPIO pin, via gpiozero ``DigitalInputDevice``.

Debounce is done twice on purpose: gpiozero's ``bounce_time`` (the kernel /
lgpio glitch filter on the Pi; mock pins ignore it) and a software hold-off
on the injected clock, so a bouncing contact gives exactly one press on
every pin factory, and tests can check that without sleeping.

Not gpiozero's ``Button``: its hold support starts a thread per button
that wakes ten times a second, button held or not - two threads taking the
GIL in the real-time process, twenty times a second.  How long a press was
held comes from its own edges here (the release handler).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gpiozero import DigitalInputDevice

from hal.buttons import ButtonRole, StartStopButton
from hal.clock import Clock, MonotonicClock

DEFAULT_BOUNCE_S = 0.03


class GpioButton(StartStopButton):
    """A button wired from the pin to ground (internal pull-up); the handler runs on press.

    The handler is called on gpiozero's callback thread; it must be quick and
    thread-safe (e.g. ``loop.call_soon_threadsafe``).
    """

    def __init__(
        self,
        pin: int,
        *,
        pin_factory: Any = None,
        bounce_time_s: float | None = DEFAULT_BOUNCE_S,
        pull_up: bool = True,
        clock: Clock | None = None,
        role: ButtonRole = "start_stop",
    ) -> None:
        self.role = role
        self._bounce_s = bounce_time_s or 0.0
        self._clock: Clock = clock or MonotonicClock()
        self._handler: Callable[[], None] | None = None
        self._release_handler: Callable[[float], None] | None = None
        self._last_press: float | None = None
        self._lock = threading.Lock()
        self.presses = 0
        self.bounces_ignored = 0
        self._button = DigitalInputDevice(pin, pull_up=pull_up, bounce_time=bounce_time_s, pin_factory=pin_factory)
        self._button.when_activated = self._pressed
        self._button.when_deactivated = self._released

    @property
    def pin(self) -> Any:
        """The gpiozero pin (a ``MockPin`` in tests: ``drive_low()`` presses the button)."""
        return self._button.pin

    @property
    def is_pressed(self) -> bool:
        return bool(self._button.is_active)

    def set_handler(self, on_press: Callable[[], None] | None) -> None:
        self._handler = on_press

    def set_release_handler(self, on_release: Callable[[float], None] | None) -> None:
        self._release_handler = on_release

    def _released(self) -> None:
        with self._lock:
            pressed_at = self._last_press
        handler = self._release_handler
        if handler is not None and pressed_at is not None:
            handler(max(0.0, self._clock.now() - pressed_at))

    def _pressed(self) -> None:
        now = self._clock.now()
        with self._lock:
            last = self._last_press
            if last is not None and now - last < self._bounce_s:
                self.bounces_ignored += 1
                return
            self._last_press = now
            self.presses += 1
        handler = self._handler
        if handler is not None:
            handler()

    def close(self) -> None:
        """Stop reporting presses and release the pin.  Idempotent."""
        self._handler = None
        self._release_handler = None
        self._button.close()
