"""``HX711SpiSensor`` over the emulator's SPI front, in virtual time."""

from __future__ import annotations

import pytest

from hal.clock import VirtualClock
from hal.hx711_protocol import Gain
from hal.hx711_spi import HX711SpiSensor
from hal.sensor import HX711_MAX_COUNTS, HX711_MIN_COUNTS, SensorError
from simulator.hx711_chip import HX711Chip
from simulator.hx711_spi_front import HX711SpiFront

RATE = 80.0
PERIOD = 1 / RATE
#: At 500 kHz: an 8-bit ready probe, then the 56-bit conversion transfer.
READ_TAKES_S = (8 + 56) / 500_000


class Counts:
    """A settable chip input (gain-128 counts)."""

    def __init__(self, value: int | None = 0) -> None:
        self.value = value

    def __call__(self, t: float) -> int | None:
        return self.value


def setup(value: int | None = 0, *, gain: Gain = 128, rate: float = RATE) -> tuple[VirtualClock, HX711Chip,
                                                                                  HX711SpiFront, HX711SpiSensor,
                                                                                  Counts]:
    clock = VirtualClock()
    counts = Counts(value)
    chip = HX711Chip(clock=clock, force_source=counts, sample_rate_hz=rate)
    front = HX711SpiFront(chip)
    sensor = HX711SpiSensor(front, clock=clock, gain=gain, sample_rate_hz=rate)
    return clock, chip, front, sensor, counts


def test_start_resets_the_chip_and_waits_out_the_settling() -> None:
    clock, chip, front, sensor, _ = setup(1234)
    assert chip.power_downs == 1  # the reset: MOSI high for 1 ms
    assert front.clock_mode == 0
    woke = chip.conversion_time(0) - 4 * PERIOD
    assert clock.now() == pytest.approx(woke + 4 * PERIOD + 8 / 500_000)
    assert sensor.read(PERIOD) == 1234
    assert chip.errors == []


@pytest.mark.parametrize("rate", [10.0, 80.0])
def test_readings_follow_the_chip_one_per_period(rate: float) -> None:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: round(100_000 * t) - 9000, sample_rate_hz=rate)
    sensor = HX711SpiSensor(HX711SpiFront(chip), clock=clock, sample_rate_hz=rate)
    for _ in range(20):
        raw = sensor.read(1 / rate)
        assert chip.last_ready_at is not None
        assert raw == round(100_000 * chip.last_ready_at) - 9000
        # Picked up when ready (on the poll grid), done one probe and one transfer later.
        assert clock.now() - chip.last_ready_at == pytest.approx(READ_TAKES_S, abs=1e-9)
    assert sensor.stats.reads == 20 and sensor.stats.timeouts == 0
    assert chip.errors == []


def test_few_bus_transfers_per_conversion_once_on_schedule() -> None:
    _, _, front, sensor, _ = setup()
    for _ in range(40):
        sensor.read(PERIOD)
    before = front.transfers
    for _ in range(100):
        sensor.read(PERIOD)
    assert (front.transfers - before) / 100 <= 3  # probes before ready + the conversion


@pytest.mark.parametrize(("raw", "expected"), [
    (10**9, HX711_MAX_COUNTS), (-(10**9), HX711_MIN_COUNTS), (-1, -1), (HX711_MAX_COUNTS, HX711_MAX_COUNTS),
])
def test_saturation_and_negative_values(raw: int, expected: int) -> None:
    _, _, _, sensor, _ = setup(raw)
    assert sensor.read(PERIOD) == expected


def test_gain_64_at_start_is_settled_before_the_first_read() -> None:
    _, chip, _, sensor, _ = setup(20_000, gain=64)
    # The first conversion after reset is at A/128; switching costs one more settling time.
    assert sensor.stats.settling_discards >= 4
    assert chip.next_gain == ("A", 64)
    assert sensor.read(PERIOD) == 10_000
    assert sensor.stats.gain_discards == 0


def test_gain_change_mid_session_drops_one_conversion_and_does_not_wait() -> None:
    clock, _, _, sensor, _ = setup(20_000)
    assert sensor.read(PERIOD) == 20_000
    sensor.set_gain(64)
    start = clock.now()
    assert sensor.read(3 * PERIOD) == 10_000
    assert sensor.stats.gain_discards == 1
    assert clock.now() - start < 2 * PERIOD + READ_TAKES_S
    assert sensor.gain == 64
    with pytest.raises(ValueError, match="128 or 64"):
        sensor.set_gain(32)  # type: ignore[arg-type]


def test_disconnect_gives_bounded_timeouts() -> None:
    clock, chip, _, sensor, _ = setup(5)
    assert sensor.read(PERIOD) == 5
    chip.disconnected = True  # DOUT stuck high: MISO all ones
    for _ in range(3):
        start = clock.now()
        assert sensor.read(PERIOD) is None
        assert clock.now() - start == pytest.approx(PERIOD, abs=1e-9)
    assert sensor.stats.timeouts == 3
    chip.disconnected = False
    assert sensor.read(PERIOD) == 5


def test_no_conversion_is_a_timeout_that_ends_at_the_deadline() -> None:
    clock, _, _, sensor, counts = setup(5)
    sensor.read(PERIOD)
    counts.value = None
    start = clock.now()
    assert sensor.read(PERIOD) is None
    assert clock.now() == pytest.approx(start + PERIOD, abs=1e-12)


def test_desync_is_counted_and_the_reading_discarded() -> None:
    _, chip, _, sensor, counts = setup(100)
    assert sensor.read(PERIOD) == 100
    chip.desync = True  # DOUT stays low after the gain pulses
    counts.value = 200
    assert sensor.read(PERIOD) is None  # every conversion in the window is garbled
    assert sensor.stats.desyncs >= 1
    desyncs = sensor.stats.desyncs
    chip.desync = False
    # The first conversion after a desync may be at any gain (the chip saw > 27 pulses: A/64 here).
    assert sensor.read(3 * PERIOD) == 200
    assert sensor.stats.desyncs == desyncs
    assert sensor.stats.gain_discards == 1
    # Pulses clocked into a chip that only looked ready (DOUT low after the desync) are all it saw wrong;
    # a look timed at the conversion itself clocks out a real one, so there may be none.
    assert {error.kind for error in chip.errors} <= {"too_many_pulses"}


def test_one_desync_costs_one_conversion_not_a_busy_loop() -> None:
    _, chip, front, sensor, _ = setup(7)
    sensor.read(PERIOD)
    chip.desync = True
    before = front.transfers
    sensor.read(PERIOD)  # the conversion is garbled; DOUT then looks "ready" all the time
    assert front.transfers - before <= 6  # held off until the next conversion, not spinning on DOUT
    chip.desync = False


def test_a_chip_that_never_answers_fails_fast_at_start() -> None:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 0, sample_rate_hz=RATE)
    chip.disconnected = True
    sensor = HX711SpiSensor(HX711SpiFront(chip), clock=clock, sample_rate_hz=RATE)
    assert clock.now() <= 6 * PERIOD + 0.01  # settling + 2 periods, bounded
    assert sensor.read(PERIOD) is None


def test_bus_errors_become_sensor_errors() -> None:
    _, _, front, sensor, _ = setup()
    front.close()
    with pytest.raises(SensorError, match="SPI transfer failed"):
        sensor.read(PERIOD)


def test_closed_sensor_refuses_reads_and_close_is_idempotent() -> None:
    _, _, front, sensor, _ = setup()
    sensor.close()
    sensor.close()
    assert front.closed
    with pytest.raises(SensorError, match="closed"):
        sensor.read(PERIOD)


def test_refuses_channel_b() -> None:
    clock = VirtualClock()
    chip = HX711Chip(clock=clock, force_source=lambda t: 0)
    with pytest.raises(ValueError, match="128 or 64"):
        HX711SpiSensor(HX711SpiFront(chip), clock=clock, gain=32)  # type: ignore[arg-type]
