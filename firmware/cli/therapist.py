"""``presspoint therapist ...``: the therapist's tools (argument parsing only).

``firmware.cli.main`` calls ``register(subparsers)`` if this module exists; the
work is done in ``firmware.therapist.commands``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.cli.checks import check_number
from firmware.cli.lazy import lazy_command
from firmware.therapist.clear import register as register_person_clear

#: Defaults shown in --help (kept here so parsing imports nothing heavy).
DEFAULT_CLIENT_ID = "presspoint-collector"
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600


#: The longest a command waits for an answer, or runs for when given a duration.
MAX_WAIT_S = 7 * 24 * 3600.0


def _check_options(args: argparse.Namespace) -> None:
    """Numeric options, refused in one line before anything connects, is signed or is published."""
    for option in ("timeout", "duration"):
        check_number(getattr(args, option, None), f"--{option}", low=0, low_open=True, high=MAX_WAIT_S, unit=" s")
    check_number(getattr(args, "session_expiry", None), "--session-expiry", low=0, high=2**32 - 1, unit=" s")
    if getattr(args, "version", None) is not None:
        from firmware.protocol.plan_envelope import SignedPlan

        highest = SignedPlan.model_json_schema()["properties"]["version"]["maximum"]  # what a device accepts
        check_number(args.version, "--version", low=1, high=highest)


def _command(name: str, module: str = "commands") -> Callable[[argparse.Namespace], int]:
    """Import ``firmware.therapist.<module>`` (aiomqtt, matplotlib) only when a command runs.

    ``commands`` talks to the broker; ``review`` reads a collected database.
    """

    command = lazy_command(f"firmware.therapist.{module}", name)

    def run(args: argparse.Namespace) -> int:
        _check_options(args)
        return command(args)

    return run


def _broker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="mqtt[s]://[user:pass@]host:port (overrides --config)")
    parser.add_argument("--config", type=Path, help="TOML file with an [mqtt] table (a device config works)")


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", required=True, help="the database: an SQLite FILE, or a URL (sqlite:///FILE, postgresql://...)"
    )


def register(sub: argparse._SubParsersAction[Any]) -> None:
    therapist = sub.add_parser("therapist", help="therapist tools: push plans, watch, collect, report")
    tsub = therapist.add_subparsers(dest="therapist_command", required=True)

    plan = tsub.add_parser("plan", help="signed remote plans")
    psub = plan.add_subparsers(dest="plan_command", required=True)
    push = psub.add_parser("push", help="validate, sign and publish a plan; wait for the device's answer")
    push.add_argument("--device", required=True, help="device id")
    push.add_argument("--file", required=True, type=Path, help="plan TOML")
    push.add_argument("--key", required=True, type=Path, help="the device's key file (from keygen)")
    push.add_argument("--version", type=int, help="plan version (default: one above the device's)")
    push.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the answer (default 15)")
    push.add_argument("--device-max", help="the device's safe range for the local check (default 9 kgf)")
    push.add_argument(
        "--force",
        action="store_true",
        help="push even if the device never published its status (not connected yet); otherwise refused",
    )
    _broker_options(push)
    push.set_defaults(func=_command("cmd_plan_push"))
    show = psub.add_parser("show", help="the whole plan in force on a device and its last refusal")
    show.add_argument("--device", required=True)
    _broker_options(show)
    show.set_defaults(func=_command("cmd_plan_show"))
    clear = psub.add_parser("clear", help="remove the retained signed plan of a device id from the broker")
    clear.add_argument("--device", required=True)
    _broker_options(clear)
    clear.set_defaults(func=_command("cmd_plan_clear"))

    watch = tsub.add_parser("watch", help="live view of a device: force, band, phase, countdown, cues, events")
    watch.add_argument("--device", required=True)
    watch.add_argument("--once", action="store_true", help="print the current state and exit")
    watch.add_argument("--duration", type=float, help="stop after this many seconds")
    _broker_options(watch)
    watch.set_defaults(func=_command("cmd_watch"))

    collect = tsub.add_parser(
        "collect", help="store every device's sessions, refusals and outcomes (runs until Ctrl-C)"
    )
    _db_option(collect)
    collect.add_argument(
        "--client-id",
        default=DEFAULT_CLIENT_ID,
        help=f"fixed client id of the persistent session (default {DEFAULT_CLIENT_ID})",
    )
    collect.add_argument(
        "--session-expiry",
        type=int,
        default=DEFAULT_SESSION_EXPIRY_S,
        help="seconds the broker keeps queueing for us while we are down (MQTT v5)",
    )
    collect.add_argument("--duration", type=float, help="stop after this many seconds")
    _broker_options(collect)
    collect.set_defaults(func=_command("cmd_collect"))

    sessions = tsub.add_parser("sessions", help="list the sessions in a collected database")
    _db_option(sessions)
    sessions.add_argument("--device", help="only this device")
    sessions.set_defaults(func=_command("cmd_sessions", "review"))

    person = tsub.add_parser("person", help="a device's person: course, flags, sessions and PPT per spot")
    person.add_argument("--device", required=True)
    _db_option(person)
    person.set_defaults(func=_command("cmd_person", "person_view"))

    report = tsub.add_parser("report", help="plot one session to PNG, SVG or PDF")
    report.add_argument("session_id", help="a session id, a unique prefix of one, or 'latest'")
    _db_option(report)
    report.add_argument("--out", required=True, type=Path, help="FILE.png, FILE.svg or FILE.pdf")
    report.set_defaults(func=_command("cmd_report", "review"))

    ppt = tsub.add_parser("ppt", help="pressure pain thresholds in a collected database, with suggested limits")
    _db_option(ppt)
    ppt.add_argument("--device", help="only this device")
    ppt.add_argument("--plan-out", type=Path, help="write the latest suggestion as a plan TOML file for plan push")
    ppt.add_argument("--base", type=Path, help="with --plan-out: take hold, repetitions, rest... from this plan")
    ppt.set_defaults(func=_command("cmd_ppt", "review"))

    keygen = tsub.add_parser("keygen", help="make a device's plan-signing key and say how to install it")
    keygen.add_argument("--device", required=True)
    keygen.add_argument("--out", type=Path, help="key file to create (default ./<device>.key)")
    keygen.add_argument("--force", action="store_true", help="replace an existing key file")
    keygen.set_defaults(func=_command("cmd_keygen"))
    register_person_clear(tsub, _command, _broker_options)
