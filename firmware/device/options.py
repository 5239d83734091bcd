"""``DeviceOptions``: everything ``presspoint run`` was asked for, typed; the CLI fills it in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: Longest wait for the service's answer to a start request (here, not in ``link_hooks``: the CLI's help says it).
ADMIT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class RigOptions:
    """A simulated rig's force: a trace or a scenario (``None`` and ``None``: ``normal``), with noise."""

    trace: Path | None = None
    scenario: str | None = None
    #: Through the real HX711 driver over an emulated chip.
    pins: bool = False
    noise_n: float = 0.0
    seed: int = 1


@dataclass(frozen=True)
class SimulationOptions:
    """Simulated hardware: where the force comes from, and what the simulated person does."""

    rig: RigOptions = RigOptions()
    motor_log: Path | None = None
    #: Wait for a button press instead of starting sessions at once.
    wait_button: bool = False
    #: The person presses the button this long into each session or trial.
    press_at_s: float | None = None
    #: Each line on the service's standard input is a short press of the simulated button.
    press_on_stdin: bool = False
    #: The simulated hardware's clock runs this many times faster than the wall clock (1 to 100).
    speed: float = 1.0
    #: With ``speed``: wall seconds time waits for a late simulated sensor before it flows on (a stall).
    speed_lag_s: float | None = None  # None: the clock's own default (``simulator.fast_time``)


@dataclass(frozen=True)
class DeviceOptions:
    #: Simulated hardware, or ``None`` for the real one.
    simulation: SimulationOptions | None = None
    verbose: bool = False
    #: An MQTT broker URL instead of the config's.
    broker: str | None = None
    #: Print summaries as JSON, one a line.
    json: bool = False
    #: Exit after this many attempts (``0``: never); ``None``: 1 simulated, never on hardware.
    sessions: int | None = None
    mode: Literal["session", "ppt"] = "session"
    #: How long to wait for the outbox at exit (``None``: 5 s).
    flush_timeout_s: float | None = None
    #: The plan file named on the command line (``--plan``): it wins over the profile's plan.
    plan_file: Path | None = None

    @property
    def session_limit(self) -> int | None:
        limit = self.sessions if self.sessions is not None else (1 if self.simulation is not None else 0)
        return limit or None
