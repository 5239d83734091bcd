"""Helpers for the therapist-tool tests: a real simulated session published by the device's MQTT stack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config.device import DeviceConfig, StorageSettings
from config.mqtt import MqttSettings
from config.plan import TherapyPlan
from firmware.clinic.queries import SessionData
from firmware.device.options import RigOptions
from firmware.device.sim_setup import build_rig
from firmware.mqtt.service import MqttService
from firmware.plans.service import PlanUpdateService
from firmware.plans.updater import PlanUpdater
from firmware.realtime.sinks import MemorySink, SessionSink
from firmware.realtime.virtual import run_virtual_session
from firmware.session.summary import SessionSummary
from firmware.therapist.collect import Collector
from hal.clock import VirtualClock

DEVICE = "dev1"
#: Short enough to be quick, two repetitions so the overshoot scenario aborts in the second ramp.
SHORT = TherapyPlan(hold_s=30, repetitions=2, rest_s=5)
FAST: dict[str, Any] = {
    "enabled": True, "host": "127.0.0.1", "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "keepalive_s": 5,
    "state_min_interval_s": 0.02, "publish_timeout_s": 5.0,
}


def mqtt_settings(port: int) -> MqttSettings:
    return MqttSettings(**{**FAST, "port": port})


def simulate(plan: TherapyPlan, scenario: str, sinks: list[SessionSink], device: DeviceConfig | None = None
             ) -> SessionSummary:
    device = device or DeviceConfig(device_id=DEVICE)
    clock = VirtualClock()
    rig = build_rig(plan, device, clock, RigOptions(scenario=scenario))
    try:
        return run_virtual_session(
            plan, sampler=rig.sampler, haptics=rig.haptics, clock=clock, device_id=device.device_id,
            device_max_n=device.device_max, sinks=sinks, stop_at_s=rig.stop_at_s,
        )
    finally:
        rig.close()


def publish_session(state_dir: Path, port: int, *, scenario: str = "overshoot", plan: TherapyPlan = SHORT,
                    with_plan_service: bool = True) -> SessionSummary:
    """Run a virtual session through ``MqttService`` (store, outbox, publisher) and flush it (blocking)."""
    device = DeviceConfig(device_id=DEVICE, storage=StorageSettings(state_dir=state_dir), mqtt=mqtt_settings(port))
    service = MqttService(device, device.mqtt)
    if with_plan_service:
        assert service.publisher is not None
        updater = PlanUpdater(device_id=DEVICE, device_max_n=device.device_max, key=None, state_dir=state_dir,
                              local_plan=plan)
        PlanUpdateService(updater, service.topics).attach(service.publisher)
    service.start()
    try:
        summary = simulate(plan, scenario, [service.sink], device)
        report = service.flush(15.0)
        assert report.left == 0, report
    finally:
        service.close()
    return summary


def session_data(plan: TherapyPlan, scenario: str) -> SessionData:
    """A session as the collector would hold it, without a broker (for report tests)."""
    memory = MemorySink()
    summary = simulate(plan, scenario, [memory])
    return SessionData(
        summary.session_id, summary.device_id, summary, memory.events,
        [t for t, _, _ in memory.samples], [f for _, f, _ in memory.samples],
    )


async def wait_until(collector: Collector, predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Bounded wait for the collector to have stored what ``predicate`` checks."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"collector: not reached within {timeout_s} s; {collector.store.counts()}, "
                                 f"{collector.stats}")
        collector.changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(remaining, 0.5)):
                await collector.changed.wait()
