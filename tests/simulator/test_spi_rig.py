"""Whole sessions through ``HX711SpiSensor`` over the emulator's SPI front (virtual time)."""

from __future__ import annotations

import json

import pytest

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.cli.main import main
from firmware.device.options import RigOptions
from firmware.device.sim_setup import build_rig
from firmware.realtime.sampler import Sampler
from firmware.realtime.virtual import run_virtual_session
from firmware.session.states import AbortReason, Outcome
from hal.clock import VirtualClock
from hal.hx711_adapter import HX711Sensor
from hal.hx711_spi import HX711SpiSensor
from simulator.loadcell import SIMULATED_CALIBRATION
from simulator.pin_rig import PinRig, build_spi_rig
from simulator.profiles import build_scenario_source
from tests.conftest import ROOT

DEVICE = DeviceConfig()
RATE = 80.0
QUICK = ["--plan", str(ROOT / "config" / "examples" / "quick-test.toml")]


def spi_session(plan: TherapyPlan, force_at, *, on_rig=None) -> tuple[object, PinRig[HX711SpiSensor]]:  # type: ignore[no-untyped-def]
    clock = VirtualClock()
    rig = build_spi_rig(force_at, SIMULATED_CALIBRATION, clock, hardware=DEVICE.hardware, relative_time=True)
    if on_rig is not None:
        on_rig(rig)
    sampler = Sampler(rig.sensor, SIMULATED_CALIBRATION, clock, max_jump_n=DEVICE.device_max / 2)
    try:
        summary = run_virtual_session(plan, sampler=sampler, haptics=rig.motor, clock=clock, device_id="spi",
                                      device_max_n=DEVICE.device_max)
    finally:
        rig.close()
    return summary, rig


@pytest.mark.parametrize("scenario", ["normal", "spike", "sensor-dropout"])
def test_both_backends_give_the_same_session(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    runs = {}
    for backend in ("hx711-spi", "hx711-gpio"):
        main(["simulate", "--pins", "--backend", backend, "--scenario", scenario, "--json", "--noise", "0.05", *QUICK])
        runs[backend] = json.loads(capsys.readouterr().out)
    for key in ("outcome", "abort", "holds", "duration_s", "samples", "cues", "peak_force_n", "sensor_glitches"):
        assert runs["hx711-spi"][key] == runs["hx711-gpio"][key], key


def test_pins_follow_the_configured_backend() -> None:
    plan = TherapyPlan()
    for device, sensor_type in [(DEVICE, HX711SpiSensor), (DEVICE.with_backend("hx711-spi"), HX711SpiSensor),
                                (DEVICE.with_backend("hx711-gpio"), HX711Sensor)]:
        rig = build_rig(plan, device, VirtualClock(), RigOptions(pins=True))
        try:
            assert isinstance(rig.sensor, sensor_type)
        finally:
            rig.close()


def test_disconnect_aborts_with_sensor_fault_within_three_periods() -> None:
    plan = TherapyPlan()
    source = build_scenario_source("normal", plan, DEVICE.device_max)
    state: dict[str, PinRig[HX711SpiSensor]] = {}

    def force(t: float) -> float | None:
        if t >= 20.0:
            state["rig"].chip.disconnected = True  # DOUT stuck high: MISO all ones
        return source.force_at(t)

    summary, rig = spi_session(plan, force, on_rig=lambda r: state.setdefault("rig", r))
    assert summary.outcome is Outcome.ABORTED  # type: ignore[attr-defined]
    abort = summary.abort  # type: ignore[attr-defined]
    assert abort.reason is AbortReason.SENSOR_FAULT
    assert 20.0 < abort.at_s <= 20.0 + 4 / RATE + 1e-6
    assert rig.motor_pin.state == 0


def test_a_desync_mid_session_costs_samples_not_the_session() -> None:
    plan = TherapyPlan(repetitions=1, hold_s=30)
    source = build_scenario_source("normal", plan, DEVICE.device_max)
    state: dict[str, PinRig[HX711SpiSensor]] = {}

    def force(t: float) -> float | None:
        if "rig" in state:
            state["rig"].chip.desync = 15.0 <= t < 15.0 + 1 / RATE  # one conversion garbled
        return source.force_at(t)

    summary, rig = spi_session(plan, force, on_rig=lambda r: state.setdefault("rig", r))
    assert summary.outcome is Outcome.COMPLETED  # type: ignore[attr-defined]
    assert rig.sensor.stats.desyncs >= 1
    assert rig.sensor.stats.reads > 30 * RATE
