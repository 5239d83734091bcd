"""The emulated HX711's pins front: DOUT and PD_SCK as two gpiozero mock pins.

The bit-banging GPIO driver reads and writes these pins as it would real
ones.  DOUT computes its level from the chip when read and PD_SCK reports
each edge to the chip when written, so nothing runs in the background and
the emulation stays exact on a virtual clock.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from gpiozero.pins.mock import MockPin, MockPWMPin, PinState

if TYPE_CHECKING:
    from simulator.hx711_chip import HX711Chip

#: Pin history kept per emulated pin (a long simulation clocks millions of edges).
PIN_HISTORY = 1024


class _BoundedHistory:
    """Mixin: keep the last ``PIN_HISTORY`` states instead of every edge ever."""

    states: deque[Any]
    _state: Any
    _last_change: float

    def clear_states(self) -> None:
        self._last_change = time.monotonic()
        self.states = deque([PinState(0.0, self._state)], maxlen=PIN_HISTORY)


class _DoutMixin(_BoundedHistory):
    chip: HX711Chip | None = None

    def _get_state(self) -> Any:
        chip = self.chip
        if chip is None:
            return super()._get_state()  # type: ignore[misc]
        level = chip.dout_level()
        self._change_state(level)  # type: ignore[attr-defined]
        return level


class _SckMixin(_BoundedHistory):
    chip: HX711Chip | None = None

    def _set_state(self, value: Any) -> None:
        super()._set_state(value)  # type: ignore[misc]
        chip = self.chip
        if chip is not None:
            chip.on_sck(bool(value))


class DoutPin(_DoutMixin, MockPin):  # type: ignore[misc]
    """DOUT on a factory whose default pins are ``MockPin``."""


class DoutPWMPin(_DoutMixin, MockPWMPin):  # type: ignore[misc]
    """DOUT on a factory whose default pins are ``MockPWMPin`` (gpiozero checks PWM-ness)."""


class SckPin(_SckMixin, MockPin):  # type: ignore[misc]
    """SCK on a ``MockPin`` factory."""


class SckPWMPin(_SckMixin, MockPWMPin):  # type: ignore[misc]
    """SCK on a ``MockPWMPin`` factory."""


class PinsFront:
    """The chip's two pins on a gpiozero mock ``factory``; create it before the driver asks for them."""

    def __init__(self, chip: HX711Chip, factory: Any, dout_pin: int | None, sck_pin: int | None) -> None:
        if dout_pin is None or sck_pin is None:
            raise ValueError("the pins front needs dout_pin and sck_pin")
        pwm = issubclass(factory.pin_class, MockPWMPin)
        self.dout: Any = _make_pin(factory, dout_pin, DoutPWMPin if pwm else DoutPin)
        self.sck: Any = _make_pin(factory, sck_pin, SckPWMPin if pwm else SckPin)
        self.dout.chip = chip
        self.sck.chip = chip

    def detach(self) -> None:
        """The pins go back to plain mock pins."""
        self.dout.chip = None
        self.sck.chip = None


def _make_pin(factory: Any, number: int, pin_class: type[Any]) -> Any:
    pin = factory.pin(number, pin_class=pin_class)
    if not isinstance(pin, pin_class):
        raise ValueError(
            f"GPIO{number} already exists as a {type(pin).__name__}; "
            "create the HX711 chip before anything uses its pins"
        )
    return pin
