"""Questions asked with the button between sessions: pain ratings and the next-day follow-up.

Only while no session runs (``firmware.outcomes.rating_entry`` has the
gesture): with the profile's ``rate_pain``, every start the gate admits -
a button press or an auto-start alike - asks for the rating before the
session (``before``, ``AttemptRunner``), and the session starts once it is
entered or skipped; a refused start asks nothing.  After each session the
device asks again (``after``).  During a session the button stays the stop
button and nothing else, so a stop is never delayed.  Each answer goes to the service
(``DaemonHooks.pain_rated``), which puts it in the summary and the course.

The follow-up: the service says which session is next and when its window
opens and closes (``follow_up_due``, in this loop's time).  The first short
press while idle inside the window plays ``follow_up`` instead of anything
else; one press is ``better``, two or more ``not_better``, the counted-back
confirmation as for a rating; a 5 s hold or no answer is ``skipped``
(``DaemonHooks.follow_up_answered``).  That press starts no session.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final, Literal

from firmware.device.contracts import DaemonHooks
from firmware.outcomes.rating_entry import CountBack, EntryOutput, RatingEntered, RatingEntry, RatingSkipped
from firmware.realtime.motor import play_cue
from firmware.realtime.stop import StopRequest
from firmware.session.states import Cue
from hal.haptics import Haptics

log = logging.getLogger(__name__)

Moment = Literal["before", "after", "follow_up"]

#: A hold of at least this long (on release) skips the rating; from 2 s it is the entry's hold (0, or again).
SKIP_HOLD_S: Final = 5.0
#: Longest one cue of the rating may play.
CUE_LIMIT_S: Final = 5.0
#: Pause after each count-back pulse (a pulse and its pause: the entry's ``pulse_s``).
COUNT_GAP_S: Final = 0.25


class DeviceRatings:
    """The rating under way, if any, between sessions."""

    def __init__(
        self,
        *,
        enabled: bool,
        haptics: Haptics,
        hooks: DaemonHooks,
        shutdown: StopRequest,
        now: Callable[[], float],
    ) -> None:
        self.enabled = enabled
        self._haptics = haptics
        self._hooks = hooks
        self._shutdown = shutdown
        self._now = now
        self.entry: RatingEntry | None = None
        self.moment: Moment | None = None
        #: The next follow-up: (session id, window opens, window closes) in loop time; ``None``: none to come.
        self.follow_up: tuple[str, float, float] | None = None
        self._playing: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.entry is not None

    def ask(self, moment: Moment) -> None:
        """Play ``rate_pain`` (``follow_up`` for the follow-up) and take the presses that follow as the answer."""
        if moment == "follow_up":
            assert self.follow_up is not None
            log.info("asking for the follow-up of session %s (1 press: better, 2: not better)", self.follow_up[0])
        else:
            log.info("asking for a pain rating (%s the session)", moment)
        self.entry, self.moment = RatingEntry(self._now()), moment
        self._play([Cue.FOLLOW_UP if moment == "follow_up" else Cue.RATE_PAIN])

    def follow_up_due(self, session_id: str | None, opens_in_s: float, closes_in_s: float) -> None:
        """The service's word on the next follow-up (``None``: none to ask about)."""
        now = self._now()
        self.follow_up = None if session_id is None else (session_id, now + opens_in_s, now + closes_in_s)

    def follow_up_open(self) -> bool:
        """Is the next follow-up's window open now?"""
        return self.follow_up is not None and self.follow_up[1] <= self._now() <= self.follow_up[2]

    def press(self) -> None:
        """A short press (on release) while a rating is under way."""
        if self.entry is not None:
            self._apply(self.entry.press(self._now()))

    def hold(self, held_s: float) -> None:
        """A hold (on release): from ``SKIP_HOLD_S`` the skip gesture, else the entry's own hold."""
        if self.entry is None:
            return
        now = self._now()
        self._apply(self.entry.skip(now) if held_s >= SKIP_HOLD_S else self.entry.hold(now))

    def tick(self) -> None:
        """Time passes (the idle listener calls this at least every quarter second)."""
        if self.entry is not None:
            self._apply(self.entry.cancel(self._now()) if self._shutdown.requested else self.entry.tick(self._now()))

    def _apply(self, outputs: list[EntryOutput]) -> None:
        for output in outputs:
            if isinstance(output, CountBack):
                log.info("pain rating %d entered: counting it back", output.rating)
                self._play([Cue.COUNT_ONE] * output.rating or [Cue.COUNT_ZERO])
            elif isinstance(output, RatingEntered | RatingSkipped):
                self._end(output.rating if isinstance(output, RatingEntered) else None, output)

    def _end(self, rating: int | None, output: RatingEntered | RatingSkipped) -> None:
        moment = self.moment
        assert moment is not None
        self.entry = self.moment = None
        if moment == "follow_up":
            self._answered(rating)
            return
        if rating is None:
            assert isinstance(output, RatingSkipped)
            log.info("pain rating %s the session skipped (%s)", moment, output.why)
        else:
            log.info("pain rating %s the session: %d", moment, rating)
        self._hooks.pain_rated(moment, rating)

    def _answered(self, presses: int | None) -> None:
        assert self.follow_up is not None
        session_id, self.follow_up = self.follow_up[0], None  # asked once; the service says what is next
        answer = "skipped" if not presses else "better" if presses == 1 else "not_better"
        log.info("follow-up of session %s: %s", session_id, answer)
        self._hooks.follow_up_answered(session_id, answer)

    def _play(self, cues: list[Cue]) -> None:
        if self._playing is not None:
            self._playing.cancel()
        self._playing = asyncio.ensure_future(self._play_all(cues))

    async def _play_all(self, cues: list[Cue]) -> None:
        for cue in cues:
            await play_cue(self._haptics, cue, CUE_LIMIT_S, self._shutdown)
            if cue is Cue.COUNT_ONE:
                await asyncio.sleep(COUNT_GAP_S)
