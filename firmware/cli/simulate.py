"""``presspoint simulate``: a whole session against the simulator, in virtual or real time.

Imported only when ``simulate`` runs (``firmware.cli.main`` registers its
options), so other commands do not load the session runtime and simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from config.device import DeviceConfig
from config.errors import PresspointError
from config.plan import TherapyPlan
from config.profile import Profile
from firmware.cli.main import EXIT_INTERRUPTED, EXIT_OK, load_inputs
from firmware.cli.person_commands import SimulatedOutcomes, simulated_outcomes
from firmware.cli.session_options import rig_options
from firmware.cli.text_report import LiveDisplay, format_summary
from firmware.device.sim_setup import SimulatedRig, build_rig
from firmware.realtime.sinks import MemorySink, SessionSink, SinkFanout
from firmware.realtime.virtual import run_virtual_session
from firmware.session.summary import SessionSummary
from hal.clock import Clock, MonotonicClock, VirtualClock
from simulator.profiles import scenario_plan

if TYPE_CHECKING:
    from firmware.mqtt.service import MqttService

#: ``simulate``: the gate refused the session (an uncleared profile, say); nothing ran.
EXIT_REFUSED = 3
#: ``simulate``: the session aborted (over tolerance, over the device's range, sensor fault).
EXIT_ABORTED = 4
#: ``simulate``: the session timed out (no contact, band never reached, never let go).
EXIT_TIMED_OUT = 5
#: ``simulate``'s exit code by outcome; completed and stopped (by the person) are 0.
OUTCOME_EXIT = {"aborted": EXIT_ABORTED, "timed_out": EXIT_TIMED_OUT}


def _print_summary(summary: SessionSummary, events: list[dict[str, object]], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(summary.to_json() + "\n")
    else:
        print(format_summary(summary, events))


@dataclass
class _SimulatedRun:
    """What both ways of ``simulate`` set up: the rig, the sinks, the outcomes, the publishing."""

    rig: SimulatedRig
    memory: MemorySink
    sinks: list[SessionSink]
    outcomes: SimulatedOutcomes
    publishing: _Publishing | None

    def close(self) -> None:
        self.rig.close()

    def finish(self, summary: SessionSummary, as_json: bool) -> None:
        _print_summary(self.outcomes.stored(summary), self.memory.events, as_json)
        if self.publishing is not None:
            self.publishing.flush_and_report()


def _simulated_run(
    args: argparse.Namespace,
    device: DeviceConfig,
    plan: TherapyPlan,
    clock: Clock,
    outcomes: SimulatedOutcomes,
    *,
    press_while_sampling: bool = False,
) -> _SimulatedRun:
    rig = build_rig(plan, device, clock, rig_options(args), press_while_sampling=press_while_sampling)
    memory = MemorySink()
    publishing = _publishing(args, device)
    if publishing is not None:
        outcomes.publish_through(publishing.service)
    published = SinkFanout([] if publishing is None else [publishing.sink])
    return _SimulatedRun(rig, memory, [memory, outcomes.sink(published)], outcomes, publishing)


def outcome_exit_code(summary: SessionSummary) -> int:
    """``simulate``'s exit code for a session that ran (see ``OUTCOME_EXIT``)."""
    return OUTCOME_EXIT.get(summary.outcome.value, EXIT_OK)


def _admitted_plan(
    args: argparse.Namespace, device: DeviceConfig, plan: TherapyPlan, profile: Profile | None
) -> TherapyPlan | str:
    """The device's own gate, as ``run`` applies it: the profile's plan and limits, or why not."""
    from firmware.plans.personal_tolerance import PersonalToleranceStore
    from firmware.service.hooks import local_plan, start_gate

    local = local_plan(device, plan, profile, cli_plan=args.plan)
    tolerances = PersonalToleranceStore(device.storage.state_dir)
    return start_gate(local.plan, profile=profile, tolerances=tolerances, device_max_n=device.device_max)


def cmd_simulate(args: argparse.Namespace) -> int:
    device, plan = load_inputs(args)
    plan = scenario_plan(args.scenario, plan)
    outcomes = simulated_outcomes(args, device)
    if outcomes.refusal is not None:
        print(f"presspoint: {outcomes.refusal}", file=sys.stderr)
        return EXIT_REFUSED
    profile = outcomes.profile
    admitted = _admitted_plan(args, device, plan, profile)
    if isinstance(admitted, str):
        print(f"presspoint: session refused: {admitted}", file=sys.stderr)
        return EXIT_REFUSED
    plan = admitted
    if args.mode == "ppt":
        return _simulate_ppt(args, device, plan, profile)
    if args.realtime:
        return _run_realtime(args, device, plan, outcomes, json_output=args.json)
    clock = VirtualClock()
    run = _simulated_run(args, device, plan, clock, outcomes)
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
            person=profile.name if profile is not None else None,
        )
    finally:
        run.close()
    run.finish(summary, args.json)
    return outcome_exit_code(summary)


def _simulate_ppt(args: argparse.Namespace, device: DeviceConfig, plan: TherapyPlan, profile: Profile | None) -> int:
    from config.profile import PptProtocol
    from firmware.cli.ppt_simulate import simulate_ppt

    protocol = profile.ppt if profile is not None else PptProtocol()
    return simulate_ppt(args, device, plan, protocol, profile.name if profile is not None else None)


def _run_realtime(
    args: argparse.Namespace,
    device: DeviceConfig,
    plan: TherapyPlan,
    outcomes: SimulatedOutcomes,
    *,
    json_output: bool,
) -> int:
    """``simulate --realtime``: one session on the wall clock with a live view."""
    import signal

    from firmware.device.gestures import ButtonGestures, connect_buttons
    from firmware.device.signals import StopSignals
    from firmware.realtime.runtime import run_realtime_session
    from firmware.realtime.stop import StopRequest

    run = _simulated_run(args, device, plan, MonotonicClock(), outcomes, press_while_sampling=True)
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
            with StopSignals(stop.request, loop=loop, names={signal.SIGINT: "interrupt"}):
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
    run.finish(summary, json_output)
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

    @property
    def service(self) -> MqttService: ...

    def flush_and_report(self) -> None: ...
