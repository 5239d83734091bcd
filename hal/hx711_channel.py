"""What the GPIO and SPI HX711 backends share: channel A's gain and the read loop.

A backend says how to wait for DOUT low and how to clock one conversion
out; this class keeps track of which gain each conversion was made at (the
pulses of one transfer choose the *next* conversion), drops the ones made at
an old gain, and counts what happened.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from dataclasses import dataclass

from hal.clock import Clock
from hal.hx711_protocol import POWER_ON_PULSES, PULSES_FOR_GAIN, Gain
from hal.sensor import ForceSensor, SensorError


@dataclass(slots=True)
class HX711ReadStats:
    """Counts every backend keeps; the sampler and ``selfcheck`` report them."""

    reads: int = 0
    timeouts: int = 0
    #: Conversions read and dropped because they were made at the previous gain.
    gain_discards: int = 0


def pulses_for(gain: Gain) -> int:
    if gain not in PULSES_FOR_GAIN:
        raise ValueError(f"HX711 channel A gain must be 128 or 64, not {gain!r}")
    return PULSES_FOR_GAIN[gain]


class HX711ChannelA(ForceSensor):
    """Channel A of one HX711, whatever clocks it."""

    stats: HX711ReadStats

    def __init__(self, clock: Clock, gain: Gain, sample_rate_hz: float) -> None:
        self._pulses = pulses_for(gain)
        self._gain: Gain = gain
        self.sample_rate_hz = float(sample_rate_hz)
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False
        #: Pulses that chose the conversion the chip is making now; ``None``: unknown.
        self._selected: int | None = POWER_ON_PULSES

    @property
    def gain(self) -> Gain:
        return self._gain

    def set_gain(self, gain: Gain) -> None:
        """Switch channel A gain; the next ``read`` drops the conversion made at the old gain."""
        pulses = pulses_for(gain)
        with self._lock:
            self._gain = gain
            self._pulses = pulses

    def read(self, timeout_s: float) -> int | None:
        with self._lock:
            self._check_open()
            deadline = self._clock.now() + max(0.0, timeout_s)
            while True:
                if not self._wait_ready(deadline):
                    self.stats.timeouts += 1
                    return None
                value = self._take()
                if value is not None:
                    return value

    def _check_open(self) -> None:
        if self._closed:
            raise SensorError("HX711 sensor is closed")

    def _take(self) -> int | None:
        """Clock out the conversion waiting: the reading, or ``None`` when it is dropped (desync, old gain)."""
        value = self._clock_out(self._pulses)
        if value is None:
            return None  # the backend dropped it (and set ``_selected``): wait for a fresh one
        made_with, self._selected = self._selected, self._pulses
        if made_with != self._pulses:
            self.stats.gain_discards += 1
            return None
        self.stats.reads += 1
        return value

    @abstractmethod
    def _wait_ready(self, deadline: float) -> bool:
        """Wait (bounded, on the clock) for DOUT low; ``False`` at the deadline."""

    @abstractmethod
    def _clock_out(self, pulses: int) -> int | None:
        """Clock one conversion out with ``pulses`` pulses; ``None``: not a valid reading."""
