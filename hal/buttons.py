"""The button interface: a start/stop button that reports presses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable


class StartStopButton(ABC):
    """One push button.  ``on_press`` is called (from any thread) on each short press."""

    @abstractmethod
    def set_handler(self, on_press: Callable[[], None] | None) -> None:
        """Call ``on_press`` on every press from now on (``None`` to stop)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the pin."""
