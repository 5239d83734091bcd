"""``presspoint run``: its options, parsed into the typed ``DeviceOptions`` the device app takes."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from config.errors import PresspointError
from firmware.cli.checks import check_new_file, check_number
from firmware.cli.session_options import rig_options
from firmware.device.options import ADMIT_TIMEOUT_S, DeviceOptions, SimulationOptions
from simulator.fast_time import DEFAULT_LAG_S, MAX_SPEED

#: Bounds of the numeric options: far beyond any real use, short of absurd.
MAX_SESSIONS = 1_000_000
MAX_SECONDS = 24 * 3600.0
#: The simulated person of ``--mode ppt`` without a trace or scenario: a whole standard measurement.
PPT_SCENARIO = "ppt"


def add_run_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_session_options: Callable[[argparse.ArgumentParser], None],
    func: Callable[[argparse.Namespace], int],
) -> None:
    run = sub.add_parser("run", help="run the device runtime (real time)")
    add_session_options(run)
    run.add_argument("--simulate", action="store_true", help="use simulated hardware")
    run.add_argument("--json", action="store_true", help="print each session summary as JSON (one per line)")
    run.add_argument(
        "--sessions", type=int, metavar="N", help="exit after N sessions (0: never; default 1 simulated, 0 on hardware)"
    )
    run.add_argument("--wait-button", action="store_true", help="simulated: wait for a button press to start")
    run.add_argument("--motor-log", type=Path, help="simulated: append every motor level change to this file")
    run.add_argument("--flush-timeout", type=float, metavar="S", help="seconds to wait for the outbox at exit")
    run.add_argument(
        "--mode",
        choices=["session", "ppt"],
        default="session",
        help="guided sessions, or standard pressure pain threshold measurements (trials with rests at each spot; "
        "a press during a trial marks first discomfort; simulated: the 'ppt' scenario unless told otherwise)",
    )
    run.add_argument(
        "--press-at",
        type=float,
        metavar="S",
        help="simulated: the person presses the button S seconds into each session or trial",
    )
    run.add_argument(
        "--press-on-stdin",
        action="store_true",
        help="simulated: each line on standard input (Enter) is a short press of the button",
    )
    run.add_argument(
        "--speed",
        metavar="N",
        help=f"simulated: the hardware's clock runs N times the wall clock (1 to {MAX_SPEED:g}; sessions, "
        "cues and timeouts all in simulated seconds)",
    )
    run.add_argument(
        "--speed-lag",
        type=float,
        metavar="S",
        help=f"with --speed: wall seconds the clock waits for a late simulated sensor before time flows on and "
        f"the wait counts as a stall (default {DEFAULT_LAG_S:g}; a loaded machine's tests use more); a start also "
        f"waits this long for the service's answer if that is over {ADMIT_TIMEOUT_S:g} s",
    )
    run.set_defaults(func=func)


def parse_speed(text: str | None, *, simulated: bool, pins: bool) -> float:
    """``--speed``: a number from 1 to ``MAX_SPEED``, for the simulated load cell only."""
    if text is None:
        return 1.0
    if not simulated:
        raise PresspointError("--speed: only with --simulate (real hardware runs at the wall clock)")
    if pins:
        raise PresspointError("--speed: not with --pins (the emulated HX711's pulse timing is in wall time)")
    try:
        speed = float(text)
    except ValueError:
        speed = math.nan
    if not 1.0 <= speed <= MAX_SPEED:  # nan too
        raise PresspointError(f"--speed: must be a number from 1 to {MAX_SPEED:g}, got {text[:60]!r}")
    return speed


def check_speed_lag(lag_s: float | None, *, speed: float) -> float | None:
    """``--speed-lag``: seconds from 0.01 to 600, with ``--speed`` only."""
    if lag_s is not None and speed == 1.0:
        raise PresspointError("--speed-lag: only with --speed (at 1x time is the wall clock's)")
    check_number(lag_s, "--speed-lag", low=0.01, high=600.0, unit=" s")
    return lag_s


def device_options(args: argparse.Namespace, *, simulated_backend: bool) -> DeviceOptions:
    """The parsed ``run`` arguments as ``DeviceOptions``; a simulated backend in the config means ``--simulate``."""
    check_run_options(args)
    simulation = None
    speed = parse_speed(args.speed, simulated=args.simulate or simulated_backend, pins=args.pins)
    speed_lag_s = check_speed_lag(args.speed_lag, speed=speed)
    if args.press_on_stdin and not (args.simulate or simulated_backend):
        raise PresspointError("--press-on-stdin: only with --simulate (on the device, press its button)")
    if args.simulate or simulated_backend:
        rig = rig_options(args)
        if args.mode == "ppt" and rig.trace is None and rig.scenario is None:
            rig = replace(rig, scenario=PPT_SCENARIO)
        simulation = SimulationOptions(
            rig=rig,
            motor_log=args.motor_log,
            wait_button=args.wait_button,
            press_at_s=args.press_at,
            speed=speed,
            speed_lag_s=speed_lag_s,
            press_on_stdin=args.press_on_stdin,
        )
    return DeviceOptions(
        simulation=simulation,
        verbose=args.verbose,
        broker=args.broker,
        json=args.json,
        sessions=args.sessions,
        mode=args.mode,
        flush_timeout_s=args.flush_timeout,
        plan_file=args.plan,
    )


def check_run_options(args: argparse.Namespace) -> None:
    """Refuse a negative, NaN or absurd number and a motor log nowhere, before the daemon starts."""
    check_number(args.sessions, "--sessions", low=0, high=MAX_SESSIONS)
    check_number(args.press_at, "--press-at", low=0, high=MAX_SECONDS, unit=" s")
    check_number(args.flush_timeout, "--flush-timeout", low=0, high=MAX_SECONDS, unit=" s")
    check_new_file(args.motor_log, "--motor-log")
