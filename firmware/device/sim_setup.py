"""Assemble simulated hardware for a session from CLI-level choices.

Picks the force source (a CSV trace or a named scenario), wraps it in the
simulated load cell - or, with ``pins=True``, in the emulated HX711 chip
under the real driver - and returns the sensor, motor and sampler together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.device import DeviceConfig
from config.errors import PresspointError
from config.plan import TherapyPlan
from firmware.realtime.sampler import Sampler
from hal.buttons import StartStopButton
from hal.clock import Clock
from hal.haptics import Haptics
from hal.sensor import ForceSensor
from simulator.armed_source import ArmedSource
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, ForceSource, SimulatedLoadCell
from simulator.profiles import SCENARIOS, ProfileSource, build_scenario_source, scenario_stop_time
from simulator.trace import ForceTrace, load_trace


class UnknownScenarioError(PresspointError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")


@dataclass
class SimulatedRig:
    """Simulated hardware for one run, closed together (motor first)."""

    sensor: ForceSensor
    haptics: Haptics
    sampler: Sampler
    stop_at_s: float | None
    #: Buttons a simulated person can press (the pin rig's mock button).
    buttons: list[StartStopButton] = field(default_factory=list)
    #: For a daemon whose sampler runs all the time: the scenario starts at the next reading.
    arm: Callable[[], None] | None = None
    _close: Callable[[], None] | None = None
    #: Button presses of a trace's ``button`` column: (session time, "stop" | "less" | "more").
    presses: tuple[tuple[float, str], ...] = ()

    def close(self) -> None:
        self.haptics.off()
        if self._close is not None:
            self._close()
        else:
            self.haptics.close()
            self.sensor.close()


def force_source(
    plan: TherapyPlan,
    device: DeviceConfig,
    *,
    trace: Path | None,
    scenario: str | None,
    noise_n: float = 0.0,
    seed: int = 1,
) -> tuple[ForceSource, float | None]:
    """The force source and scenario stop-button time for a simulated session."""
    if trace is not None:
        return load_trace(trace), None
    name = scenario or "normal"
    if name not in SCENARIOS:
        raise UnknownScenarioError(name)
    source = build_scenario_source(name, plan, device.device_max, noise_n=noise_n, seed=seed)
    return source, scenario_stop_time(SCENARIOS[name], plan)


def build_rig(
    plan: TherapyPlan,
    device: DeviceConfig,
    clock: Clock,
    *,
    trace: Path | None = None,
    scenario: str | None = None,
    pins: bool = False,
    noise_n: float = 0.0,
    seed: int = 1,
    armed: bool = False,
    motor_log: Path | None = None,
) -> SimulatedRig:
    """Simulated sensor + recording motor (or the pin-level rig) + sampler.

    With ``armed`` the force is 0 N until ``rig.arm()`` and the scenario or
    trace starts at the next reading (the daemon samples all the time).
    """
    source, stop_at = force_source(plan, device, trace=trace, scenario=scenario, noise_n=noise_n, seed=seed)
    scripted = source.presses if isinstance(source, ForceTrace | ProfileSource) else ()
    presses = tuple((press.time_s, press.name) for press in scripted)
    arm: Callable[[], None] | None = None
    if armed:
        source = armed_source = ArmedSource(source)
        arm = armed_source.arm
    if pins:
        from simulator.pin_rig import build_emulated_rig

        # relative_time: the chip's first conversion is the source's t = 0,
        # as with the plain load cell, so both give the same session.
        # The emulator's front follows hardware.backend (SPI unless "hx711-gpio").
        rig = build_emulated_rig(
            force_source=source.force_at,
            relative_time=True,
            calibration=SIMULATED_CALIBRATION,
            clock=clock,
            hardware=device.hardware,
            sample_rate_hz=device.sample_rate_hz,
        )
        sampler = Sampler(rig.sensor, SIMULATED_CALIBRATION, clock, max_jump_n=device.device_max / 2)
        return SimulatedRig(rig.sensor, rig.motor, sampler, stop_at, [rig.button], arm, rig.close, presses)
    sensor = SimulatedLoadCell(source, clock, sample_rate_hz=device.sample_rate_hz)
    recorder = RecordingHaptics(clock, log_path=motor_log)
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, clock)
    return SimulatedRig(sensor, recorder, sampler, stop_at, [], arm, presses=presses)
