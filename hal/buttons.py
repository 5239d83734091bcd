"""The button interface: a start/stop button that reports presses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable


class StartStopButton(ABC):
    """One push button.  ``on_press`` is called (from any thread) on each short press."""

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
