"""Scripted presses (a trace's or scenario's ``stop``/``mark``/``less``/``more``) as edges on the device's buttons.

Each press becomes a down and an up edge on the button that means it - the
start/stop button for ``stop``, the ``less_more`` button for the check-ins -
so it goes through the same handlers as on the device: a ``VirtualButton``'s,
or a ``GpioButton``'s on its mock pin (``--pins``), which measures how long
it was held on its own clock.  ``stop`` goes down at the press's time (stop
acts on the way down); ``less``/``more`` come up at it (a check-in is read on
the release), held ``SHORT_PRESS_S`` or ``LONG_PRESS_HELD_S``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from config.errors import PresspointError
from hal.buttons import LONG_PRESS_S, StartStopButton, VirtualButton

#: How long the simulated person holds a button for ``stop`` and ``less``, and for ``more``, s.
SHORT_PRESS_S = 0.1
LONG_PRESS_HELD_S = LONG_PRESS_S + 0.2


@dataclass(frozen=True, slots=True)
class ButtonEdge:
    """``button`` goes down (``down``) or comes up after ``held_s``, at ``at_s`` (session seconds)."""

    at_s: float
    button: StartStopButton
    down: bool
    held_s: float = 0.0

    def apply(self) -> None:
        """Move the button: ``VirtualButton`` handlers, or the mock pin (pull-up: low = pressed)."""
        if isinstance(self.button, VirtualButton):
            if self.down:
                self.button.down()
            else:
                self.button.up(self.held_s)
            return
        pin = getattr(self.button, "pin", None)
        if pin is None:
            raise TypeError(f"cannot press {self.button!r} in a simulation")
        if self.down:
            pin.drive_low()
        else:
            pin.drive_high()


def press_edges(presses: Sequence[tuple[float, str]], buttons: Sequence[StartStopButton]) -> list[ButtonEdge]:
    """The edges of ``(time, "stop" | "mark" | "less" | "more")`` presses, in time order.

    A press that would overlap the one before on the same button waits for
    its release (a finger presses one button once at a time).
    """
    main = _button(buttons, "start_stop", "stop")
    edges: list[ButtonEdge] = []
    free_at: dict[int, float] = {}
    for at_s, name in presses:
        if name in ("stop", "mark"):  # a stop, or a pain-threshold trial's first-discomfort mark
            button, held = main, SHORT_PRESS_S
            down_at = at_s
        else:
            button = _button(buttons, "less_more", name)
            held = LONG_PRESS_HELD_S if name == "more" else SHORT_PRESS_S
            down_at = max(0.0, at_s - held)
        down_at = max(down_at, free_at.get(id(button), down_at))
        free_at[id(button)] = down_at + held
        edges += [ButtonEdge(down_at, button, True), ButtonEdge(down_at + held, button, False, held)]
    edges.sort(key=lambda edge: edge.at_s)
    return edges


def _button(buttons: Sequence[StartStopButton], role: str, name: str) -> StartStopButton:
    found = next((b for b in buttons if b.role == role), None)
    if found is None:
        raise PresspointError(
            f"the trace presses {name!r} but the device has no {role} button "
            "(less/more need pins.stop_button with pins.second_button_role = \"less_more\")"
        )
    return found


class ScriptedButtons:
    """Edges applied as time passes: ``due(t)`` moves every button whose edge is at or before ``t``."""

    def __init__(self, edges: Sequence[ButtonEdge]) -> None:
        self._edges = list(edges)
        self._next = 0
        self._lock = threading.Lock()

    def due(self, t: float) -> None:
        while True:
            with self._lock:
                if self._next >= len(self._edges) or self._edges[self._next].at_s > t + 1e-9:
                    return
                edge = self._edges[self._next]
                self._next += 1
            edge.apply()

    def release_all(self) -> None:
        """Let go: every button still held comes up now, and nothing more is pressed."""
        with self._lock:
            rest, self._next = self._edges[self._next :], len(self._edges)
        first: dict[int, ButtonEdge] = {}
        for edge in rest:
            first.setdefault(id(edge.button), edge)
        for edge in first.values():
            if not edge.down:  # down now: its next edge is the release
                edge.apply()
