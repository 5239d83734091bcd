"""How the therapist tools show forces, times and hold counts to a person (JSON keeps SI and UTC).

Every human-facing view (``sessions``, ``report``, ``ppt``, ``plan show``,
the plot, the text summary) takes these from here, so the same session
never shows two different hold counts or two spellings of one force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from config.units import STANDARD_GRAVITY
from firmware.session.summary import SessionSummary

MISSING = "-"


def force(newtons: float | None) -> str:
    """``29.4 N (3.0 kgf)``: one decimal in both units."""
    return MISSING if newtons is None else f"{newtons:.1f} N ({newtons / STANDARD_GRAVITY:.1f} kgf)"


def local_time(value: str | datetime | None, *, seconds: bool = True) -> str:
    """An ISO 8601 time (UTC on the wire) in the computer's local zone, with the zone's name."""
    if value is None or value == "":
        return MISSING
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return str(value)  # not a time we can read: show it as it came
    if moment.tzinfo is None:
        return moment.isoformat(sep=" ", timespec="seconds" if seconds else "minutes")
    shown = moment.astimezone()
    return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class HoldCount:
    """Holds completed out of holds planned (the plan's repetitions)."""

    completed: int
    planned: int

    def __str__(self) -> str:
        return f"{self.completed}/{self.planned}"


def hold_count(summary: SessionSummary) -> HoldCount:
    """The one definition: holds whose outcome is ``completed`` / the repetitions the plan asked for.

    A session aborted in its second ramp has held once out of three: ``1/3``,
    not ``1/2`` (the holds started).
    """
    completed = sum(1 for hold in summary.holds if hold.outcome == "completed")
    return HoldCount(completed, summary.plan.repetitions)


def pain_text(before: int | None, after: int | None) -> str:
    """``pain 6 -> 3 (of 10)``; an unrated side is ``?``; ``pain not rated`` when neither is."""
    if before is None and after is None:
        return "pain not rated"
    return f"pain {'?' if before is None else before} -> {'?' if after is None else after} (of 10)"


def pain_pair(before: int | None, after: int | None) -> str:
    """``6->3`` for a table column; empty when neither is rated."""
    if before is None and after is None:
        return ""
    return f"{'?' if before is None else before}->{'?' if after is None else after}"
