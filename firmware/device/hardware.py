"""What the daemon drives - real (HX711 + gpiozero) or simulated - behind one ``DeviceHardware``."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.device.options import SimulationOptions
from firmware.realtime.loop_reads import PreciseTimerLoop
from firmware.realtime.sampler import Sampler
from hal.buttons import StartStopButton
from hal.clock import MonotonicClock
from hal.haptics import Haptics
from hal.sensor import Calibration

if TYPE_CHECKING:  # the simulator is imported by the simulated build only: the device has no use for it
    from firmware.device.sim_setup import SimulatedPerson

log = logging.getLogger(__name__)


@dataclass
class DeviceHardware:
    """What the daemon drives, however it is made."""

    sampler: Sampler
    haptics: Haptics
    buttons: list[StartStopButton] = field(default_factory=list)
    #: Simulated hardware's person: presses to each admitted plan, lets go after.
    person: SimulatedPerson | None = None
    calibrated: bool = True
    #: The event loop to run the daemon on: one on the hardware's own clock (``--speed``), or one with
    #: precise timers (the loop reads a stepped sensor from them: ``realtime/loop_reads.py``).
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    #: The hardware clock's seconds per wall second: waits on the service (a 1x process) are scaled by it.
    speed: float = 1.0
    #: With ``--speed``: wall seconds a late peer is waited for (``--speed-lag``); also bounds the wait on the service.
    wall_lag_s: float = 0.0
    #: CPU seconds the simulated hardware (chip emulator or simulated load cell) took so far: not device work.
    emulator_cpu: Callable[[], float] | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Motor off first, then everything else; every closer runs."""
        closers = [self.haptics.off, *self._closers]
        for close in closers:
            try:
                close()
            except Exception:
                log.exception("error while closing hardware")


def build_simulated_hardware(device: DeviceConfig, plan: TherapyPlan, sim: SimulationOptions) -> DeviceHardware:
    """The simulated rig and person; with ``sim.speed`` above 1 on a ``FastClock`` with its own loop."""
    from firmware.device.sim_setup import ForceScript, SimulatedPerson, build_rig
    from simulator.fast_time import FastClock, FastClockLoop

    script = ForceScript(device, sim.rig)
    lag = {} if sim.speed_lag_s is None else {"lag_s": sim.speed_lag_s}
    fast = FastClock(sim.speed, **lag) if sim.speed != 1.0 else None
    clock = fast if fast is not None else MonotonicClock()
    rig = build_rig(plan, device, clock, sim.rig, script=script, armed=True, motor_log=sim.motor_log)
    assert rig.armed is not None
    person = SimulatedPerson(script, rig.armed, press_at_s=sim.press_at_s, buttons=rig.buttons)
    hardware = DeviceHardware(
        rig.sampler,
        rig.haptics,
        rig.buttons,
        person,
        True,
        loop_factory=PreciseTimerLoop,
        emulator_cpu=rig.emulator_cpu,
        _closers=[rig.close],
    )
    if fast is not None:
        hardware.loop_factory = functools.partial(FastClockLoop, fast)
        hardware.speed = fast.speed
        hardware.wall_lag_s = sim.speed_lag_s or 0.0
    return hardware


def build_gpio_device_hardware(device: DeviceConfig) -> DeviceHardware:
    from hal.factory import build_gpio_hardware

    clock = MonotonicClock()
    hw = build_gpio_hardware(device.hardware, device.sample_rate_hz, clock)
    cal = device.hardware.calibration
    calibration = Calibration(cal.offset_counts or 0.0, cal.counts_per_newton or 1.0)
    sampler = Sampler(hw.sensor, calibration, clock, max_jump_n=device.device_max / 2)
    buttons: list[StartStopButton] = [hw.button]
    if hw.stop_button is not None:
        buttons.append(hw.stop_button)
    return DeviceHardware(
        sampler, hw.motor, buttons, None, cal.is_calibrated, loop_factory=PreciseTimerLoop, _closers=[hw.close]
    )


def build_hardware(device: DeviceConfig, plan: TherapyPlan, sim: SimulationOptions | None) -> DeviceHardware:
    return build_gpio_device_hardware(device) if sim is None else build_simulated_hardware(device, plan, sim)
