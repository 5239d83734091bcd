"""The emulated rig's two buttons on mock pins, and scripted presses as edges on them."""

from __future__ import annotations

import pytest

from config.device import SECOND_BUTTON_PIN, HardwareSettings, Pins
from config.errors import PresspointError
from hal.buttons import VirtualButton
from hal.buttons_scripted import LONG_PRESS_HELD_S, SHORT_PRESS_S, ScriptedButtons, press_edges
from hal.clock import VirtualClock
from simulator.loadcell import SIMULATED_CALIBRATION
from simulator.pin_rig import build_emulated_rig, build_pin_rig, build_spi_rig


@pytest.mark.parametrize("build", [build_pin_rig, build_spi_rig], ids=["gpio", "spi"])
def test_without_a_configured_second_button_the_rig_wires_less_more_on_gpio27(build) -> None:  # type: ignore[no-untyped-def]
    clock = VirtualClock()
    with build(lambda t: 0.0, SIMULATED_CALIBRATION, clock) as rig:
        main, second = rig.buttons
        assert (main.pin.info.name, main.role) == ("GPIO17", "start_stop")
        assert (second.pin.info.name, second.role) == (f"GPIO{SECOND_BUTTON_PIN}", "less_more")
        released: list[float] = []
        second.set_release_handler(released.append)
        second.pin.drive_low()
        clock.advance(1.2)
        second.pin.drive_high()
        assert released == [pytest.approx(1.2)] and second.presses == 1  # measured on the rig's clock


def test_a_configured_second_button_keeps_its_pin_and_role() -> None:
    hw = HardwareSettings(backend="hx711-gpio", pins=Pins(stop_button=22, second_button_role="stop"))
    with build_emulated_rig(lambda t: 0.0, SIMULATED_CALIBRATION, VirtualClock(), hardware=hw) as rig:
        assert [(b.pin.info.name, b.role) for b in rig.buttons] == [("GPIO17", "start_stop"), ("GPIO22", "stop")]


def test_a_pin_on_gpio27_refuses_the_default_second_button_in_one_line() -> None:
    hw = HardwareSettings(backend="hx711-gpio", pins=Pins(motor=SECOND_BUTTON_PIN))
    with pytest.raises(PresspointError, match=r"^hardware\.pins\.motor: GPIO27 .* set pins\.stop_button"):
        build_pin_rig(lambda t: 0.0, SIMULATED_CALIBRATION, VirtualClock(), hardware=hw)


def test_stop_goes_down_at_its_time_and_check_ins_come_up_at_theirs() -> None:
    main, second = VirtualButton(), VirtualButton("less_more")
    edges = press_edges([(5.0, "less"), (5.05, "more"), (9.0, "stop")], [main, second])
    got = [(e.at_s, e.button is second, e.down) for e in edges]
    less_down = 5.0 - SHORT_PRESS_S
    more_down = max(5.05 - LONG_PRESS_HELD_S, 5.0)  # waits for the release of the press before
    assert got == [
        (pytest.approx(less_down), True, True),
        (pytest.approx(5.0), True, False),
        (pytest.approx(more_down), True, True),
        (pytest.approx(more_down + LONG_PRESS_HELD_S), True, False),
        (9.0, False, True),
        (pytest.approx(9.0 + SHORT_PRESS_S), False, False),
    ]


def test_a_check_in_without_a_less_more_button_is_refused_in_one_line() -> None:
    with pytest.raises(PresspointError, match=r"presses 'more' but the device has no less_more button"):
        press_edges([(1.0, "more")], [VirtualButton(), VirtualButton("stop")])


def test_release_all_lets_go_of_a_held_button_and_presses_nothing_more() -> None:
    main, second = VirtualButton(), VirtualButton("less_more")
    said: list[float] = []
    second.set_release_handler(said.append)
    scripted = ScriptedButtons(press_edges([(3.0, "more"), (8.0, "less"), (9.0, "stop")], [main, second]))
    scripted.due(2.0)  # the "more" press is down
    assert second.presses == 1 and said == []
    scripted.release_all()
    scripted.due(100.0)
    assert said == [pytest.approx(LONG_PRESS_HELD_S)] and second.presses == 1 and main.presses == 0
