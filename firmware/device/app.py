"""``presspoint run``: build the hardware (real or simulated), the store and MQTT, run the daemon.

Everything comes from a typed ``DeviceOptions`` (the CLI parses its
arguments into one; nothing here reads argparse).  The same daemon runs on
the Pi (HX711 + gpiozero) and off-device (simulated load cell, or the real
driver over the emulated chip).  Everything opened here is closed in
``finally``, motor first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from config.device import DeviceConfig
from config.plan import TherapyPlan
from config.profile import load_profile
from firmware.cli.text_report import format_summary
from firmware.device.contracts import DaemonOptions, DaemonResult
from firmware.device.daemon import DeviceDaemon
from firmware.device.fault_injection import FAULT_INJECTION_ENV, install_fault_injection
from firmware.device.hardware import DeviceHardware, build_hardware
from firmware.device.logging_setup import register_secret, setup_logging
from firmware.device.options import DeviceOptions
from firmware.device.sdnotify import Notifier
from firmware.device.service_hooks import ServiceHooks
from firmware.device.signals import install_stop_signals
from firmware.mqtt.service import MqttService
from firmware.plans.service import build_plan_service

log = logging.getLogger("presspoint")

#: Exit code of `run` when every session it was asked for was refused.
EXIT_REFUSED = 3
#: Exit code when the daemon gave up (systemd's Restart=on-failure restarts it).
EXIT_FAILURE = 1
#: How long the outbox may take to drain at exit unless told otherwise.
DEFAULT_FLUSH_TIMEOUT_S = 5.0


def run_device(device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions) -> int:
    """Run the device daemon until its sessions are done or it is told to stop; the exit code."""
    setup_logging(logging.DEBUG if options.verbose else logging.INFO)
    settings = device.mqtt.with_broker_url(options.broker) if options.broker else device.mqtt
    register_secret(settings.password)
    hardware = build_hardware(device, plan, options.simulation)
    service: MqttService | None = None
    try:
        service = MqttService(device, settings, calibrated=hardware.calibrated)
        recovered = service.start()
        for session_id in recovered:
            log.warning("session %s was interrupted (crash or power cut); closed and queued for publishing", session_id)
        result = asyncio.run(_run_daemon(device, plan, options, hardware, service))
    finally:
        hardware.close()
        if service is not None:
            timeout = options.flush_timeout_s or DEFAULT_FLUSH_TIMEOUT_S
            report = service.flush(timeout) if service.publisher else None
            if report is not None and report.left:
                log.warning("%s", report.describe(settings.display_url()))
            service.close()
    return _report(result, options)


def _report(result: DaemonResult, options: DeviceOptions) -> int:
    """Print what the daemon did; the exit code."""
    for summary in result.summaries:
        if options.json:
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


def build_daemon(
    device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions, hardware: DeviceHardware, service: MqttService
) -> tuple[DeviceDaemon, ServiceHooks]:
    """The daemon with its plan service (remote updates), profile and MQTT hooks."""
    sim = options.simulation
    profile = load_profile(device.profile_file, device.device_max) if device.profile_file else None
    local_plan = plan
    if profile is not None and not options.plan_named and device.plan_file is None:
        local_plan = profile.plan  # the profile's plan, unless a plan file was named
    plans = build_plan_service(
        device_id=device.device_id,
        device_max_n=device.device_max,
        state_dir=device.storage.state_dir,
        local_plan=local_plan,
        topics=service.topics,
        key_file=device.plan_key_file,
    )
    if service.publisher is not None:
        plans.attach(service.publisher)
    hooks = ServiceHooks(
        device=device,
        service=service,
        profile=profile,
        plan_in_force=lambda: plans.updater.plan,
        calibrated=hardware.calibrated,
        arm=hardware.arm,
    )
    daemon = DeviceDaemon(
        plans=plans,
        sampler=hardware.sampler,
        haptics=hardware.haptics,
        device_id=device.device_id,
        device_max_n=device.device_max,
        hooks=hooks,
        notifier=Notifier.from_env(),
        options=DaemonOptions(
            sessions=options.session_limit,
            auto_start=sim is not None and not sim.wait_button,
            mode=options.mode,
        ),
    )
    if sim is not None and sim.press_at_s is not None:  # the simulated person's press
        press_at_s = sim.press_at_s

        def press_later() -> None:
            asyncio.get_running_loop().call_later(press_at_s, daemon.button_down)

        hooks.on_start.append(press_later)
    return daemon, hooks


async def _run_daemon(
    device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions, hardware: DeviceHardware, service: MqttService
) -> DaemonResult:
    loop = asyncio.get_running_loop()
    daemon, hooks = build_daemon(device, plan, options, hardware, service)

    def on_down() -> None:  # gpiozero's thread: hand over to the loop
        loop.call_soon_threadsafe(daemon.button_down)

    def on_up(held_s: float) -> None:
        loop.call_soon_threadsafe(daemon.button_up, held_s)

    for button in hardware.buttons:
        button.set_handler(on_down)
        button.set_release_handler(on_up)
    signals = install_stop_signals(daemon.request_shutdown, loop=loop)
    if os.environ.get(FAULT_INJECTION_ENV) == "1":
        install_fault_injection(loop, hardware.sampler)
    try:
        result = await daemon.run()
    finally:
        signals.remove()
        for button in hardware.buttons:
            button.set_handler(None)
            button.set_release_handler(None)
    result.trial_payloads = hooks.trial_payloads
    return result
