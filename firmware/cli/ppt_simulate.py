"""``presspoint simulate --mode ppt``: a whole standard pain-threshold measurement in virtual time.

Every trial, rest and spot runs against the simulator; a trace's ``mark``
presses are the person's "first discomfort", through the rig's buttons as on
the device (so a ``stop`` press marks too, as ``run --mode ppt`` does).  Without a trace or scenario
the simulated person follows the protocol in force (the profile's ``[ppt]``).
The change is against the history in the state directory, which a
simulation reads but never adds to.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Final

from config.device import DeviceConfig
from config.errors import PresspointError
from config.plan import TherapyPlan
from config.profile import PptProtocol
from firmware.algometry.measurement import MeasuredSpot, MeasurementOutcome, MeasurementResult, StandardMeasurement
from firmware.algometry.settings import AlgometrySettings
from firmware.cli.session_options import rig_options
from firmware.device.options import RigOptions
from firmware.device.sim_setup import ForceScript, build_rig
from firmware.protocol.ppt import PptSpotMeasurement, ppt_payload
from firmware.realtime.ppt_runner import run_virtual_measurement
from firmware.storage.ppt_history import PptHistory, measured_spots
from hal.clock import VirtualClock
from simulator.loadcell import ForceSource
from simulator.profiles import ProfileSource
from simulator.scenarios_ppt import ppt_keyframes
from simulator.trace import ForceTrace

#: ``simulate --mode ppt``'s exit code by outcome (completed and stopped are 0).
PPT_EXIT: Final = {MeasurementOutcome.ABORTED: 4, MeasurementOutcome.TIMED_OUT: 5}


class PptScript(ForceScript):
    """The default simulated person of a measurement: ramps and marks as ``protocol`` says."""

    def __init__(self, device: DeviceConfig, protocol: PptProtocol, options: RigOptions) -> None:
        super().__init__(device, replace(options, trace=None, scenario="ppt"))
        self._protocol = protocol
        self._probe_area_cm2 = device.probe_area_cm2

    def source(self, plan: TherapyPlan) -> ForceSource:
        frames, presses = ppt_keyframes(plan, self._protocol, self._probe_area_cm2)
        return ProfileSource(
            ForceTrace(frames),
            tuple(presses),
            noise_n=self._noise_n,
            seed=self._seed,
            contact_n=plan.contact_threshold,
        )


def check_ppt_options(args: argparse.Namespace) -> None:
    if args.realtime:
        raise PresspointError("--realtime: not with --mode ppt (a measurement runs in virtual time)")
    if args.broker:
        raise PresspointError("--broker: not with --mode ppt (run --mode ppt publishes measurements)")


def simulate_ppt(
    args: argparse.Namespace, device: DeviceConfig, plan: TherapyPlan, protocol: PptProtocol, person: str | None
) -> int:
    """Run the measurement, print each spot's ``ppt/2`` (one JSON object a line with ``--json``)."""
    check_ppt_options(args)
    history = PptHistory(device.storage.state_dir)
    history.load()  # an unreadable history is refused before anything runs
    clock = VirtualClock()
    options = rig_options(args)
    script = None
    if options.trace is None and options.scenario is None:
        script = PptScript(device, protocol, options)
    rig = build_rig(plan, device, clock, options, script=script)
    measurement = StandardMeasurement(
        MeasuredSpot.of_plan(plan),
        protocol=protocol,
        probe_area_cm2=device.probe_area_cm2,
        settings=AlgometrySettings(),
        device_max_n=device.device_max,
        sample_rate_hz=rig.sampler.sensor.sample_rate_hz,
    )
    try:
        result, _ = run_virtual_measurement(
            measurement,
            sampler=rig.sampler,
            haptics=rig.haptics,
            clock=clock,
            presses=rig.presses,
            buttons=rig.buttons,
        )
    finally:
        rig.close()
    spots = measured_spots(
        result, history=history, person=person, protocol=protocol, device_id=device.device_id, keep=False
    )
    for m in spots:
        print(ppt_payload(m).decode("utf-8") if args.json else format_spot(m))
    if result.outcome is not MeasurementOutcome.COMPLETED:
        print(f"presspoint: measurement {describe_end(result)}", file=sys.stderr)
    return PPT_EXIT.get(result.outcome, 0)


def describe_end(result: MeasurementResult) -> str:
    line = f"{result.outcome} after {result.duration_s:.1f} s, {len(result.spots)} spot(s) measured in full"
    if result.abort is not None:
        line += f"; {result.abort.reason} at {result.abort.t:.3f} s ({result.abort.detail})"
    return line


def format_spot(m: PptSpotMeasurement) -> str:
    """One spot for people: each trial, the mean, the spread and the change."""
    lines = [f"pressure pain threshold at {m.spot!r}:"]
    for n, trial in enumerate(m.trials, start=1):
        rate = "rate unknown" if trial.rate_kpa_s is None else f"{trial.rate_kpa_s:.0f} kPa/s"
        used = "" if n in m.used_trials else "  (not used)"
        off = ", off rate" if trial.off_rate else ""
        lines.append(f"  trial {n}: {trial.threshold_n:.1f} N = {trial.threshold_kpa:.0f} kPa, {rate}{off}{used}")
    cv = "" if m.cv is None else f", cv {m.cv:.1%}"
    lines.append(f"  mean {m.mean_n:.1f} N = {m.mean_kpa:.0f} kPa{cv}")
    if m.change_kpa is not None:
        real = "a real change" if m.real_change else "within the minimum detectable change"
        lines.append(f"  change {m.change_kpa:+.0f} kPa since the last measurement here ({real})")
    if m.suggested is not None:
        s = m.suggested
        lines.append(
            f"  suggested: target {s.target_n:.1f} N, tolerance {s.tolerance_n:.1f} N, "
            f"therapist max {s.therapist_max_n:.1f} N"
        )
    return "\n".join(lines)
