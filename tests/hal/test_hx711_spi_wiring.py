"""The SPI wiring assumptions, bit by bit, with gpiozero's own software SPI and ``MockSPIDevice``.

gpiozero's ``MockSPIInterface`` bit-bangs SCLK/MOSI/MISO on mock pins and
calls a ``MockSPIDevice`` at every active SCLK edge.  The device below is
the HX711 as wired: PD_SCK follows MOSI, DOUT drives MISO; it drives the
same chip model as the emulator's fronts.  (gpiozero 2.0.1's ``MockFactory``
has no ``spi_class`` argument: a ``MockSPIDevice`` attaches itself to the
pins it is built on, and ``factory.spi`` then talks to it.  Its software SPI
bus also builds a ``Device`` without passing the factory on, so the factory
must be ``Device.pin_factory`` too.)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import Device, DigitalOutputDevice
from gpiozero.exc import SPISoftwareFallback
from gpiozero.pins.mock import MockFactory, MockSPIDevice

from config.device import HardwareSettings
from hal.clock import VirtualClock
from hal.factory import build_hx711_sensor, open_hx711_spi
from hal.hx711_spi import HX711SpiSensor
from hal.hx711_spi_bits import READY_PROBE, conversion_pattern, decode_conversion
from hal.sensor import HX711_MIN_COUNTS, SensorError
from simulator.hx711_chip import HX711Chip

SCLK, MOSI, MISO, CE0 = 11, 10, 9, 8
RATE = 80.0
BIT_S = 1 / 500_000


class HX711OnSpiPins(MockSPIDevice):  # type: ignore[misc]
    """The HX711 on SPI0 as wired: MOSI -> PD_SCK, MISO <- DOUT (SCLK and CE unused by the chip)."""

    def __init__(self, chip: HX711Chip, factory: MockFactory, clock: VirtualClock) -> None:
        super().__init__(clock_pin=SCLK, mosi_pin=MOSI, miso_pin=MISO, select_pin=CE0, pin_factory=factory)
        self.chip = chip
        self.clock = clock  # gpiozero's software SPI takes no time: each bit lasts BIT_S here
        self.pd_sck = False
        self.pulses_per_transfer: list[int] = []
        #: (pulse number, MISO level) for each SCLK edge that sampled a `1` bit.
        self.sampled: list[tuple[int, bool]] = []

    def on_start(self) -> None:
        super().on_start()
        self.pulses_per_transfer.append(0)

    def on_bit(self) -> None:
        # Called at the SCLK edge where the master samples MISO (mode 0: the rising edge),
        # after gpiozero set MOSI for this bit - the chip already saw PD_SCK follow it.
        mosi = bool(self.rx_buf[-1])
        if mosi != self.pd_sck:
            self.pd_sck = mosi
            self.chip.on_sck(mosi)
            if mosi:
                self.pulses_per_transfer[-1] += 1
        self.clock.advance(BIT_S / 2)  # SCLK rises mid-bit
        dout = self.chip.dout_level()
        self.clock.advance(BIT_S / 2)
        if mosi:
            self.sampled.append((self.pulses_per_transfer[-1], dout))
        if dout:
            self.miso_pin.drive_high()
        else:
            self.miso_pin.drive_low()


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[VirtualClock, MockFactory, HX711Chip, HX711OnSpiPins]]:
    clock = VirtualClock()
    factory = MockFactory()
    monkeypatch.setattr(Device, "pin_factory", factory)
    values = iter([0x5A_5A_5A, HX711_MIN_COUNTS, -2000])
    chip = HX711Chip(clock=clock, force_source=lambda t: next(values, 0), sample_rate_hz=RATE)
    device = HX711OnSpiPins(chip, factory, clock)
    yield clock, factory, chip, device
    device.close()
    factory.reset()


def test_one_transfer_per_conversion_with_the_gain_pulses_on_mosi(rig: tuple[VirtualClock, MockFactory,
                                                                                HX711Chip, HX711OnSpiPins]) -> None:
    clock, factory, chip, device = rig
    spi = factory.spi(clock_pin=SCLK, mosi_pin=MOSI, miso_pin=MISO, select_pin=CE0)
    try:
        sensor = HX711SpiSensor(spi, clock=clock, sample_rate_hz=RATE)
        assert spi.clock_mode == 0
        assert chip.power_downs == 1  # the start-up reset held MOSI (PD_SCK) high for 1 ms
        device.pulses_per_transfer.clear()
        device.sampled.clear()
        assert sensor.read(1 / RATE) == 0x5A_5A_5A
        # Start-up already saw this conversion ready: one transfer of exactly 25 pulses (A/128).
        assert device.pulses_per_transfer == [25]
        data_bits = [level for pulse, level in device.sampled if pulse <= 24]
        assert data_bits == [bool(0x5A_5A_5A >> (23 - i) & 1) for i in range(24)]
        assert [level for pulse, level in device.sampled if pulse > 24] == [True]  # DOUT high after

        sensor.set_gain(64)
        device.pulses_per_transfer.clear()
        # The conversion made at A/128 is dropped; the next, made at A/64, reads half the counts.
        assert sensor.read(3 / RATE) == -1000
        assert sensor.stats.gain_discards == 1
        assert [n for n in device.pulses_per_transfer if n] == [27, 27]
        assert chip.errors == []
    finally:
        spi.close()


@pytest.mark.parametrize(("pulses", "gain"), [(25, ("A", 128)), (26, ("B", 32)), (27, ("A", 64))])
def test_pulse_count_on_mosi_selects_the_gain(rig: tuple[VirtualClock, MockFactory, HX711Chip, HX711OnSpiPins],
                                             pulses: int, gain: tuple[str, int]) -> None:
    clock, factory, chip, device = rig
    spi = factory.spi(clock_pin=SCLK, mosi_pin=MOSI, miso_pin=MISO, select_pin=CE0)
    try:
        clock.sleep_until(chip.conversion_time(0))
        assert spi.transfer(READY_PROBE) == [0]
        assert decode_conversion(spi.transfer(conversion_pattern(pulses))) == 0x5A_5A_5A
        assert device.pulses_per_transfer[-1] == pulses
        assert chip.next_gain == gain
        assert chip.errors == []
    finally:
        spi.close()


def test_factory_opens_spi0_by_port_and_device(rig: tuple[VirtualClock, MockFactory, HX711Chip,
                                                          HX711OnSpiPins]) -> None:
    clock, factory, _, _ = rig
    hw = HardwareSettings(backend="hx711-spi")
    sensor = build_hx711_sensor(hw, RATE, clock, factory)
    try:
        assert isinstance(sensor, HX711SpiSensor)
        assert sensor.read(1 / RATE) == 0x5A_5A_5A
    finally:
        sensor.close()


def test_factory_refuses_a_taken_spi_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    factory = MockFactory()
    monkeypatch.setattr(Device, "pin_factory", factory)
    holder = DigitalOutputDevice(MOSI, pin_factory=factory)
    try:
        pins = r"SPI0.0 \(SCLK GPIO11, MOSI GPIO10, MISO GPIO9, CE GPIO8\)"
        with pytest.raises(SensorError, match=pins + ": GPIOPinInUse"):
            open_hx711_spi(HardwareSettings(backend="hx711-spi"), factory)
    finally:
        holder.close()
        factory.reset()


class SoftwareOnlyFactory:
    """A real (non-mock) factory whose kernel SPI is off: gpiozero warns and falls back."""

    def __init__(self, mock: MockFactory) -> None:
        self.mock = mock

    def spi(self, **spi_args: Any) -> Any:
        warnings.warn(SPISoftwareFallback("failed to initialize hardware SPI, falling back to software "
                                          "(error was: no /dev/spidev0.0)"), stacklevel=2)
        return self.mock.spi(**spi_args)


def test_factory_refuses_software_spi_outside_the_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    mock = MockFactory()
    monkeypatch.setattr(Device, "pin_factory", mock)
    try:
        with pytest.raises(SensorError, match=r"no /dev/spidev0.0\) - enable SPI \(dtparam=spi=on\)"):
            open_hx711_spi(HardwareSettings(backend="hx711-spi"), SoftwareOnlyFactory(mock))
    finally:
        mock.reset()
