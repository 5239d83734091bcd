"""What the service does when the real-time process is gone or must be stopped hard.

* ``motor_failsafe``: the real-time process died without switching the motor
  off (killed, crashed).  Its GPIO lines are free again, so the service claims
  the motor pin and drives it low, and keeps it so until it exits.  In
  simulation the motor log gets its closing ``0.0``.
* ``forward_abort_signal``: systemd's watchdog sends SIGABRT; the real-time
  process gets it too, so the journal shows where *it* hung, then the service
  dumps its own threads and dies of the signal as before.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from config.device import DeviceConfig
from firmware.device.options import SimulationOptions
from firmware.service.supervisor import RealtimeProcess

log = logging.getLogger(__name__)

#: Keeps the claimed motor pin driven low until the process exits.
_held: list[Any] = []


def motor_failsafe(device: DeviceConfig, simulation: SimulationOptions | None) -> str:
    """Drive the motor off from this process; a few words on what was done."""
    try:
        if simulation is not None:
            if simulation.motor_log is not None:
                with simulation.motor_log.open("a", encoding="utf-8") as motor_log:
                    motor_log.write(f"{time.monotonic():.6f} 0.0\n")
            return "simulated motor off"
        from hal.factory import build_motor_only

        motor = build_motor_only(device.hardware)
        motor.off()
        _held.append(motor)
        return f"motor pin GPIO{device.hardware.pins.motor} driven low"
    except Exception as exc:  # the pull-down resistor on the gate is the last line
        log.exception("could not drive the motor pin low")
        return f"could not drive the motor pin low ({type(exc).__name__}); the gate's pull-down must hold it off"


def forward_abort_signal(realtime: RealtimeProcess) -> Callable[[], None]:
    """On SIGABRT: pass it to the real-time process, dump our threads, die of it.  Returns the undo."""

    def on_abort(signum: int, frame: FrameType | None) -> None:
        realtime.signal(signal.SIGABRT)
        print("Fatal Python error: Aborted (service process; the real-time process got it too)", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        faulthandler.disable()
        signal.signal(signal.SIGABRT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGABRT)

    previous = signal.getsignal(signal.SIGABRT)
    signal.signal(signal.SIGABRT, on_abort)

    def restore() -> None:
        signal.signal(signal.SIGABRT, previous if previous is not None else signal.SIG_DFL)
        if previous is None and faulthandler.is_enabled():  # faulthandler's own C handler was there
            faulthandler.disable()
            faulthandler.enable(file=sys.stderr, all_threads=True)

    return restore
