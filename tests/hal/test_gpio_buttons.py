"""The start/stop button on gpiozero mock pins, debounced on a virtual clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from config.device import HardwareSettings, Pins
from hal.clock import VirtualClock
from hal.factory import build_button, build_stop_button
from hal.gpio_buttons import GpioButton

BUTTON_PIN = 17


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(50.0)


@pytest.fixture
def button(factory: MockFactory, clock: VirtualClock) -> Iterator[GpioButton]:
    button = GpioButton(BUTTON_PIN, pin_factory=factory, clock=clock, bounce_time_s=0.03)
    button.pin.clear_states()  # pull-up recorded [False, True] at creation
    yield button
    button.close()


def press(button: GpioButton) -> None:
    button.pin.drive_low()
    button.pin.drive_high()


def test_press_calls_the_handler(button: GpioButton, clock: VirtualClock) -> None:
    calls: list[float] = []
    button.set_handler(lambda: calls.append(clock.now()))
    press(button)
    assert calls == [50.0]
    clock.advance(1.0)
    press(button)
    assert calls == [50.0, 51.0]
    assert [s.state for s in button.pin.states] == [True, False, True, False, True]


def test_release_alone_does_not_call(button: GpioButton) -> None:
    calls: list[int] = []
    button.set_handler(lambda: calls.append(1))
    button.pin.drive_low()
    assert calls == [1]
    button.pin.drive_high()
    assert calls == [1]


def test_contact_bounce_is_one_press(button: GpioButton, clock: VirtualClock) -> None:
    calls: list[int] = []
    button.set_handler(lambda: calls.append(1))
    for _ in range(4):  # a bouncing contact: four closures within 8 ms
        press(button)
        clock.advance(0.002)
    assert calls == [1]
    assert button.bounces_ignored == 3
    clock.advance(0.05)
    press(button)
    assert calls == [1, 1]


def test_no_handler_or_handler_removed(button: GpioButton, clock: VirtualClock) -> None:
    press(button)  # no handler yet: nothing happens, nothing raises
    calls: list[int] = []
    button.set_handler(lambda: calls.append(1))
    button.set_handler(None)
    clock.advance(1.0)
    press(button)
    assert calls == []
    assert button.presses == 2


def test_closed_button_reports_nothing(factory: MockFactory, clock: VirtualClock) -> None:
    button = GpioButton(BUTTON_PIN, pin_factory=factory, clock=clock)
    calls: list[int] = []
    button.set_handler(lambda: calls.append(1))
    pin = button.pin
    button.close()
    pin.drive_low()
    pin.drive_high()
    assert calls == []


def test_built_from_the_config(factory: MockFactory, clock: VirtualClock) -> None:
    hw = HardwareSettings(pins=Pins(button=22, stop_button=23))
    start = build_button(hw, factory, clock=clock)
    stop = build_stop_button(hw, factory, clock=clock)
    try:
        assert stop is not None
        hits: list[str] = []
        start.set_handler(lambda: hits.append("start"))
        stop.set_handler(lambda: hits.append("stop"))
        for pin in (23, 22):
            factory.pin(pin).drive_low()
            factory.pin(pin).drive_high()  # released: gpiozero's hold thread stops waiting
        assert hits == ["stop", "start"]
    finally:
        start.close()
        if stop is not None:
            stop.close()
    assert build_stop_button(HardwareSettings(), factory) is None


def test_release_handler_gets_the_held_time() -> None:
    from gpiozero.pins.mock import MockFactory

    from hal.clock import VirtualClock
    from hal.gpio_buttons import GpioButton

    factory = MockFactory()
    clock = VirtualClock()
    button = GpioButton(17, pin_factory=factory, clock=clock)
    held: list[float] = []
    button.set_release_handler(held.append)
    try:
        button.pin.drive_low()
        clock.advance(2.5)
        button.pin.drive_high()
        button.pin.drive_low()
        clock.advance(0.2)
        button.pin.drive_high()
        assert held == pytest.approx([2.5, 0.2])
    finally:
        button.close()
        factory.reset()


def test_the_buttons_start_no_thread_of_their_own(factory: MockFactory, clock: VirtualClock) -> None:
    # gpiozero's Button starts a hold thread that wakes ten times a second: in the real-time
    # process it would take the GIL twenty times a second for two buttons, held or not.
    before = threading.active_count()
    buttons = [GpioButton(pin, pin_factory=factory, clock=clock) for pin in (BUTTON_PIN, BUTTON_PIN + 1)]
    try:
        assert threading.active_count() == before
        held: list[float] = []
        buttons[0].set_release_handler(held.append)
        buttons[0].pin.drive_low()
        assert buttons[0].is_pressed
        clock.advance(2.5)
        buttons[0].pin.drive_high()
        assert not buttons[0].is_pressed
        assert held == [2.5]  # a long hold is still measured, from the press's own edges
    finally:
        for button in buttons:
            button.close()
