"""What the buttons mean: press = start or stop, a 2 s hold while idle = the gesture.

While a pain rating or the next-day question is under way (between
sessions, ``firmware.device.rating``) presses and holds belong to it; never
during a session.  A press while idle starts: the gate decides, then the
rating before the session is asked (``AttemptRunner``), so a refused start
asks nothing.

A press during a session stops it on the way down (never waiting for the
release); during a pain-threshold trial it marks first discomfort instead.
The release of that press starts nothing.  A second button with the role
``less_more`` gives the check-ins of a session on its release: short is
``less``, held ``hal.buttons.LONG_PRESS_S`` or longer is ``more``; it never
stops, so stop stays one press of the first button.  With one button
there are no check-ins: any gesture of it starts on the way down, which in a
session is already the stop, and telling a double press or a hold apart
would make the stop wait.  Called on the event loop only (gpiozero's thread
hands over with ``call_soon_threadsafe``, see ``connect_buttons``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from firmware.device.rating import DeviceRatings
from firmware.realtime.ppt_runner import TrialButton
from firmware.realtime.stop import StopRequest
from firmware.session.states import Gesture
from hal.buttons import StartStopButton, check_in_of

#: Holding the button this long while idle is the gesture (lower the tolerance).
HOLD_GESTURE_S = 2.0


class ButtonGestures:
    """Turns button downs and ups into start requests, stops, trial presses and the gesture."""

    def __init__(self, start: asyncio.Event, hold: Callable[[], bool]) -> None:
        """``hold()`` answers a long hold while idle; ``False``: no gesture here, start as for a press."""
        self._start = start
        self._hold = hold
        #: The stop request of the session or trial under way, if any.
        self.running: StopRequest | None = None
        #: The trial's button while a pain-threshold trial runs.
        self.trial_button: TrialButton | None = None
        #: Where the check-ins of the session under way go (``SessionEngine.gesture``), if one runs.
        self.check_in: Callable[[Gesture], None] | None = None
        self._down_while_running = False
        #: Pain ratings between sessions (``None``: not on this device).
        self.ratings: DeviceRatings | None = None

    def check_in_up(self, held_s: float) -> None:
        """The ``less_more`` button came up: a check-in for the session under way, if any."""
        if self.check_in is not None and self.trial_button is None:
            self.check_in(Gesture(check_in_of(held_s)))

    def down(self) -> None:
        """The button went down: stop a running session at once, or mark the trial's threshold."""
        self._down_while_running = self.running is not None
        if self.trial_button is not None:
            self.trial_button.press()
        elif self.running is not None:
            self.running.request("button")

    def up(self, held_s: float) -> None:
        """The button came up: while idle a short press starts, a long hold is the gesture."""
        if self._down_while_running or self.running is not None:
            self._down_while_running = False
            return
        if self._rating_up(held_s):
            return
        if held_s >= HOLD_GESTURE_S and self._hold():
            return
        self._start.set()

    def _rating_up(self, held_s: float) -> bool:
        """While idle: a press or hold for the rating under way, or the first press in the follow-up window."""
        ratings = self.ratings
        if ratings is None:
            return False
        if ratings.active:
            if held_s >= HOLD_GESTURE_S:
                ratings.hold(held_s)
            else:
                ratings.press()
            return True
        if held_s >= HOLD_GESTURE_S or self._start.is_set():
            return False
        if ratings.follow_up_open():
            ratings.ask("follow_up")  # the first press in the window answers the next-day check
            return True
        return False


def connect_buttons(
    buttons: Sequence[StartStopButton],
    loop: asyncio.AbstractEventLoop,
    down: Callable[[], None],
    up: Callable[[float], None],
    check_in_up: Callable[[float], None],
) -> Callable[[], None]:
    """Route each button's edges onto ``loop``: start/stop buttons to ``down``/``up``, ``less_more`` to check-ins.

    Handlers may fire on any thread (gpiozero's, the sampling thread of a
    simulation): each hands over with ``call_soon_threadsafe``.  Returns the
    call that disconnects them all.
    """

    def on_down() -> None:
        loop.call_soon_threadsafe(down)

    def on_up(held_s: float) -> None:
        loop.call_soon_threadsafe(up, held_s)

    def on_check_in(held_s: float) -> None:
        loop.call_soon_threadsafe(check_in_up, held_s)

    for button in buttons:
        if button.role == "less_more":
            button.set_release_handler(on_check_in)
            continue
        button.set_handler(on_down)
        button.set_release_handler(on_up)

    def disconnect() -> None:
        for button in buttons:
            button.set_handler(None)
            button.set_release_handler(None)

    return disconnect
