"""The person's two buttons in a virtual-time run, pressed by a trace's ``button`` column.

Sessions (``firmware.realtime.virtual``) and pain-threshold measurements
(``firmware.realtime.ppt_runner``) both take their presses as edges on these
buttons (``hal.buttons_scripted.press_edges``), applied with the clock moved
to each edge, so they go through the button code the device runs: the
first button acts on the way down, the second (role ``less_more``) on its
release, by how long it was held.  The rig's own buttons are used (mock
pins with ``--pins``), else simulated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hal.buttons import StartStopButton, VirtualButton
from hal.buttons_scripted import ButtonEdge, press_edges
from hal.clock import VirtualClock


class ScriptedPanel:
    """``on_down`` answers the first button's way down; ``on_check_in`` the second's release (held seconds)."""

    def __init__(
        self,
        buttons: Sequence[StartStopButton],
        presses: Sequence[tuple[float, str]],
        *,
        on_down: Callable[[], None],
        on_check_in: Callable[[float], None] | None = None,
    ) -> None:
        self.main = next((b for b in buttons if b.role == "start_stop"), None) or VirtualButton()
        self.second = next((b for b in buttons if b.role == "less_more"), None) or VirtualButton("less_more")
        self.main.set_handler(on_down)
        self.second.set_handler(None)
        self.second.set_release_handler(on_check_in)
        self._edges: list[ButtonEdge] = press_edges(presses, [self.main, self.second])

    def press_until(self, t: float, clock: VirtualClock, clock_time: Callable[[float], float]) -> ButtonEdge | None:
        """Apply the next edge due at or before run time ``t`` (the clock moved to it); ``None``: none due."""
        if not self._edges or self._edges[0].at_s > t + 1e-9:
            return None
        edge = self._edges.pop(0)
        clock.sleep_until(max(clock.now(), clock_time(edge.at_s)))
        edge.apply()
        return edge

    def close(self) -> None:
        for button in (self.main, self.second):
            button.set_handler(None)
            button.set_release_handler(None)
