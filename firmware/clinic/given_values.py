"""What a person's history shows for a rating or a follow-up: the device's value, or the one sent from the clinic.

The device never re-sends a session's summary after applying an answer sent
from the clinic, so the stored summary keeps the device's value; the answer's
own record (``clinic_answers``) says what was sent and what became of it.
The rule is the person page's: an answer sent or acknowledged is the value
shown, with its state; a refused one leaves the device's value in place and
is shown beside it with the reason.  The page, the CSV and the PDF follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.clinic.clinic_answers import REFUSED, SentAnswer
from firmware.clinic.person_queries import SpotVisit

#: The values of a session that can be sent from the clinic, in the order they are shown.
GIVEN_KINDS = ("pain_before", "pain_after", "follow_up")

Sent = dict[str, dict[str, SentAnswer]]  # clinic_answers.latest: per session, per kind


@dataclass(frozen=True)
class Given:
    """One value of one session as shown: the value, and the clinic's answer behind or beside it (if any)."""

    value: int | str | None
    sent: SentAnswer | None

    def note(self, kind: str) -> str | None:
        """``pain_after 2 (sent)``, ``follow_up better refused: <reason>``; None without a clinic answer."""
        s = self.sent
        if s is None:
            return None
        return f"{kind} {s.value} refused: {s.reason}" if s.state == REFUSED else f"{kind} {s.value} ({s.state})"


def given(visit: SpotVisit, sent: Sent, kind: str) -> Given:
    answer = sent.get(visit.session_id, {}).get(kind)
    device_value: int | str | None = getattr(visit, kind)
    if answer is not None and answer.state != REFUSED:
        return Given(answer.value, answer)
    return Given(device_value, answer)


def given_all(visit: SpotVisit, sent: Sent) -> dict[str, Given]:
    return {kind: given(visit, sent, kind) for kind in GIVEN_KINDS}
