"""The rest after a hold: light strokes are welcome and counted, pressing harder is not."""

from __future__ import annotations

from firmware.session.hold import HoldTracker
from firmware.session.states import Cue


class RestWatch:
    """Counts the rest's samples in light contact (``contact_threshold`` … ``stroke_max``) for the hold before it.

    Harder than ``stroke_max`` calls for ``too_hard`` once per excursion; the
    rest lasts its time whatever the contact.
    """

    __slots__ = ("_contact", "_hard_cued", "_stroke_max", "hold")

    def __init__(self, contact_threshold_n: float, stroke_max_n: float) -> None:
        self._contact = contact_threshold_n
        self._stroke_max = stroke_max_n
        self._hard_cued = False
        #: The hold whose rest this is (``None`` outside a rest).
        self.hold: HoldTracker | None = None

    def start(self, hold: HoldTracker | None) -> None:
        self.hold = hold
        self._hard_cued = False

    def on_sample(self, force_n: float) -> Cue | None:
        if force_n > self._stroke_max:
            if self._hard_cued:
                return None
            self._hard_cued = True
            return Cue.TOO_HARD
        self._hard_cued = False
        if force_n >= self._contact and self.hold is not None:
            self.hold.rest_stroke_samples += 1
        return None
