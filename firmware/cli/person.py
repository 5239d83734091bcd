"""``presspoint person show|follow-up|clear|course-reset``: the person's outcomes on this device (parsing).

Changes go to the outcome store in the device's state directory; the running
service publishes them (``person/status``, ``session/<sid>/follow_up``) at
its next session or start.  Every mistake is one line and exit 2.  The work
is done in ``firmware.cli.person_commands``, imported only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from config.errors import PresspointError
from firmware.cli.lazy import lazy_command

_COMMANDS = "firmware.cli.person_commands"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    person = sub.add_parser("person", help="the person's course, flags and follow-ups on this device")
    psub = person.add_subparsers(dest="person_command", required=True)
    show = psub.add_parser("show", help="the course, the flags and the pending follow-up")
    show.add_argument("--json", action="store_true", help="print person/status as one JSON object")
    show.set_defaults(func=lazy_command(_COMMANDS, "cmd_show"))
    follow = psub.add_parser("follow-up", help="record the next-day soreness check of a session")
    follow.add_argument("session", help="a session id, a unique prefix of one, or 'latest'")
    follow.add_argument("answer", help="better | not_better")
    follow.set_defaults(func=lazy_command(_COMMANDS, "cmd_follow_up"))
    clear = psub.add_parser("clear", help="the therapist clears a flag on the device")
    clear.add_argument("flag", help="soreness_not_improving")
    clear.add_argument("--signed", type=Path, metavar="FILE", help="a signed clear message (as sent over MQTT)")
    clear.set_defaults(func=lazy_command(_COMMANDS, "cmd_clear"))
    reset = psub.add_parser("course-reset", help="start a new course (baseline from the next rated session)")
    reset.set_defaults(func=lazy_command(_COMMANDS, "cmd_course_reset"))
    for parser in (show, follow, clear, reset):
        parser.add_argument("--config", type=Path, help="device config TOML (state_dir, profile_file)")


# ---------------------------------------------------------------- simulate --pain-before / --pain-after


def add_rating_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pain-before", metavar="N", help="the person's pain rating before the session, 0-10")
    parser.add_argument("--pain-after", metavar="N", help="the person's pain rating after the session, 0-10")


def pain_rating(text: str | None, option: str) -> int | None:
    """A 0-10 rating from the command line; ``PresspointError`` in one line otherwise."""
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > 10:
        raise PresspointError(f"{option} {text!r}: must be a whole number from 0 to 10")
    return int(text)
