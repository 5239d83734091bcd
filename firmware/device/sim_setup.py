"""Assemble simulated hardware for a session from CLI-level choices.

Picks the force source (a CSV trace or a named scenario), wraps it in the
simulated load cell - or, with ``pins=True``, in the emulated HX711 chip
under the real driver - and returns the sensor, motor and sampler together.
For the daemon (``armed``) it also gives the simulated person, who presses
as the plan admitted for each session says and lets go when it is over.

The rig always has both buttons - simulated ones, or the emulated rig's mock
pins - and a trace's ``button`` column (a scenario's check-ins too) presses
them: the virtual-time driver between samples, the real-time paths from the
sampling thread (``simulator.button_script.PressingSource``), each press at
the first sample at or after its time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from config.device import DeviceConfig
from config.errors import PresspointError
from config.plan import TherapyPlan
from firmware.device.options import RigOptions, SimulationOptions
from firmware.realtime.sampler import Sampler
from hal.buttons import StartStopButton, VirtualButton
from hal.buttons_scripted import ScriptedButtons, press_edges
from hal.clock import Clock
from hal.haptics import Haptics
from hal.sensor import ForceSensor
from simulator.armed_source import ArmedSource
from simulator.button_script import PressingSource
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, ForceSource, SimulatedLoadCell
from simulator.profiles import SCENARIOS, ProfileSource, build_scenario_source, scenario_stop_time
from simulator.trace import ForceTrace, load_trace


class UnknownScenarioError(PresspointError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}")


#: How long a simulated short press holds the button down, s.
SHORT_PRESS_S = 0.1


class ForceScript:
    """What the simulated person does: a trace, played as it is, or a scenario laid out for a plan."""

    def __init__(self, device: DeviceConfig, options: RigOptions) -> None:
        self.scenario = None if options.trace is not None else (options.scenario or "normal")
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise UnknownScenarioError(self.scenario)
        self._trace = load_trace(options.trace) if options.trace is not None else None
        self._device_max_n = device.device_max
        self._noise_n = options.noise_n
        self._seed = options.seed

    def source(self, plan: TherapyPlan) -> ForceSource:
        """The force from the session's t = 0, for ``plan``."""
        if self._trace is not None:
            return self._trace
        assert self.scenario is not None
        return build_scenario_source(self.scenario, plan, self._device_max_n, noise_n=self._noise_n, seed=self._seed)

    def stop_at(self, plan: TherapyPlan) -> float | None:
        """When (session seconds) the script presses the stop button under ``plan``, if it does."""
        return None if self.scenario is None else scenario_stop_time(SCENARIOS[self.scenario], plan)


class SimulatedPerson:
    """The daemon's simulated person: at each start presses to the admitted plan, at each end lets go.

    ``press_at_s`` (``run --press-at``) or the script's own stop time makes
    them press the button that far into the session; a press still due when
    the session ends is cancelled, so it cannot stop the next one.
    """

    def __init__(
        self,
        script: ForceScript,
        source: ArmedSource,
        *,
        press_at_s: float | None = None,
        buttons: Sequence[StartStopButton] = (),
    ) -> None:
        self.script = script
        self.source = source
        self.press_at_s = press_at_s
        #: The buttons the script's presses (a trace's ``button`` column) go through.
        self.buttons = list(buttons)
        self._down: Callable[[], None] | None = None
        self._up: Callable[[float], None] | None = None
        self._pending: list[asyncio.TimerHandle] = []
        self._scripted: ScriptedButtons | None = None

    def bind(self, down: Callable[[], None], up: Callable[[float], None]) -> None:
        """The button the person presses: what its way down and its release (after so long) do."""
        self._down, self._up = down, up

    def press_button(self) -> None:
        """One short press, down and up (starts a session while idle, stops a running one)."""
        if self._down is not None and self._up is not None:
            self._down()
            self._up(SHORT_PRESS_S)

    def start(self, plan: TherapyPlan) -> None:
        """A session under ``plan`` starts: press from rest, as it says."""
        source = self.script.source(plan)
        self._scripted = ScriptedButtons(press_edges(presses_of(source), self.buttons))
        self.source.arm(PressingSource(source, self._scripted))
        press_at = self.press_at_s if self.press_at_s is not None else self.script.stop_at(plan)
        if self._down is None:
            return
        loop = asyncio.get_running_loop()
        if press_at is not None:
            self._pending.append(loop.call_later(press_at, self._down))

    def rest(self) -> None:
        """The attempt is over: let go (and forget a press not yet made)."""
        for pending in self._pending:
            pending.cancel()
        self._pending = []
        self.source.rest()
        if self._scripted is not None:
            self._scripted.release_all()
            self._scripted = None


def presses_of(source: ForceSource) -> tuple[tuple[float, str], ...]:
    """The presses a trace's ``button`` column (or a scenario's check-ins) asks for: (session time, name)."""
    scripted = source.presses if isinstance(source, ForceTrace | ProfileSource) else ()
    return tuple((press.time_s, press.name) for press in scripted)


def check_simulation(device: DeviceConfig, plan: TherapyPlan, sim: SimulationOptions) -> None:
    """What ``run --simulate`` will play, read and checked before anything starts (``PresspointError``).

    The trace is read whole and its presses matched to the buttons the rig
    will have: the start/stop button, and the second one - ``less_more``,
    unless ``--pins`` emulates a configured second button of role ``stop``.
    """
    script = ForceScript(device, sim.rig)
    pins = device.hardware.pins
    second = pins.second_button_role if sim.rig.pins and pins.stop_button is not None else "less_more"
    press_edges(presses_of(script.source(plan)), [VirtualButton(), VirtualButton(second)])


@dataclass
class SimulatedRig:
    """Simulated hardware for one run, closed together (motor first)."""

    sensor: ForceSensor
    haptics: Haptics
    sampler: Sampler
    stop_at_s: float | None
    #: Both buttons (start/stop first), simulated or on the pin rig's mock pins.
    buttons: list[StartStopButton] = field(default_factory=list)
    #: For a daemon whose sampler runs all the time: the force rests until a session starts.
    armed: ArmedSource | None = None
    _close: Callable[[], None] | None = None
    #: Button presses of a trace's ``button`` column: (session time, "stop" | "less" | "more").
    presses: tuple[tuple[float, str], ...] = ()
    #: CPU seconds the simulated sensor (load cell, or chip behind the SPI front) took so far; ``None``: not counted.
    emulator_cpu: Callable[[], float] | None = None

    def close(self) -> None:
        self.haptics.off()
        if self._close is not None:
            self._close()
        else:
            self.haptics.close()
            self.sensor.close()


def build_rig(
    plan: TherapyPlan,
    device: DeviceConfig,
    clock: Clock,
    options: RigOptions,
    *,
    script: ForceScript | None = None,
    armed: bool = False,
    motor_log: Path | None = None,
    press_while_sampling: bool = False,
) -> SimulatedRig:
    """Simulated sensor + recording motor (or the pin-level rig) + sampler + both buttons.

    With ``armed`` the force is 0 N until ``rig.armed.arm()`` and the
    scenario or trace starts at the next reading (the daemon samples all the
    time; its ``SimulatedPerson`` presses).  With ``press_while_sampling``
    the presses are made from the sampling thread (``simulate --realtime``);
    otherwise ``rig.presses`` is for the virtual-time driver.  A press the
    buttons cannot make (``less`` with no ``less_more`` button) is refused here.
    ``script`` (a simulated person of the caller's own) wins over ``options``' trace or scenario.
    """
    if script is None:
        script = ForceScript(device, options)
    source: ForceSource = script.source(plan)
    presses = presses_of(source)
    pressing = PressingSource(source, ScriptedButtons(())) if press_while_sampling else None
    source = pressing or source
    armed_source = ArmedSource(source) if armed else None
    if armed_source is not None:
        source = armed_source
    stop_at = script.stop_at(plan)
    if options.pins:
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
        built = SimulatedRig(rig.sensor, rig.motor, sampler, stop_at, [*rig.buttons], armed_source, rig.close, presses)
        front = rig.spi  # the GPIO rig's chip is driven through mock pins: its share is not counted apart
        built.emulator_cpu = None if front is None else front.cpu_seconds
    else:
        sensor = SimulatedLoadCell(source, clock, sample_rate_hz=device.sample_rate_hz)
        if armed_source is not None:  # a late reader's stale slots rest (simulator/armed_source.py)
            armed_source.source_time = sensor.source_time
        recorder = RecordingHaptics(clock, log_path=motor_log)
        sampler = Sampler(sensor, SIMULATED_CALIBRATION, clock)
        buttons: list[StartStopButton] = [VirtualButton(), VirtualButton("less_more")]
        built = SimulatedRig(sensor, recorder, sampler, stop_at, buttons, armed_source, presses=presses)
        built.emulator_cpu = lambda: sensor.cpu_s
    try:
        edges = press_edges(presses, built.buttons)
    except PresspointError:
        built.close()
        raise
    if pressing is not None:
        pressing.presses = ScriptedButtons(edges)
    return built
