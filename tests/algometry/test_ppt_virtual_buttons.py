"""``simulate --mode ppt`` takes a trace's presses through the rig's buttons, as the device does.

The presses are edges on the start/stop button (``hal.buttons_scripted``):
its way down is the mark, for a trace's ``mark`` and ``stop`` alike, as the
device reads any press of that button during a trial (``ButtonGestures``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config.device import DeviceConfig
from config.plan import TherapyPlan
from config.profile import PptProtocol
from firmware.algometry.measurement import MeasuredSpot, MeasurementOutcome, StandardMeasurement
from firmware.algometry.settings import AlgometrySettings
from firmware.device.options import RigOptions
from firmware.device.sim_setup import build_rig
from firmware.realtime.ppt_runner import run_virtual_measurement
from hal.buttons import VirtualButton
from hal.clock import VirtualClock
from tests.algometry.test_ppt_cli import device, simulate

RAMPS = "time_s,force_n,button\n0,0,\n1,0,\n7,30,\n7,,{0}\n7.5,0,\n20,0,\n23,30,\n23,,{1}\n23.5,0,\n"
THIRD = "36,0,\n42,30,\n42,,{2}\n42.5,0,\n50,0,\n"


def test_each_mark_is_a_press_of_the_rigs_start_stop_button(tmp_path: Path) -> None:
    trace = tmp_path / "ppt.csv"
    trace.write_text((RAMPS + THIRD).format("mark", "mark", "mark"))
    config = DeviceConfig()
    clock = VirtualClock()
    rig = build_rig(TherapyPlan(), config, clock, RigOptions(trace=trace))
    measurement = StandardMeasurement(
        MeasuredSpot.of_plan(TherapyPlan()),
        protocol=PptProtocol(),
        probe_area_cm2=1.0,
        settings=AlgometrySettings(),
        device_max_n=config.device_max,
        sample_rate_hz=rig.sampler.sensor.sample_rate_hz,
    )
    main, second = rig.buttons
    try:
        result, _ = run_virtual_measurement(
            measurement, sampler=rig.sampler, haptics=rig.haptics, clock=clock, presses=rig.presses, buttons=rig.buttons
        )
    finally:
        rig.close()
    assert result.outcome is MeasurementOutcome.COMPLETED and len(result.spots[0].trials) == 3
    assert isinstance(main, VirtualButton) and isinstance(second, VirtualButton)
    assert (main.presses, second.presses) == (3, 0)  # each mark went down the start/stop button


def test_a_stop_press_in_a_measurement_marks_as_on_the_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marked, stopped = tmp_path / "marked.csv", tmp_path / "stopped.csv"
    marked.write_text((RAMPS + THIRD).format("mark", "mark", "mark"))
    stopped.write_text((RAMPS + THIRD).format("mark", "stop", "mark"))
    config = str(device(tmp_path))
    code, [by_mark], err = simulate(capsys, "--config", config, "--trace", str(marked))
    assert code == 0, err
    code, [by_stop], err = simulate(capsys, "--config", config, "--trace", str(stopped))
    assert code == 0, err  # not stopped at 23 s: the press marked the second trial
    assert by_stop["trials"] == by_mark["trials"] and by_stop["mean_n"] == by_mark["mean_n"]
