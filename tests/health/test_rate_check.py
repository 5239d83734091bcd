from firmware.health.rate_check import RateMeter


def feed(meter: RateMeter, rate: float, seconds: float) -> list[object]:
    return [v for n in range(int(rate * seconds) + 1) if (v := meter.add(n / rate)) is not None]


def test_matching_rate_passes_once() -> None:
    meter = RateMeter(80.0)
    verdicts = feed(meter, 80.0, 5.0)
    assert len(verdicts) == 1
    assert meter.verdict is not None and meter.verdict.ok
    assert abs(meter.verdict.measured_hz - 80.0) < 0.5


def test_jumper_left_at_10_is_reported() -> None:
    meter = RateMeter(80.0)
    feed(meter, 10.0, 3.0)
    assert meter.verdict is not None and not meter.verdict.ok
    assert "RATE pin" in meter.verdict.describe()
    assert abs(meter.verdict.measured_hz - 10.0) < 0.5


def test_no_verdict_before_the_window() -> None:
    meter = RateMeter(80.0, window_s=2.0)
    assert feed(meter, 80.0, 1.9) == []
    assert meter.verdict is None
