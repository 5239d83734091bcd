"""Stop is one press that nothing delays: properties over random press sequences on both buttons.

Whatever the person does with the ``less_more`` button - short or long
presses, one held across the stop, presses in any phase - the first press
of the start/stop button ends the session at the next sample, through the
device's own button code (``ButtonGestures`` behind ``connect_buttons``), and
in the virtual-time driver ``simulate`` uses.
"""

from __future__ import annotations

import asyncio
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.device import DeviceConfig
from config.units import kgf
from firmware.device.gestures import ButtonGestures, connect_buttons
from firmware.realtime.engine import SessionEngine
from firmware.realtime.sampler import Sample, Sampler
from firmware.realtime.stop import StopRequest
from firmware.realtime.virtual import run_virtual_session
from firmware.session.states import Outcome
from hal.buttons import VirtualButton
from hal.buttons_scripted import press_edges
from hal.clock import VirtualClock
from simulator.haptics import RecordingHaptics
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import ForceTrace, Keyframe
from tests.body.helpers import body_plan
from tests.conftest import DEVICE_MAX_N

RATE = 80.0
PLAN = body_plan(repetitions=2, rest_s=5, adjust_step=0.25, max_increments=5)
#: Contact at 1 s, the band by 3 s, holds and rests of both repetitions, then letting go.
TRACE = ForceTrace(
    [Keyframe(0, 0), Keyframe(1, 0), Keyframe(3, kgf(3.0)), Keyframe(36, kgf(3.0)), Keyframe(37, 0),
     Keyframe(43, 0), Keyframe(45, kgf(3.0)), Keyframe(78, kgf(3.0)), Keyframe(79, 0)]
)  # fmt: skip
END_S = 90.0

times = st.floats(min_value=0.0, max_value=END_S, allow_nan=False).map(lambda t: round(t, 4))
check_ins = st.lists(st.tuples(times, st.sampled_from(["less", "more"])), max_size=12)


def presses(data: st.DataObject) -> list[tuple[float, str]]:
    """Check-ins anywhere, and one or more stops (the first one counts)."""
    said = data.draw(check_ins) + [(t, "stop") for t in data.draw(st.lists(times, min_size=1, max_size=3))]
    return sorted(said)


def first_stop(said: list[tuple[float, str]]) -> float:
    return min(t for t, name in said if name == "stop")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_devices_buttons_stop_at_the_next_sample_whatever_the_check_ins(data: st.DataObject) -> None:
    said = presses(data)
    stop_at = first_stop(said)

    async def session() -> tuple[SessionEngine, int | None, bool]:
        loop = asyncio.get_running_loop()
        start = asyncio.Event()
        gestures = ButtonGestures(start, lambda: False)
        stop = gestures.running = StopRequest()
        engine = SessionEngine(PLAN, device_id="d", sample_rate_hz=RATE, device_max_n=DEVICE_MAX_N, armed_at=0.0)
        gestures.check_in = engine.gesture
        buttons = [VirtualButton(), VirtualButton("less_more")]
        disconnect = connect_buttons(buttons, loop, gestures.down, gestures.up, gestures.check_in_up)
        edges = press_edges(said, buttons)
        stopped_at: int | None = None
        try:
            for n in range(int(END_S * RATE) + 200):
                t = n / RATE
                while edges and edges[0].at_s <= t:
                    edges.pop(0).apply()
                await asyncio.sleep(0)  # the loop runs what the buttons handed over, as in the daemon
                if stop.requested:
                    assert stop.source == "button"
                    engine.stop(t, stop.source)
                    stopped_at = n
                    break
                engine.handle(Sample(t, TRACE.force_at(t) or 0.0, 0))
                if engine.finished:
                    break
        finally:
            disconnect()
        return engine, stopped_at, start.is_set()

    engine, stopped_at, started = asyncio.run(session())
    due = math.ceil(stop_at * RATE - 1e-6)  # the first sample at or after the press
    assert not started  # the release of a stop press starts nothing
    if engine.controller.outcome is Outcome.STOPPED:
        assert stopped_at == due and engine.controller.ended_at == due / RATE
    else:  # it ended by itself first (completed), before the stop was due
        assert stopped_at is None and engine.controller.ended_at is not None
        assert engine.controller.ended_at < due / RATE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_virtual_driver_stops_at_the_press_whatever_the_check_ins(data: st.DataObject) -> None:
    said = presses(data)
    stop_at = first_stop(said)
    clock = VirtualClock()
    sensor = SimulatedLoadCell(TRACE, clock, sample_rate_hz=RATE)
    sampler = Sampler(sensor, SIMULATED_CALIBRATION, clock)
    buttons = [VirtualButton(), VirtualButton("less_more")]
    summary = run_virtual_session(
        PLAN, sampler=sampler, haptics=RecordingHaptics(clock), clock=clock, device_id="d",
        device_max_n=DeviceConfig().device_max, presses=said, buttons=buttons,
    )  # fmt: skip
    if summary.outcome == "stopped":
        assert summary.stop_source == "button" and summary.duration_s == stop_at
        assert buttons[0].presses == 1  # the first stop press, and no other
    else:
        assert summary.outcome == "completed" and summary.duration_s < stop_at
    late = [a for hold in summary.holds for a in hold.adjustments if a.at_s > stop_at]
    assert late == []  # nothing is said after the stop


def test_a_stop_press_between_samples_is_taken_at_its_moment_though_a_cue_changes_the_motor_before_the_next() -> None:
    # A check-in's acknowledgment cue changes the motor at 19.8175 s, after the stop press at
    # 19.8164 s and before the next sample (19.825 s): the press comes first, at its own time.
    said = [(19.4375, "less"), (19.8164, "stop")]
    clock = VirtualClock()
    sensor = SimulatedLoadCell(TRACE, clock, sample_rate_hz=RATE)
    haptics = RecordingHaptics(clock)
    summary = run_virtual_session(
        PLAN, sampler=Sampler(sensor, SIMULATED_CALIBRATION, clock), haptics=haptics, clock=clock, device_id="d",
        device_max_n=DeviceConfig().device_max, presses=said, buttons=[VirtualButton(), VirtualButton("less_more")],
    )  # fmt: skip
    assert (summary.outcome, summary.stop_source) == ("stopped", "button")
    assert summary.duration_s == 19.8164
    assert haptics.changes == sorted(haptics.changes)  # the motor's changes in time order, none moved back
