"""The ``presspoint`` command line.

Every error a user can fix (bad file, bad plan, bad trace, unknown scenario)
is printed as one line on stderr with exit code 2 - never a traceback.
"""

from __future__ import annotations

import firmware.device.deferred_imports  # noqa: F401  (first: modules run uses late or never, at first use)

# isort: split
import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from config.device import DeviceConfig
from config.errors import PresspointError
from config.loader import check_file, load_device_config, load_plan
from config.plan import TherapyPlan
from firmware.cli.checks import check_output_folder
from firmware.cli.lazy import lazy_command
from firmware.cli.person import add_rating_options
from firmware.cli.run import add_run_command, device_options
from firmware.cli.session_options import add_session_options
from firmware.device.logging_setup import setup_logging
from simulator.profiles import SCENARIOS

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: The names of ``firmware.protocol.schemas.SCHEMAS`` (a test keeps them equal), so that
#: parsing ``config schema NAME`` does not build every payload model.
SCHEMA_NAMES = (
    "device",
    "mqtt-event",
    "mqtt-follow-up",
    "mqtt-ha_sensor_config",
    "mqtt-person-answer",
    "mqtt-person-clear",
    "mqtt-person-status",
    "mqtt-plan-error",
    "mqtt-plan-set",
    "mqtt-plan-state",
    "mqtt-ppt",
    "mqtt-ppt-2",
    "mqtt-samples",
    "mqtt-status",
    "plan",
    "profile",
    "summary",
)
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def build_parser(extra: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="presspoint", description="Smart pressure massage tool firmware.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    simulate = sub.add_parser("simulate", help="run a whole session against the simulator")
    add_session_options(simulate)
    simulate.add_argument("--json", action="store_true", help="print the session summary as one JSON object")
    simulate.add_argument("--realtime", action="store_true", help="run in real time with a live view")
    simulate.add_argument(
        "--mode",
        choices=["session", "ppt"],
        default="session",
        help="a guided session, or a standard pressure pain threshold measurement (a trace's 'mark' presses)",
    )
    simulate.add_argument(
        "--flush-timeout", type=float, metavar="S", help="seconds to wait for the outbox after the session (default 10)"
    )
    add_rating_options(simulate)
    simulate.set_defaults(func=lazy_command("firmware.cli.simulate", "cmd_simulate"))

    add_run_command(sub, add_session_options, cmd_run)

    config = sub.add_parser("config", help="check config files, export JSON Schemas")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a plan or device config; exit 0 or 2")
    check.add_argument("file", type=Path)
    check.add_argument("--config", type=Path, help="device config whose device_max a plan must respect")
    check.set_defaults(func=cmd_config_check)
    schema = config_sub.add_parser("schema", help="print or write the JSON Schemas")
    schema.add_argument("name", nargs="?", choices=SCHEMA_NAMES, help="one schema (default: all)")
    schema.add_argument("--out", type=Path, help="write <name>.schema.json files into this folder")
    schema.set_defaults(func=cmd_config_schema)

    scenarios = sub.add_parser("scenarios", help="list the built-in pressing scenarios")
    scenarios.set_defaults(func=cmd_scenarios)

    for register in extra:
        register(sub)
    return parser


# ---------------------------------------------------------------- commands


def load_inputs(args: argparse.Namespace) -> tuple[DeviceConfig, TherapyPlan]:
    device = load_device_config(args.config)
    if args.backend is not None:
        device = device.with_backend(args.backend)
    plan_path = args.plan if args.plan is not None else device.plan_file
    plan = load_plan(plan_path, device.device_max)
    return device, plan


def cmd_run(args: argparse.Namespace) -> int:
    from firmware.service.app import run_device

    device, plan = load_inputs(args)
    options = device_options(args, simulated_backend=device.hardware.backend == "simulated")
    if options.simulation is not None:
        from firmware.device.sim_setup import check_simulation

        check_simulation(device, plan, options.simulation)  # a bad trace: one line here, not in the child
    return run_device(device, plan, options)


def cmd_config_check(args: argparse.Namespace) -> int:
    device = load_device_config(args.config)
    kind = check_file(args.file, device.device_max)
    if kind == "device config":
        from firmware.storage.database import check_state_dir

        check_state_dir(load_device_config(args.file).storage.state_dir, what=f"{args.file}: storage.state_dir")
    print(f"{args.file}: valid {kind}")
    return EXIT_OK


def cmd_config_schema(args: argparse.Namespace) -> int:
    from firmware.protocol import schemas

    names = [args.name] if args.name else sorted(schemas.SCHEMAS)
    if args.out is not None:
        check_output_folder(args.out, "--out")
        for path in schemas.write_schemas(args.out, names):
            print(path)
        return EXIT_OK
    documents = {name: schemas.json_schema(name) for name in names}
    print(json.dumps(documents[names[0]] if len(names) == 1 else documents, indent=2))
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    for scenario in SCENARIOS.values():
        print(f"{scenario.name:<15} {scenario.expected_outcome:<10} {scenario.description}")
    return EXIT_OK


# ---------------------------------------------------------------- entry point


def _registrars() -> list[Registrar]:
    """Sub-commands contributed by other modules (hardware, therapist tools)."""
    found: list[Registrar] = []
    for module_name in (
        "firmware.cli.hardware",
        "firmware.cli.therapist",
        "firmware.cli.person",
        "firmware.cli.clinic",
    ):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ImportError as err:
            if err.name != module_name:
                raise
            continue
        found.append(module.register)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_registrars())
    args = parser.parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.WARNING, crash_tracebacks=False)
    try:
        result: int = args.func(args)
        return result
    except PresspointError as err:
        print(f"presspoint: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("presspoint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
