"""The button interface: a start/stop button that reports presses, and an optional second one.

The first button starts and stops: a press stops a session on the way down,
in every phase, and nothing else it could mean may delay that.  A second
button (``pins.stop_button``) either stops too (role ``stop``) or carries the
check-ins (role ``less_more``): a short press is ``less``, one held for
``LONG_PRESS_S`` or longer is ``more``, told apart on the release.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Literal

#: A second-button press held this long (s) or longer means ``more``; shorter means ``less``.
LONG_PRESS_S = 1.0
#: What a button is for: start/stop (the first), or the second button's role.
ButtonRole = Literal["start_stop", "stop", "less_more"]


def check_in_of(held_s: float) -> Literal["less", "more"]:
    """The check-in a press of the ``less_more`` button held for ``held_s`` seconds means."""
    return "more" if held_s >= LONG_PRESS_S else "less"


class StartStopButton(ABC):
    """One push button.  ``on_press`` is called (from any thread) on each short press."""

    #: What this button is for (see the module docstring).
    role: ButtonRole = "start_stop"

    @abstractmethod
    def set_handler(self, on_press: Callable[[], None] | None) -> None:
        """Call ``on_press`` on every press from now on (``None`` to stop).

        It fires when the button goes down, so "stop" never waits for a release.
        """

    def set_release_handler(self, on_release: Callable[[float], None] | None) -> None:  # noqa: B027
        """Call ``on_release(held_s)`` when the button comes back up (optional).

        Lets the device tell a short press (start) from a long hold (a
        gesture, e.g. lowering the tolerance) without delaying "stop".
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the pin."""


class VirtualButton(StartStopButton):
    """A button pressed by code (a simulated person): ``press(held_s)`` goes down, then up."""

    def __init__(self, role: ButtonRole = "start_stop") -> None:
        self.role = role
        self._on_press: Callable[[], None] | None = None
        self._on_release: Callable[[float], None] | None = None
        self.presses = 0

    def set_handler(self, on_press: Callable[[], None] | None) -> None:
        self._on_press = on_press

    def set_release_handler(self, on_release: Callable[[float], None] | None) -> None:
        self._on_release = on_release

    def press(self, held_s: float = 0.1) -> None:
        """Down (the press handler), then up after ``held_s`` (the release handler)."""
        self.down()
        self.up(held_s)

    def down(self) -> None:
        """The button goes down: the press handler."""
        self.presses += 1
        if self._on_press is not None:
            self._on_press()

    def up(self, held_s: float) -> None:
        """The button comes up after ``held_s``: the release handler."""
        if self._on_release is not None:
            self._on_release(held_s)
