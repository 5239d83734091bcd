"""``presspoint run``: the service process, and the real-time process it starts.

The service owns what may be slow - the store and outbox, MQTT, plans and
profile, systemd - and starts the real-time process, which owns the sensor,
the safety rules and the motor (``firmware.device.rt_main``).  Everything
comes from a typed ``DeviceOptions`` (the CLI parses its arguments into one;
nothing here reads argparse).  If the real-time process dies, the service
drives the motor pin low and exits non-zero, so systemd restarts both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from config.device import DeviceConfig
from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from config.profile import PptProtocol, load_person
from firmware.cli.text_report import format_summary
from firmware.device.contracts import DaemonOptions, DaemonResult
from firmware.device.fault_injection import FAULT_INJECTION_ENV
from firmware.device.link_messages import Press, Setup
from firmware.device.logging_setup import register_secret, setup_logging
from firmware.device.module_report import report_modules_at_exit
from firmware.device.options import DeviceOptions
from firmware.device.sdnotify import Notifier, watchdog_interval
from firmware.device.signals import EarlyStopSignals, StopSignals, exit_code_for
from firmware.mqtt.service import MqttService
from firmware.plans.service import PlanInForce, PlanUpdateService, build_plan_service
from firmware.realtime.priority import lower_to_normal
from firmware.realtime.stats import peak_rss_mib
from firmware.service.dispatch import ServiceSide
from firmware.service.failsafe import forward_abort_signal, motor_failsafe
from firmware.service.hooks import ServiceHooks, local_plan, report_plan_in_force
from firmware.service.state_lock import StateLock
from firmware.service.stdin_button import forward_line_presses
from firmware.service.supervisor import FORWARDED_SIGNALS, RealtimeProcess, describe_exit
from firmware.storage.database import check_state_dir

log = logging.getLogger("presspoint")

#: Exit code of `run` when every session it was asked for was refused.
EXIT_REFUSED = 3
#: Exit code when the daemon gave up (systemd's Restart=on-failure restarts it).
EXIT_FAILURE = 1
#: How long the outbox may take to drain at exit unless told otherwise.
DEFAULT_FLUSH_TIMEOUT_S = 5.0


def run_device(
    device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions, *, calibrated: bool | None = None
) -> int:
    """Run the device daemon until its sessions are done or it is told to stop; the exit code.

    ``calibrated``: whether the load cell is, for the start gate; by default the
    device config says (a simulated rig is calibrated by construction).  Given,
    it lets the emulated rig stand in for a device with no calibration.
    """
    early = EarlyStopSignals().install()  # a SIGTERM from here on is an orderly stop (exit 143)
    report_modules_at_exit("service")
    setup_logging(logging.DEBUG if options.verbose else logging.INFO)
    settings = device.mqtt.with_broker_url(options.broker) if options.broker else device.mqtt
    register_secret(settings.password)
    if calibrated is None:
        calibrated = options.simulation is not None or device.hardware.calibration.is_calibrated
    check_state_dir(device.storage.state_dir)
    with StateLock.acquire(device.storage.state_dir):  # before the store: one daemon per state dir
        return _run_locked(device, plan, options, settings, calibrated=calibrated, early=early)


def _run_locked(
    device: DeviceConfig,
    plan: TherapyPlan,
    options: DeviceOptions,
    settings: MqttSettings,
    *,
    calibrated: bool,
    early: EarlyStopSignals,
) -> int:
    # The real-time process is started first, so it inherits the unit's SCHED_FIFO;
    # then the service steps down to normal scheduling before it starts any thread.
    realtime = RealtimeProcess(realtime_setup(device, plan, options))
    realtime.spawn()
    lower_to_normal(log)
    service: MqttService | None = None
    try:
        service = MqttService(device, settings, calibrated=calibrated)
        recovered = service.start()
        for session_id in recovered:
            log.warning("session %s was interrupted (crash or power cut); closed and queued for publishing", session_id)
        result = asyncio.run(supervise(device, plan, options, service, realtime, calibrated=calibrated, early=early))
    finally:
        realtime.abandon()
        if service is not None:
            timeout = options.flush_timeout_s or DEFAULT_FLUSH_TIMEOUT_S
            report = service.flush(timeout) if service.publisher else None
            if report is not None and report.left:
                log.warning("%s", report.describe(settings.display_url()))
            service.close()
        log.info("service stats: peak RSS %.1f MiB", peak_rss_mib())
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
        print(f"presspoint: session refused: {reason}", file=sys.stderr)
    if result.failure is not None:
        print(f"presspoint: {result.failure}", file=sys.stderr)
        return EXIT_FAILURE
    if result.stop_signal is not None:
        return exit_code_for(signal.Signals(result.stop_signal))
    return EXIT_REFUSED if result.refusals and not result.summaries else 0


def build_service_side(
    device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions, service: MqttService, *, calibrated: bool
) -> tuple[PlanUpdateService, ServiceHooks]:
    """The plan service (remote updates) and the hooks that gate and record attempts."""
    profile = load_person(device)
    local = local_plan(device, plan, profile, cli_plan=options.plan_file)

    plans = build_plan_service(
        device_id=device.device_id,
        device_max_n=device.device_max,
        state_dir=device.storage.state_dir,
        local_plan=local.plan,
        topics=service.topics,
        key_file=device.plan_key_file,
        on_applied=lambda _plan, version: report_plan_in_force(service, PlanInForce("remote", version), local.origin),
    )
    report_plan_in_force(service, plans.in_force(), local.origin)
    if service.publisher is not None:
        plans.attach(service.publisher)
    hooks = ServiceHooks(
        device=device,
        service=service,
        profile=profile,
        plan_in_force=lambda: plans.updater.plan,
        calibrated=calibrated,
        plan_version=lambda: plans.updater.version,
        key=plans.updater.rules.key,
    )
    return plans, hooks


def realtime_setup(device: DeviceConfig, plan: TherapyPlan, options: DeviceOptions) -> Setup:
    sim = options.simulation
    return Setup(
        device=device,
        plan=plan,
        options=DaemonOptions(
            sessions=options.session_limit,
            auto_start=sim is not None and not sim.wait_button,
            mode=options.mode,
            watchdog_interval_s=watchdog_interval(fraction=0.25),
            person=profile.name if (profile := load_person(device)) is not None else None,
            rate_pain=profile is not None and profile.rate_pain,
            ppt_protocol=profile.ppt if profile is not None else PptProtocol(),
            probe_area_cm2=device.probe_area_cm2,
        ),
        simulation=sim,
        verbose=options.verbose,
        fault_injection=os.environ.get(FAULT_INJECTION_ENV) == "1",
    )


async def supervise(
    device: DeviceConfig,
    plan: TherapyPlan,
    options: DeviceOptions,
    service: MqttService,
    realtime: RealtimeProcess,
    *,
    calibrated: bool,
    early: EarlyStopSignals | None = None,
) -> DaemonResult:
    """Serve the real-time process until it ends, and say how it ended."""
    loop = asyncio.get_running_loop()
    plans, hooks = build_service_side(device, plan, options, service, calibrated=calibrated)
    setup = realtime.setup
    outcome_sink = hooks.session_sink(service.sink)
    side = ServiceSide(realtime, Notifier.from_env(), hooks, plans, outcome_sink)
    realtime.attach(side.handle)
    side.send_follow_up()
    if setup.simulation is not None and setup.simulation.press_on_stdin:
        forward_line_presses(sys.stdin.buffer, loop, lambda: realtime.send(Press()))
    signals = StopSignals(realtime.shutdown, loop=loop, early=early).install()
    if setup.fault_injection:
        for signum in FORWARDED_SIGNALS:
            loop.add_signal_handler(signum, realtime.signal, signum)
    restore_abort = forward_abort_signal(realtime)
    try:
        returncode = await realtime.wait()
    finally:
        restore_abort()
        signals.remove()
        if setup.fault_injection:
            for signum in FORWARDED_SIGNALS:
                loop.remove_signal_handler(signum)
        side.close_bracket()
        plans.close()
    finished = realtime.finished
    result = finished.result if finished is not None else DaemonResult()
    stopped_by = signals.received
    result.stop_signal = int(stopped_by) if stopped_by is not None else None
    if finished is None and stopped_by is not None and returncode == -stopped_by:
        # The same stop signal reached the child (systemd signals the whole unit) before it
        # could catch it, i.e. before it ran any hardware: an orderly stop all the same.
        log.info("the real-time process ended on %s while starting; %s", stopped_by.name,
                 motor_failsafe(device, options.simulation))
    elif finished is None or returncode < 0:
        why = f"the real-time process died ({describe_exit(returncode)})"
        log.error("%s; %s; exiting for a restart", why, motor_failsafe(device, options.simulation))
        result.failure = result.failure or f"{why}; the motor pin was driven low"
    result.trial_payloads = hooks.trial_payloads
    outcome_sink.flush()  # a summary still waiting for its rating after, if the real-time process died
    result.summaries = outcome_sink.as_stored(result.summaries)
    return result
