"""A force source that also makes the simulated person's button presses, on the sampling thread.

The real-time paths (``simulate --realtime``, the daemon of ``run
--simulate``) have no driver loop between samples to press buttons in, as
the virtual-time driver does: the presses are made while the sensor reads,
each edge at the first reading at or after its time and before that
reading reaches the session (``hal.buttons_scripted``).
"""

from __future__ import annotations

from hal.buttons_scripted import ScriptedButtons
from simulator.loadcell import ForceSource


class PressingSource:
    """``source``, with the person's presses made at the first reading at or after their time."""

    def __init__(self, source: ForceSource, presses: ScriptedButtons) -> None:
        self.source = source
        self.presses = presses

    def force_at(self, t: float) -> float | None:
        self.presses.due(t)
        return self.source.force_at(t)
