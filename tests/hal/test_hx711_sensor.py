"""The real driver (through the adapter) over the emulated HX711 chip, in virtual time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin

from hal.clock import VirtualClock
from hal.hx711_adapter import HX711Sensor
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, SensorError
from simulator.hx711_chip import HX711Chip

DOUT, SCK = 5, 6
RATE = 80.0
PERIOD = 1 / RATE


@dataclass
class Setup:
    clock: VirtualClock
    factory: MockFactory
    chip: HX711Chip
    counts: dict[str, int | None]

    def sensor(self, **kwargs: Any) -> HX711Sensor:
        options: dict[str, Any] = {"dout_pin": DOUT, "sck_pin": SCK, "pin_factory": self.factory,
                                   "clock": self.clock, "sample_rate_hz": RATE}
        options.update(kwargs)
        sensor = HX711Sensor(**options)
        self._sensors.append(sensor)
        return sensor

    _sensors: list[HX711Sensor]


def _setup(pin_class: type[Any] = MockPWMPin, rate: float = RATE,
           source: Callable[[float], int | None] | None = None) -> Setup:
    clock = VirtualClock(1000.0)
    factory = MockFactory(pin_class=pin_class)
    counts: dict[str, int | None] = {"value": 0}
    chip = HX711Chip(factory, dout_pin=DOUT, sck_pin=SCK, clock=clock,
                     force_source=source or (lambda t: counts["value"]), sample_rate_hz=rate)
    return Setup(clock, factory, chip, counts, [])


@pytest.fixture
def rig() -> Iterator[Setup]:
    setup = _setup()
    yield setup
    for sensor in setup._sensors:
        sensor.close()
    setup.chip.close()
    setup.factory.reset()
    setup.factory.close()


@pytest.mark.parametrize("value", [0, 1, 123_456, 0x7FFFFE, -1, -123_456, -0x7FFFFF])
def test_reads_positive_zero_and_negative_values_exactly(rig: Setup, value: int) -> None:
    rig.counts["value"] = value
    sensor = rig.sensor()
    assert sensor.read(PERIOD) == value
    assert sensor.read(PERIOD) == value
    assert rig.chip.errors == []


@pytest.mark.parametrize(("value", "expected"), [
    (0x7FFFFF, HX711_MAX_COUNTS), (0x900000, HX711_MAX_COUNTS), (10**9, HX711_MAX_COUNTS),
    (-0x800000, HX711_MIN_COUNTS), (-0x900000, HX711_MIN_COUNTS), (-(10**9), HX711_MIN_COUNTS),
])
def test_saturated_values_are_clamped_to_the_adc_limits(rig: Setup, value: int,
                                                        expected: int) -> None:
    rig.counts["value"] = value
    sensor = rig.sensor()
    assert sensor.read(PERIOD) == expected


def test_one_read_per_conversion_at_the_chip_rate(rig: Setup) -> None:
    source_times: list[float] = []

    def ramp(t: float) -> int:
        source_times.append(t)
        return round((t - 1000.0) * 1000)

    setup = _setup(source=ramp)
    try:
        sensor = HX711Sensor(dout_pin=DOUT, sck_pin=SCK, pin_factory=setup.factory,
                             clock=setup.clock, sample_rate_hz=RATE)
        first = setup.clock.now()
        readings = [sensor.read(PERIOD) for _ in range(80)]
        stamps_ok = setup.clock.now()
        assert None not in readings
        # Conversion k is ready at wake + (4 + k) periods; the sensor settles in its constructor.
        expected = [setup.chip.conversion_time(k) for k in range(80)]
        assert readings == [round((t - 1000.0) * 1000) for t in expected]
        assert first == pytest.approx(expected[0])
        # 80 conversions take 79 periods plus one read's 52 µs of virtual bit-banging.
        assert stamps_ok - first == pytest.approx(79 * PERIOD + 52e-6, abs=1e-9)
        assert setup.chip.conversions_read == 80
        assert setup.chip.errors == []
        sensor.close()
    finally:
        setup.chip.close()
        setup.factory.reset()


def test_pick_up_is_exact_in_virtual_time(rig: Setup) -> None:
    """Each read ends 52 µs after its conversion became ready (DOUT fell) - no poll lag."""
    sensor = rig.sensor()
    for _ in range(20):
        assert sensor.read(PERIOD) is not None
        assert rig.chip.last_ready_at is not None
        assert rig.clock.now() - rig.chip.last_ready_at == pytest.approx(52e-6, abs=1e-9)


def test_gain_switching_a128_to_a64_and_back(rig: Setup) -> None:
    rig.counts["value"] = 200_001
    sensor = rig.sensor(gain=128)
    assert sensor.read(PERIOD) == 200_001
    sensor.set_gain(64)
    # The pending conversion was made at gain 128: dropped, the next one is at 64.
    assert sensor.read(3 * PERIOD) == 100_000
    assert sensor.stats.gain_discards == 1
    assert rig.chip.next_gain == ("A", 64)
    assert sensor.read(PERIOD) == 100_000
    sensor.set_gain(128)
    assert sensor.read(3 * PERIOD) == 200_001
    assert sensor.stats.gain_discards == 2
    assert rig.chip.next_gain == ("A", 128)
    assert rig.chip.errors == []


def test_gain_64_from_the_start_drops_the_power_on_conversion(rig: Setup) -> None:
    rig.counts["value"] = -64_000
    sensor = rig.sensor(gain=64)
    assert sensor.read(3 * PERIOD) == -32_000
    assert sensor.stats.gain_discards == 1
    assert sensor.read(PERIOD) == -32_000


def test_gain_is_checked(rig: Setup) -> None:
    with pytest.raises(ValueError, match="128 or 64"):
        rig.sensor(gain=32)


def test_disconnected_chip_times_out_in_virtual_time_without_spinning(rig: Setup) -> None:
    sensor = rig.sensor()
    polls = 0
    level = rig.chip.dout_level

    def counting() -> bool:
        nonlocal polls
        polls += 1
        return level()

    rig.chip.dout_level = counting  # type: ignore[method-assign]
    rig.chip.disconnected = True
    start = rig.clock.now()
    assert sensor.read(3 * PERIOD) is None
    assert rig.clock.now() - start == pytest.approx(3 * PERIOD)
    # Polls on a 0.25 ms grid: about 150 for 37.5 ms, nowhere near a busy loop.
    assert polls <= 3 * PERIOD / 0.25e-3 + 5
    assert sensor.stats.timeouts == 1
    rig.chip.disconnected = False
    assert sensor.read(PERIOD) == 0
    assert rig.chip.errors == []


def test_no_conversion_from_the_source_is_a_timeout(rig: Setup) -> None:
    sensor = rig.sensor()
    assert sensor.read(PERIOD) == 0  # made before the source went away
    rig.counts["value"] = None
    assert sensor.read(2 * PERIOD) is None
    rig.counts["value"] = 77
    assert sensor.read(2 * PERIOD) == 77


def test_zero_timeout_returns_at_once(rig: Setup) -> None:
    sensor = rig.sensor()
    assert sensor.read(PERIOD) is not None
    before = rig.clock.now()
    assert sensor.read(0.0) is None
    assert rig.clock.now() == before


def test_slow_bit_banging_powers_the_chip_down_and_is_caught(rig: Setup) -> None:
    """SCK high > 60 µs: the chip records a protocol error, the adapter drops the reading."""
    def slow(us: float) -> None:
        rig.clock.advance(70e-6)  # every pulse pre-empted between SCK high and SCK low

    rig.counts["value"] = 4242
    sensor = rig.sensor(delay_us=slow)
    assert sensor.read(PERIOD) is None
    assert {error.kind for error in rig.chip.errors} == {"power_down_mid_transfer"}
    assert sensor.stats.overlong_pulses >= 1
    assert sensor.stats.max_high_s > 60e-6
    assert rig.chip.next_gain == ("A", 128)  # reset to power-on gain


def test_one_preempted_pulse_loses_one_reading_then_recovers(rig: Setup) -> None:
    calls = 0

    def once_slow(us: float) -> None:
        nonlocal calls
        calls += 1
        rig.clock.advance(70e-6 if calls == 7 else 1e-6)  # SCK high of the 3rd pulse

    rig.counts["value"] = -4242
    sensor = rig.sensor(delay_us=once_slow, gain=64)
    assert sensor.read(PERIOD) is None
    assert [error.kind for error in rig.chip.errors] == ["power_down_mid_transfer"]
    # The rest of the broken transfer hits a reset chip: counted, not one error per pulse.
    assert rig.chip.pulses_after_lost_transfer == 27 - 3
    assert sensor.stats.overlong_pulses == 1
    # After the chip's settling time (4 periods) and a gain switch, readings are back.
    assert sensor.read(6 * PERIOD) == -2121
    assert sensor.read(PERIOD) == -2121
    assert len(rig.chip.errors) == 1


def test_power_down_mid_transfer_on_the_pins(rig: Setup) -> None:
    """Drive the pins by hand: 3 good pulses, then SCK held high for 61 µs."""
    rig.counts["value"] = 0x123456
    sck, chip, clock = rig.chip.sck, rig.chip, rig.clock
    sck.function = "output"
    clock.advance(chip.conversion_time(0) - clock.now())
    assert chip.dout_level() is False
    for _ in range(3):
        sck.state = True
        clock.advance(1e-6)
        sck.state = False
        clock.advance(1e-6)
    sck.state = True
    clock.advance(61e-6)
    assert chip.powered is False
    assert chip.dout_level() is True
    sck.state = False
    assert chip.powered is True
    assert [e.kind for e in chip.errors] == ["power_down_mid_transfer"]
    assert chip.errors[0].at_s == pytest.approx(clock.now() - 1e-9, abs=2e-6)
    # Woke up again: settling, then conversions at gain 128.
    assert chip.dout_level() is True
    clock.advance(4 * PERIOD)
    assert chip.dout_level() is False


def test_sixty_microseconds_exactly_is_still_fine(rig: Setup) -> None:
    sck, chip, clock = rig.chip.sck, rig.chip, rig.clock
    sck.function = "output"
    clock.advance(chip.conversion_time(0) - clock.now())
    sck.state = True
    clock.advance(59e-6)
    sck.state = False
    assert chip.powered is True and chip.errors == []


def test_idle_reset_is_not_a_protocol_error(rig: Setup) -> None:
    sensor = rig.sensor()
    for _ in range(10):
        sensor.read(PERIOD)
    assert rig.chip.power_downs == 1  # the reset in the driver's constructor
    assert rig.chip.errors == []


def test_protocol_errors_stray_pulse_too_many_and_incomplete(rig: Setup) -> None:
    sck, chip, clock = rig.chip.sck, rig.chip, rig.clock
    sck.function = "output"

    def pulses(n: int) -> None:
        for _ in range(n):
            sck.state = True
            clock.advance(1e-6)
            sck.state = False
            clock.advance(1e-6)

    pulses(1)  # nothing ready yet
    assert [e.kind for e in chip.errors] == ["clock_while_not_ready"]
    clock.advance(chip.conversion_time(0) - clock.now())
    pulses(28)
    assert [e.kind for e in chip.errors][1:] == ["too_many_pulses"]
    clock.advance(chip.conversion_time(1) - clock.now())
    pulses(10)  # then stall for two periods
    clock.advance(2 * PERIOD)
    assert chip.dout_level() is False
    assert [e.kind for e in chip.errors][2:] == ["incomplete_transfer"]


def test_close_powers_the_chip_down_and_releases_the_pins(rig: Setup) -> None:
    sensor = rig.sensor()
    sensor.close()
    rig.clock.advance(100e-6)
    assert rig.chip.powered is False
    sensor.close()  # idempotent
    with pytest.raises(SensorError, match="closed"):
        sensor.read(PERIOD)
    again = rig.sensor()  # pins released: a new sensor can take them
    assert again.read(PERIOD) == 0


def test_pins_in_use_are_refused(rig: Setup) -> None:
    rig.sensor()
    with pytest.raises(SensorError, match="DOUT=5, SCK=6: pin GPIO5 is already in use"):
        rig.sensor()


def test_ten_samples_per_second_chip() -> None:
    setup = _setup(rate=10.0)
    try:
        sensor = HX711Sensor(dout_pin=DOUT, sck_pin=SCK, pin_factory=setup.factory,
                             clock=setup.clock, sample_rate_hz=10.0)
        start = setup.clock.now()
        assert all(sensor.read(0.1) is not None for _ in range(11))
        assert setup.clock.now() - start == pytest.approx(1.0 + 52e-6)
        sensor.close()
    finally:
        setup.chip.close()
        setup.factory.reset()


def test_works_on_a_plain_mockpin_factory_too() -> None:
    setup = _setup(pin_class=MockPin)
    try:
        setup.counts["value"] = -5
        sensor = HX711Sensor(dout_pin=DOUT, sck_pin=SCK, pin_factory=setup.factory,
                             clock=setup.clock, sample_rate_hz=RATE)
        assert sensor.read(PERIOD) == -5
        sensor.close()
    finally:
        setup.chip.close()
        setup.factory.reset()


def test_chip_must_own_its_pins() -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    try:
        factory.pin(DOUT)
        with pytest.raises(ValueError, match="create the HX711 chip before"):
            HX711Chip(factory, dout_pin=DOUT, sck_pin=SCK, clock=VirtualClock(),
                      force_source=lambda t: 0)
    finally:
        factory.reset()


def test_pin_history_is_bounded(rig: Setup) -> None:
    sensor = rig.sensor()
    for _ in range(30):  # 30 × 50 SCK edges
        sensor.read(PERIOD)
    assert len(rig.chip.sck.states) == 1024


def test_a_pin_failure_mid_transfer_leaves_the_gc_on(rig: Setup) -> None:
    import gc

    sensor = rig.sensor()
    reads = 0
    level = rig.chip.dout_level

    def failing() -> bool:
        nonlocal reads
        reads += 1
        if reads == 5:
            raise OSError("GPIO gone")
        return level()

    rig.chip.dout_level = failing  # type: ignore[method-assign]
    with pytest.raises(OSError, match="GPIO gone"):
        for _ in range(3):
            sensor.read(PERIOD)
    assert gc.isenabled()


def test_realtime_priority_applies_to_the_calling_thread_only() -> None:
    import os
    import threading

    from hal.hx711_adapter import try_realtime_priority

    seen: dict[str, object] = {}

    def sampler_thread() -> None:
        seen["granted"] = try_realtime_priority(10)
        seen["policy"] = os.sched_getscheduler(0)

    worker = threading.Thread(target=sampler_thread)
    worker.start()
    worker.join()
    assert isinstance(seen["granted"], bool)
    if seen["granted"]:
        assert seen["policy"] == os.SCHED_FIFO
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own thread untouched
