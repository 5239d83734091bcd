"""Which device and which session a therapist means.

A device id is taken whole and checked as a topic level, so a typo is one
line naming it.  A session is a whole id, a unique prefix of one, or ``latest``:

session ids are long (``20261130T101500Z-3f9c2a1b``); typing the start of
one, or ``latest``, is what people do.  An ambiguous prefix is refused with
the candidates on one line, never guessed.
"""

from __future__ import annotations

from config.errors import PresspointError
from firmware.protocol.topics import check_level
from firmware.therapist.store import TherapistStore

LATEST = "latest"
#: Candidates named in an "ambiguous" message; the rest are counted.
SHOWN_CANDIDATES = 8


def device_ref(value: str) -> str:
    """``value`` as a device id (``--device``); ``PresspointError`` (one line) if it cannot be one."""
    try:
        return check_level(value, "device id")
    except ValueError as exc:
        raise PresspointError(str(exc)) from None


def resolve_session(store: TherapistStore, ref: str, db: str) -> str:
    """The one session id ``ref`` names in ``store``; ``PresspointError`` (one line) otherwise."""
    hint = "(see: presspoint therapist sessions)"
    if ref == LATEST:
        every = store.session_ids()
        if not every:
            raise PresspointError(f"{db}: no sessions yet, so no latest one")
        return every[-1]
    if not ref:
        raise PresspointError(f"{db}: an empty session id names no session {hint}")
    candidates = store.session_ids(ref)
    if ref in candidates:
        return ref  # a whole id wins even when it is also the start of a longer one
    if not candidates:
        raise PresspointError(f"{db}: no session {ref!r} {hint}")
    if len(candidates) > 1:
        shown = ", ".join(candidates[:SHOWN_CANDIDATES])
        more = len(candidates) - SHOWN_CANDIDATES
        rest = f" and {more} more" if more > 0 else ""
        raise PresspointError(
            f"{db}: session prefix {ref!r} matches {len(candidates)} sessions: {shown}{rest}; type more of the id"
        )
    return candidates[0]
