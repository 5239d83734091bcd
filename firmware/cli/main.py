"""The ``presspoint`` command line.

Every error a user can fix (bad file, bad plan, bad trace, unknown scenario)
is printed as one line on stderr with exit code 2 - never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from config.device import DEFAULT_HARDWARE_BACKEND, HARDWARE_BACKENDS, DeviceConfig
from config.errors import PresspointError
from config.loader import check_file, load_device_config, load_plan
from config.plan import TherapyPlan
from firmware.cli.checks import check_output_folder
from firmware.cli.person import add_rating_options, simulated_outcomes
from firmware.cli.run import add_run_command, device_options
from firmware.cli.text_report import LiveDisplay, format_summary
from firmware.device.logging_setup import setup_logging
from firmware.device.sim_setup import SimulatedRig, build_rig
from firmware.protocol import schemas
from firmware.realtime.sinks import MemorySink, SessionSink
from firmware.realtime.virtual import run_virtual_session
from firmware.session.summary import SessionSummary
from hal.clock import Clock, MonotonicClock, VirtualClock
from simulator.profiles import SCENARIOS, scenario_plan

EXIT_OK = 0
EXIT_USAGE = 2
#: ``simulate``: the gate refused the session (an uncleared profile, say); nothing ran.
EXIT_REFUSED = 3
#: ``simulate``: the session aborted (over tolerance, over the device's range, sensor fault).
EXIT_ABORTED = 4
#: ``simulate``: the session timed out (no contact, band never reached, never let go).
EXIT_TIMED_OUT = 5
EXIT_INTERRUPTED = 130
#: ``simulate``'s exit code by outcome; completed and stopped (by the person) are 0.
OUTCOME_EXIT = {"aborted": EXIT_ABORTED, "timed_out": EXIT_TIMED_OUT}

Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _add_session_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="device config TOML (defaults built in)")
    parser.add_argument("--plan", type=Path, help="therapy plan TOML (default: config/defaults/plan.toml)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--trace", type=Path, help="CSV force trace with header time_s,force_n")
    source.add_argument("--scenario", choices=sorted(SCENARIOS), help="scripted pressing profile (default: normal)")
    parser.add_argument("--pins", action="store_true", help="go through the real HX711 driver over an emulated chip")
    parser.add_argument(
        "--backend",
        choices=HARDWARE_BACKENDS,
        help="HX711 backend, overriding hardware.backend (with --pins: the emulator's SPI or GPIO front; "
        f"default {DEFAULT_HARDWARE_BACKEND})",
    )
    parser.add_argument("--noise", type=float, default=0.0, metavar="N", help="sensor noise, standard deviation in N")
    parser.add_argument("--seed", type=int, default=1, help="seed for the noise")
    parser.add_argument("--broker", help="publish to mqtt[s]://[user:pass@]host:port")


def build_parser(extra: Sequence[Registrar] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="presspoint", description="Smart pressure massage tool firmware.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)

    simulate = sub.add_parser("simulate", help="run a whole session against the simulator")
    _add_session_options(simulate)
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
    simulate.set_defaults(func=cmd_simulate)

    add_run_command(sub, _add_session_options, cmd_run)

    config = sub.add_parser("config", help="check config files, export JSON Schemas")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a plan or device config; exit 0 or 2")
    check.add_argument("file", type=Path)
    check.add_argument("--config", type=Path, help="device config whose device_max a plan must respect")
    check.set_defaults(func=cmd_config_check)
    schema = config_sub.add_parser("schema", help="print or write the JSON Schemas")
    schema.add_argument("name", nargs="?", choices=sorted(schemas.SCHEMAS), help="one schema (default: all)")
    schema.add_argument("--out", type=Path, help="write <name>.schema.json files into this folder")
    schema.set_defaults(func=cmd_config_schema)

    scenarios = sub.add_parser("scenarios", help="list the built-in pressing scenarios")
    scenarios.set_defaults(func=cmd_scenarios)

    for register in extra:
        register(sub)
    return parser


# ---------------------------------------------------------------- commands


def _load(args: argparse.Namespace) -> tuple[DeviceConfig, TherapyPlan]:
    device = load_device_config(args.config)
    if args.backend is not None:
        device = device.with_backend(args.backend)
    plan_path = args.plan if args.plan is not None else device.plan_file
    plan = load_plan(plan_path, device.device_max)
    return device, plan


def _print_summary(summary: SessionSummary, events: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(summary.to_json() + "\n")
    else:
        print(format_summary(summary, events))


@dataclass
class _SimulatedRun:
    """What both ways of ``simulate`` set up: the rig, the sinks, the publishing."""

    rig: SimulatedRig
    memory: MemorySink
    sinks: list[SessionSink]
    publishing: _Publishing | None

    def close(self) -> None:
        self.rig.close()

    def finish(self, summary: SessionSummary, as_json: bool) -> None:
        _print_summary(summary, self.memory.events, as_json)
        if self.publishing is not None:
            self.publishing.flush_and_report()


def _simulated_run(
    args: argparse.Namespace,
    device: DeviceConfig,
    plan: TherapyPlan,
    clock: Clock,
    *,
    press_while_sampling: bool = False,
) -> _SimulatedRun:
    rig = build_rig(
        plan,
        device,
        clock,
        trace=args.trace,
        scenario=args.scenario,
        pins=args.pins,
        noise_n=args.noise,
        seed=args.seed,
        press_while_sampling=press_while_sampling,
    )
    memory = MemorySink()
    publishing = _publishing(args, device)
    sinks: list[SessionSink] = [memory] if publishing is None else [memory, publishing.sink]
    return _SimulatedRun(rig, memory, sinks, publishing)


def outcome_exit_code(summary: SessionSummary) -> int:
    """``simulate``'s exit code for a session that ran (see ``OUTCOME_EXIT``)."""
    return OUTCOME_EXIT.get(summary.outcome.value, EXIT_OK)


def _person(device: DeviceConfig) -> str | None:
    """The pseudonym of the device's profile, for the summary (``None`` without a profile)."""
    from firmware.service.hooks import load_person

    profile = load_person(device)
    return profile.name if profile is not None else None


def _admitted_plan(args: argparse.Namespace, device: DeviceConfig, plan: TherapyPlan) -> TherapyPlan | str:
    """The device's own gate, as ``run`` applies it: the profile's plan and limits, or why not."""
    from firmware.plans.personal_tolerance import PersonalToleranceStore
    from firmware.service.hooks import load_person, local_plan, start_gate

    profile = load_person(device)
    local = local_plan(device, plan, profile, cli_plan=args.plan)
    tolerances = PersonalToleranceStore(device.storage.state_dir)
    return start_gate(local.plan, profile=profile, tolerances=tolerances, device_max_n=device.device_max)


def cmd_simulate(args: argparse.Namespace) -> int:
    device, plan = _load(args)
    plan = scenario_plan(args.scenario, plan)
    outcomes = simulated_outcomes(args, device)
    if outcomes.refusal is not None:
        print(f"presspoint: {outcomes.refusal}", file=sys.stderr)
        return EXIT_REFUSED
    admitted = _admitted_plan(args, device, plan)
    if isinstance(admitted, str):
        print(f"presspoint: session refused: {admitted}", file=sys.stderr)
        return EXIT_REFUSED
    plan = admitted
    if args.mode == "ppt":
        return _simulate_ppt(args, device, plan)
    if args.realtime:
        return _run_realtime(args, device, plan, json_output=args.json, rated=outcomes.apply)
    clock = VirtualClock()
    run = _simulated_run(args, device, plan, clock)
    try:
        summary = run_virtual_session(
            plan,
            sampler=run.rig.sampler,
            haptics=run.rig.haptics,
            clock=clock,
            device_id=device.device_id,
            device_max_n=device.device_max,
            sinks=run.sinks,
            stop_at_s=run.rig.stop_at_s,
            presses=run.rig.presses,
            buttons=run.rig.buttons,
            person=_person(device),
        )
    finally:
        run.close()
    run.finish(outcomes.apply(summary), args.json)
    return outcome_exit_code(summary)


def _simulate_ppt(args: argparse.Namespace, device: DeviceConfig, plan: TherapyPlan) -> int:
    from config.profile import PptProtocol
    from firmware.cli.ppt_simulate import simulate_ppt
    from firmware.service.hooks import load_person

    profile = load_person(device)
    protocol = profile.ppt if profile is not None else PptProtocol()
    return simulate_ppt(args, device, plan, protocol, profile.name if profile is not None else None)


def cmd_run(args: argparse.Namespace) -> int:
    from firmware.service.app import run_device

    device, plan = _load(args)
    options = device_options(args, simulated_backend=device.hardware.backend == "simulated")
    if options.simulation is not None:
        from firmware.device.sim_setup import check_simulation

        check_simulation(device, plan, options.simulation)  # a bad trace: one line here, not in the child
    return run_device(device, plan, options)


def _run_realtime(
    args: argparse.Namespace,
    device: DeviceConfig,
    plan: TherapyPlan,
    *,
    json_output: bool,
    rated: Callable[[SessionSummary], SessionSummary] = lambda summary: summary,
) -> int:
    """``simulate --realtime``: one session on the wall clock with a live view."""
    import signal

    from firmware.device.gestures import ButtonGestures, connect_buttons
    from firmware.device.signals import install_stop_signals
    from firmware.realtime.runtime import run_realtime_session
    from firmware.realtime.stop import StopRequest

    run = _simulated_run(args, device, plan, MonotonicClock(), press_while_sampling=True)
    run.sinks.append(LiveDisplay(sys.stderr if json_output else sys.stdout))

    async def main() -> SessionSummary:
        stop = StopRequest()
        loop = asyncio.get_running_loop()
        if run.rig.stop_at_s is not None:
            loop.call_later(run.rig.stop_at_s, stop.request, "button")
        gestures = ButtonGestures(asyncio.Event(), lambda: False)  # the device's meaning of each press
        gestures.running = stop
        disconnect = connect_buttons(run.rig.buttons, loop, gestures.down, gestures.up, gestures.check_in_up)
        try:
            with install_stop_signals(stop.request, loop=loop, names={signal.SIGINT: "interrupt"}):
                return await run_realtime_session(
                    plan,
                    sampler=run.rig.sampler,
                    haptics=run.rig.haptics,
                    device_id=device.device_id,
                    device_max_n=device.device_max,
                    sinks=run.sinks,
                    stop=stop,
                    on_engine=lambda engine: setattr(gestures, "check_in", engine.gesture),
                )
        finally:
            disconnect()

    try:
        summary = asyncio.run(main())
    finally:
        run.close()
    run.finish(rated(summary), json_output)
    return EXIT_INTERRUPTED if summary.stop_source == "interrupt" else outcome_exit_code(summary)


def _publishing(args: argparse.Namespace, device: DeviceConfig) -> _Publishing | None:
    """MQTT publishing for a CLI session, when a broker is configured (issue 4)."""
    try:
        from firmware.cli.publish import make_publishing
    except ImportError:
        if args.broker:
            raise PresspointError("MQTT publishing is not available in this build") from None
        return None
    return make_publishing(args, device)


class _Publishing(Protocol):
    """What the MQTT hook hands back: a sink for the session, and a final flush."""

    @property
    def sink(self) -> SessionSink: ...

    def flush_and_report(self) -> None: ...


def cmd_config_check(args: argparse.Namespace) -> int:
    device = load_device_config(args.config)
    kind = check_file(args.file, device.device_max)
    if kind == "device config":
        from firmware.storage.database import check_state_dir

        check_state_dir(load_device_config(args.file).storage.state_dir, what=f"{args.file}: storage.state_dir")
    print(f"{args.file}: valid {kind}")
    return EXIT_OK


def cmd_config_schema(args: argparse.Namespace) -> int:
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
