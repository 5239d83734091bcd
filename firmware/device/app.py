"""``presspoint run``: build the hardware (real or simulated), the store and MQTT, run the daemon.

The same daemon runs on the Pi (HX711 + gpiozero) and off-device
(``--simulate``: the simulated load cell, or ``--pins``: the real driver over
the emulated chip).  Everything opened here is closed in ``finally``, motor
first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.device import DeviceConfig
from config.errors import PresspointError
from config.plan import TherapyPlan
from config.profile import check_start, load_profile, step_down_tolerance
from firmware.algometry.trial import AlgometryResult
from firmware.cli.text_report import format_summary
from firmware.device.daemon import DaemonOptions, DaemonResult, DeviceDaemon
from firmware.device.logging_setup import register_secret, setup_logging
from firmware.device.sdnotify import Notifier
from firmware.device.signals import install_stop_signals
from firmware.device.sim_setup import build_rig
from firmware.mqtt.service import MqttService
from firmware.plans.personal_tolerance import PersonalToleranceStore, apply_stored
from firmware.plans.service import build_plan_service
from firmware.protocol.payloads import utc_now_iso
from firmware.protocol.ppt import measurement, ppt_payload, ppt_topic
from firmware.realtime.sampler import Sampler
from firmware.realtime.sinks import SessionSink
from firmware.session.states import Cue
from hal.buttons import StartStopButton
from hal.clock import MonotonicClock
from hal.haptics import Haptics
from hal.sensor import Calibration, ForceSensor

log = logging.getLogger("presspoint")

#: Exit code of `run` when every session it was asked for was refused.
EXIT_REFUSED = 3
#: Exit code when the daemon gave up (systemd's Restart=on-failure restarts it).
EXIT_FAILURE = 1

#: Set to "1" (tests only) to let SIGUSR1 stall the control loop and SIGUSR2
#: kill the sampling thread, so the watchdog's reaction can be checked end to end.
FAULT_INJECTION_ENV = "PRESSPOINT_FAULT_INJECTION"


def _install_fault_injection(loop: asyncio.AbstractEventLoop, hardware: DeviceHardware) -> None:
    log.warning(
        "fault injection enabled (%s=1): SIGUSR1 stalls the loop, SIGUSR2 kills the sampler", FAULT_INJECTION_ENV
    )

    def stall_control_loop() -> None:
        log.warning("fault injection: stalling the control loop")
        time.sleep(3600)

    def kill_sampler() -> None:
        log.warning("fault injection: killing the sampling thread")
        hardware.sampler.sensor = _DeadSensor(hardware.sampler.sensor.sample_rate_hz)

    loop.add_signal_handler(signal.SIGUSR1, stall_control_loop)
    loop.add_signal_handler(signal.SIGUSR2, kill_sampler)


class _DeadSensor(ForceSensor):
    """A sensor whose driver blows up: the sampling thread dies on its next read."""

    def __init__(self, sample_rate_hz: float) -> None:
        self.sample_rate_hz = sample_rate_hz

    def read(self, timeout_s: float) -> int | None:
        raise SystemExit("fault injection: sampling thread killed")


class NotCalibratedError(PresspointError):
    def __init__(self) -> None:
        super().__init__("the load cell is not calibrated: run `presspoint calibrate` first")


@dataclass
class DeviceHardware:
    """What the daemon drives, however it is made."""

    sampler: Sampler
    haptics: Haptics
    buttons: list[StartStopButton] = field(default_factory=list)
    arm: Callable[[], None] | None = None
    calibrated: bool = True
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Motor off first, then everything else; every closer runs."""
        closers = [self.haptics.off, *self._closers]
        for close in closers:
            try:
                close()
            except Exception:
                log.exception("error while closing hardware")


def build_simulated_hardware(device: DeviceConfig, plan: TherapyPlan, args: argparse.Namespace) -> DeviceHardware:
    motor_log = getattr(args, "motor_log", None)
    rig = build_rig(
        plan,
        device,
        MonotonicClock(),
        trace=args.trace,
        scenario=args.scenario,
        pins=args.pins,
        noise_n=args.noise,
        seed=args.seed,
        armed=True,
        motor_log=Path(motor_log) if motor_log else None,
    )
    return DeviceHardware(rig.sampler, rig.haptics, rig.buttons, rig.arm, True, [rig.close])


def build_gpio_device_hardware(device: DeviceConfig) -> DeviceHardware:
    from hal.factory import build_gpio_hardware

    clock = MonotonicClock()
    hw = build_gpio_hardware(device.hardware, device.sample_rate_hz, clock)
    cal = device.hardware.calibration
    calibrated = cal.is_calibrated
    calibration = Calibration(cal.offset_counts or 0.0, cal.counts_per_newton or 1.0)
    sampler = Sampler(hw.sensor, calibration, clock, max_jump_n=device.device_max / 2)
    buttons: list[StartStopButton] = [hw.button]
    if hw.stop_button is not None:
        buttons.append(hw.stop_button)
    return DeviceHardware(sampler, hw.motor, buttons, None, calibrated, [hw.close])


def run_device(device: DeviceConfig, plan: TherapyPlan, args: argparse.Namespace) -> int:
    """Run the device daemon until its sessions are done or it is told to stop."""
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    settings = device.mqtt.with_broker_url(args.broker) if args.broker else device.mqtt
    register_secret(settings.password)
    hardware = build_simulated_hardware(device, plan, args) if args.simulate else build_gpio_device_hardware(device)
    service: MqttService | None = None
    try:
        service = MqttService(device, settings, calibrated=hardware.calibrated)
        recovered = service.start()
        for session_id in recovered:
            log.warning("session %s was interrupted (crash or power cut); closed and queued for publishing", session_id)
        result = asyncio.run(_run_daemon(device, plan, args, hardware, service))
    finally:
        hardware.close()
        if service is not None:
            report = service.flush(getattr(args, "flush_timeout", None) or 5.0) if service.publisher else None
            if report is not None and report.left:
                log.warning("%s", report.describe(settings.display_url()))
            service.close()
    for summary in result.summaries:
        if args.json:
            sys.stdout.write(summary.to_json() + "\n")
        else:
            print(format_summary(summary))
    sys.stdout.flush()
    for payload in result.trial_payloads:
        sys.stdout.write(payload.decode("utf-8") + "\n")
    for reason in result.refusals:
        print(f"presspoint: {reason}", file=sys.stderr)
    if result.failure is not None:
        print(f"presspoint: {result.failure}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_REFUSED if result.refusals and not result.summaries else 0


async def _run_daemon(
    device: DeviceConfig,
    plan: TherapyPlan,
    args: argparse.Namespace,
    hardware: DeviceHardware,
    service: MqttService,
) -> DaemonResult:
    loop = asyncio.get_running_loop()
    publisher = service.publisher
    sessions = args.sessions if args.sessions is not None else (1 if args.simulate else 0)
    options = DaemonOptions(
        sessions=sessions or None,
        auto_start=args.simulate and not args.wait_button,
        mode=args.mode,
    )

    profile_file = device.profile_file
    profile = load_profile(profile_file, device.device_max) if profile_file else None
    local_plan = plan
    if profile is not None and args.plan is None and device.plan_file is None:
        local_plan = profile.plan  # the profile's plan, unless a plan file was named
    plans = build_plan_service(
        device_id=device.device_id,
        device_max_n=device.device_max,
        state_dir=device.storage.state_dir,
        local_plan=local_plan,
        topics=service.topics,
        key_file=device.plan_key_file,
    )
    if publisher is not None:
        plans.attach(publisher)

    tolerance_store = PersonalToleranceStore(device.storage.state_dir)

    def gate(plan_in_force: TherapyPlan) -> TherapyPlan | str:
        if not hardware.calibrated:
            return "the load cell is not calibrated: run presspoint calibrate"
        if profile is None:
            return plan_in_force
        person = apply_stored(profile, tolerance_store, plan_in_force, device.device_max)
        decision = check_start(person, plan_in_force, device.device_max)
        if decision.plan is None:
            return decision.describe()
        return decision.plan

    def sinks() -> list[SessionSink]:
        return [service.sink]

    trial_payloads: list[bytes] = []

    def publish_trial(result: AlgometryResult) -> None:
        payload = ppt_payload(measurement(result, device_id=device.device_id))
        trial_payloads.append(payload)
        service.writer.enqueue(ppt_topic(service.topics), payload, qos=1, retain=True)
        log.info("pain threshold trial: %s", result.outcome)

    def publish_refusal(reason: str) -> None:
        """A refused start is an event too (not tied to a session): ``<prefix>/<device>/event``."""
        event = {"type": "session_refused", "device_id": device.device_id, "reason": reason, "at": utc_now_iso()}
        service.writer.enqueue(f"{service.topics.base}/event", json.dumps(event).encode("utf-8"), qos=1)

    def on_session_start() -> None:
        if hardware.arm is not None:
            hardware.arm()
        if args.simulate and args.press_at is not None:  # the simulated person's press
            loop.call_later(args.press_at, daemon.button_down)

    def lower_tolerance() -> Cue:
        """The long-hold gesture: the person lowers their own tolerance one step."""
        if profile is None or profile_file is None:
            log.warning("tolerance gesture ignored: no profile_file in the device config")
            return Cue.REFUSED
        plan_in_force = plans.updater.plan
        person = apply_stored(profile, tolerance_store, plan_in_force, device.device_max)
        change = step_down_tolerance(person, plan=plan_in_force, device_max_n=device.device_max)
        if not change.ok:
            log.warning("%s", change.reason)
            return Cue.REFUSED
        tolerance_store.save(change.profile.personal_tolerance)
        log.info("%s (by the person, on the device)", change.reason)
        return Cue.ENTERED_BAND

    daemon = DeviceDaemon(
        plans=plans,
        sampler=hardware.sampler,
        haptics=hardware.haptics,
        device_id=device.device_id,
        device_max_n=device.device_max,
        sinks_for_session=sinks,
        notifier=Notifier.from_env(),
        options=options,
        gate=gate,
        status=publisher.update_status if publisher is not None else None,
        on_session_start=on_session_start,
        on_hold=lower_tolerance,
        on_trial_end=publish_trial,
        on_refused=publish_refusal,
    )

    def on_down() -> None:  # gpiozero's thread: hand over to the loop
        loop.call_soon_threadsafe(daemon.button_down)

    def on_up(held_s: float) -> None:
        loop.call_soon_threadsafe(daemon.button_up, held_s)

    for button in hardware.buttons:
        button.set_handler(on_down)
        button.set_release_handler(on_up)
    stop_event = asyncio.Event()
    signals = install_stop_signals(stop_event, loop=loop)

    async def forward_stop() -> None:
        await stop_event.wait()
        daemon.request_shutdown(signals.received.name.lower() if signals.received else "signal")

    forwarder = asyncio.create_task(forward_stop())
    if os.environ.get(FAULT_INJECTION_ENV) == "1":
        _install_fault_injection(loop, hardware)
    try:
        result = await daemon.run()
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder
        signals.remove()
        for button in hardware.buttons:
            button.set_handler(None)
            button.set_release_handler(None)
    result.trial_payloads = trial_payloads
    return result
