"""Less / more on the device: the second button's role, its long press, and the gestures that reach a session."""

from __future__ import annotations

import asyncio

import pytest
from gpiozero.pins.mock import MockFactory

from config.device import HardwareSettings, Pins
from config.units import kgf
from firmware.device.gestures import ButtonGestures
from firmware.realtime.engine import SessionEngine
from firmware.realtime.ppt_runner import TrialButton
from firmware.realtime.sampler import Sample
from firmware.realtime.stop import StopRequest
from firmware.session.decisions import Adjusted
from firmware.session.states import Gesture, Outcome
from hal.clock import VirtualClock
from hal.factory import build_stop_button
from tests.body.helpers import body_plan
from tests.conftest import DEVICE_MAX_N


def engine_in_hold() -> SessionEngine:
    engine = SessionEngine(body_plan(), device_id="d", sample_rate_hz=80.0, device_max_n=DEVICE_MAX_N, armed_at=0.0)
    for n in range(200):
        engine.handle(Sample(n / 80.0, kgf(3.0), 0))
    return engine


def test_the_second_button_takes_its_role_from_the_config(factory: MockFactory) -> None:
    hw = HardwareSettings(backend="hx711-gpio", pins=Pins(stop_button=22, second_button_role="less_more"))
    button = build_stop_button(hw, factory)
    assert button is not None and button.role == "less_more"
    button.close()
    plain = build_stop_button(HardwareSettings(backend="hx711-gpio", pins=Pins(stop_button=22)), factory)
    assert plain is not None and plain.role == "stop"
    plain.close()


@pytest.mark.parametrize(("held_s", "kind", "target"), [(0.3, Gesture.LESS, 2.7), (1.0, Gesture.MORE, 3.3)])
def test_a_press_of_the_less_more_pin_is_a_check_in_by_its_length(
    factory: MockFactory, held_s: float, kind: Gesture, target: float
) -> None:
    async def scenario() -> None:
        clock = VirtualClock(10.0)
        hw = HardwareSettings(backend="hx711-gpio", pins=Pins(stop_button=22, second_button_role="less_more"))
        button = build_stop_button(hw, factory, clock=clock)
        assert button is not None
        button.pin.clear_states()
        gestures = ButtonGestures(asyncio.Event(), lambda: False)
        gestures.running = StopRequest()
        engine = engine_in_hold()
        gestures.check_in = engine.gesture
        button.set_release_handler(gestures.check_in_up)
        button.pin.drive_low()
        clock.advance(held_s)
        button.pin.drive_high()
        decisions = engine.handle(Sample(200 / 80.0, kgf(3.0), 0))
        adjusted = [d for d in decisions if isinstance(d, Adjusted)]
        assert [(d.kind, d.target_n) for d in adjusted] == [(kind, pytest.approx(kgf(target)))]
        assert gestures.running is not None and not gestures.running.requested  # a check-in never stops
        button.close()

    asyncio.run(scenario())


def test_check_ins_reach_nothing_between_sessions_or_in_a_trial() -> None:
    gestures = ButtonGestures(asyncio.Event(), lambda: False)
    gestures.check_in_up(0.2)  # idle: nothing to adjust, nothing raised
    engine = engine_in_hold()
    gestures.check_in = engine.gesture
    gestures.trial_button = TrialButton()
    gestures.check_in_up(0.2)
    assert not [d for d in engine.handle(Sample(2.5, kgf(3.0), 0)) if isinstance(d, Adjusted)]


def test_stop_stays_one_press_of_the_first_button_during_check_ins() -> None:
    gestures = ButtonGestures(asyncio.Event(), lambda: False)
    engine = engine_in_hold()
    stop = gestures.running = StopRequest()
    gestures.check_in = engine.gesture
    gestures.check_in_up(1.5)
    gestures.down()
    assert stop.requested and stop.source == "button"
    engine.stop(200 / 80.0, "button")
    assert engine.controller.outcome is Outcome.STOPPED
