"""The person's two buttons in a virtual-time run, pressed by a trace's ``button`` column.

Sessions (``firmware.realtime.virtual``) and pain-threshold measurements
(``firmware.realtime.ppt_runner``) both take their presses as edges on these
buttons (``hal.buttons_scripted.press_edges``), applied with the clock moved
to each edge, so they go through the button code the device runs: the
first button acts on the way down, the second (role ``less_more``) on its
release, by how long it was held.  The rig's own buttons are used (mock
pins with ``--pins``), else simulated ones.

``play_in_order`` moves the clock through the motor's level changes and the
button edges due before the next sample in time order: a cue that changes
the motor between two samples never carries the clock past a press that
came before it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from firmware.cues.timeline import MotorTimeline
from hal.buttons import StartStopButton, VirtualButton
from hal.buttons_scripted import ButtonEdge, press_edges
from hal.clock import VirtualClock
from hal.haptics import Haptics


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

    def next_edge_s(self) -> float | None:
        """Run time of the next edge still to apply; ``None`` when none is left."""
        return self._edges[0].at_s if self._edges else None

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


def play_in_order(
    clock: VirtualClock,
    timeline: MotorTimeline,
    haptics: Haptics,
    *,
    motor_until: float,
    panel: ScriptedPanel | None = None,
    edges_until_s: float = -math.inf,
    clock_time: Callable[[float], float] = float,
    halt: Callable[[], bool] = lambda: False,
) -> None:
    """Apply the motor's changes due by ``motor_until`` and the edges due by run time ``edges_until_s``, in time order.

    The clock moves to each (a change and an edge at the same moment: the
    change first).  Returns early once ``halt()`` is true after an edge (a
    stop press), leaving later changes and edges for the caller.
    """
    while True:
        edge_s = panel.next_edge_s() if panel is not None else None
        edge_at = clock_time(edge_s) if edge_s is not None and edge_s <= edges_until_s + 1e-9 else math.inf
        change_at = timeline.next_change_at()
        if change_at is not None and change_at <= min(motor_until, edge_at):
            for at, level in timeline.due(change_at):
                clock.sleep_until(at)
                haptics.set_level(level)
            continue
        if edge_at == math.inf or panel is None:
            return
        panel.press_until(edges_until_s, clock, clock_time)
        if halt():
            return
