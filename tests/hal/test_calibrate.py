"""Tare, scale with a known mass, and the atomic config write."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.errors import InputFileError
from config.loader import load_device_config
from hal.calibrate import (
    calibrate,
    kg_to_newtons,
    scale_from_known_mass,
    tare,
    wait_steady,
    write_calibration,
)
from hal.clock import VirtualClock
from hal.sensor import Calibration
from simulator.pin_rig import (
    EMULATED_CALIBRATION,
    EMULATED_NOISE_N,
    PinRig,
    bench_load,
    build_pin_rig,
)

TRUTH = EMULATED_CALIBRATION


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(10.0)


def make_rig(clock: VirtualClock, mass_kg: float | None = None, noise_n: float = EMULATED_NOISE_N) -> PinRig:
    return build_pin_rig(bench_load(clock.now(), mass_kg=mass_kg, noise_n=noise_n), TRUTH, clock)


@pytest.fixture
def rest_rig(clock: VirtualClock) -> Iterator[PinRig]:
    rig = make_rig(clock)
    yield rig
    rig.close()


def test_kg_to_newtons_uses_standard_gravity() -> None:
    assert kg_to_newtons(1.0) == 9.80665
    assert kg_to_newtons(0.5) == pytest.approx(4.903325)


def test_tare_finds_the_offset_once_steady(rest_rig: PinRig, clock: VirtualClock) -> None:
    start = clock.now()
    result = tare(rest_rig.sensor, clock, timeout_s=5.0)
    assert result.passed, result.message
    assert result.offset_counts == pytest.approx(TRUTH.offset_counts, abs=30)
    assert result.std_counts is not None and 20 < result.std_counts < 70
    assert clock.now() - start == pytest.approx(0.5, abs=0.03)  # one 0.5 s window


def test_tare_waits_for_the_hand_to_leave(clock: VirtualClock) -> None:
    """Touching for the first second (a noisy hand), then steady: tare is taken after."""
    import random

    rng = random.Random(3)
    start = clock.now()

    def hand_then_rest(t: float) -> float:
        return rng.gauss(2.0, 0.5) if t - start < 1.0 else rng.gauss(0.0, 0.002)

    rig = build_pin_rig(hand_then_rest, TRUTH, clock)
    try:
        result = tare(rig.sensor, clock, timeout_s=5.0)
        assert result.passed
        assert clock.now() - start >= 1.0 + 0.5 - 1 / 80  # a whole window after the hand
        assert result.offset_counts == pytest.approx(TRUTH.offset_counts, abs=30)
    finally:
        rig.close()


def test_tare_times_out_when_never_steady(clock: VirtualClock) -> None:
    rig = make_rig(clock, noise_n=0.5)  # ≈ 11 000 counts of noise
    try:
        start = clock.now()
        result = tare(rig.sensor, clock, timeout_s=2.0)
        assert not result.passed
        assert result.offset_counts is None
        assert "not steady" in result.message
        assert clock.now() - start == pytest.approx(2.0, abs=0.02)
    finally:
        rig.close()


def test_tare_without_a_sensor_says_so(rest_rig: PinRig, clock: VirtualClock) -> None:
    rest_rig.chip.disconnected = True
    result = tare(rest_rig.sensor, clock, timeout_s=1.0)
    assert not result.passed
    assert "no readings from the sensor" in result.message


def test_saturated_readings_never_make_a_tare(clock: VirtualClock) -> None:
    rig = build_pin_rig(lambda t: 1000.0, TRUTH, clock)
    try:
        steady = wait_steady(rig.sensor, clock, timeout_s=1.0)
        assert not steady.passed
        assert "saturated" in steady.message
    finally:
        rig.close()


@pytest.mark.parametrize("mass_kg", [0.5, 2.0])
def test_scale_from_a_known_mass(clock: VirtualClock, mass_kg: float) -> None:
    rig = make_rig(clock, mass_kg=mass_kg)
    try:
        result = calibrate(rig.sensor, clock, mass_kg=mass_kg)
        assert result.passed, (result.tare.message, result.scale)
        assert result.scale is not None
        assert result.scale.force_n == pytest.approx(mass_kg * 9.80665)
        assert result.counts_per_newton == pytest.approx(TRUTH.counts_per_newton, rel=2e-3)
        assert result.offset_counts == pytest.approx(TRUTH.offset_counts, abs=30)
        # Taken after the load was on (from 1.5 s, ramp 0.5 s), not during the ramp.
        assert clock.now() - 10.0 >= 2.0
    finally:
        rig.close()


def test_scale_times_out_when_no_mass_is_put_on(rest_rig: PinRig, clock: VirtualClock) -> None:
    tared = tare(rest_rig.sensor, clock)
    assert tared.offset_counts is not None
    scaled = scale_from_known_mass(rest_rig.sensor, clock, tared.offset_counts, 1.0, timeout_s=2.0)
    assert not scaled.passed
    assert scaled.counts_per_newton is None
    assert "not the expected load" in scaled.message


def test_scale_refuses_a_non_positive_mass(rest_rig: PinRig, clock: VirtualClock) -> None:
    with pytest.raises(ValueError, match="positive"):
        scale_from_known_mass(rest_rig.sensor, clock, 0.0, 0.0)


def test_calibration_round_trip(clock: VirtualClock) -> None:
    rig = make_rig(clock, mass_kg=1.0)
    try:
        result = calibrate(rig.sensor, clock, mass_kg=1.0)
        assert result.offset_counts is not None and result.counts_per_newton is not None
        measured = Calibration(result.offset_counts, result.counts_per_newton)
        raw = rig.sensor.read(1 / 80)
        assert raw is not None
        assert measured.to_newtons(raw) == pytest.approx(9.80665, abs=0.02)
    finally:
        rig.close()


# --- the config file ---------------------------------------------------------------------------

CONFIG = """\
# my device
device_id = "bench-7"
sample_rate_hz = 10
device_max = "8 kgf"

[hardware]
backend = "hx711"
gain = 64
motor_pwm_hz = 400

[hardware.pins]
hx711_dout = 20
hx711_sck = 21
motor = 18
button = 16
stop_button = 26

[mqtt]
enabled = true
host = "broker.local"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(CONFIG)
    path.chmod(0o640)
    return path


def test_write_keeps_every_other_key(config_file: Path) -> None:
    before = tomllib.loads(CONFIG)
    config = write_calibration(config_file, 8_499.2751, 21_900.1315)
    after = tomllib.loads(config_file.read_text())
    assert after["hardware"].pop("calibration") == {"offset_counts": 8_499.275, "counts_per_newton": 21_900.1315}
    assert after == before
    assert config.hardware.calibration.is_calibrated
    loaded = load_device_config(config_file)
    assert loaded.hardware.calibration.counts_per_newton == 21_900.1315
    assert loaded.device_id == "bench-7" and loaded.mqtt.host == "broker.local"
    assert config_file.stat().st_mode & 0o777 == 0o640
    assert os.listdir(config_file.parent) == ["device.toml"]


def test_write_replaces_an_old_calibration(config_file: Path) -> None:
    write_calibration(config_file, 1.0, 20.0)
    write_calibration(config_file, 3.0, -40.0)
    cal = tomllib.loads(config_file.read_text())["hardware"]["calibration"]
    assert cal == {"offset_counts": 3.0, "counts_per_newton": -40.0}


def test_crash_before_the_rename_leaves_the_old_file(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def power_cut(*args: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        write_calibration(config_file, 1.0, 20.0)
    assert config_file.read_text() == CONFIG
    assert os.listdir(config_file.parent) == ["device.toml"]  # no temp file left behind


def test_crash_while_writing_the_temp_file_leaves_the_old_file(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        write_calibration(config_file, 1.0, 20.0)
    assert config_file.read_text() == CONFIG
    assert os.listdir(config_file.parent) == ["device.toml"]


def test_a_result_that_would_not_load_is_not_written(config_file: Path) -> None:
    with pytest.raises(InputFileError, match="counts_per_newton"):
        write_calibration(config_file, 1.0, 0.0)
    assert config_file.read_text() == CONFIG


def test_writes_through_a_symlink(config_file: Path) -> None:
    link = config_file.parent / "current.toml"
    link.symlink_to(config_file)
    write_calibration(link, 5.0, 60.0)
    assert link.is_symlink()
    assert "counts_per_newton = 60.0" in config_file.read_text()


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        write_calibration(tmp_path / "nope.toml", 1.0, 20.0)


def test_rewritten_config_keeps_mode_and_group(tmp_path: Path) -> None:
    """The service reads /etc/presspoint/device.toml as 0640 root:presspoint; calibrate must not change that."""
    import os
    import stat

    from hal.calibrate import write_calibration

    path = tmp_path / "device.toml"
    path.write_text('device_id = "x"\n')
    os.chmod(path, 0o640)
    group = 1 if os.geteuid() == 0 else os.getegid()  # root can give the file to another group
    os.chown(path, -1, group)
    write_calibration(path, 12.0, 3000.0)
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == group
    assert "counts_per_newton = 3000.0" in path.read_text()


def test_calibration_keeps_comments_and_layout(tmp_path: Path) -> None:
    """An installed, commented device.toml stays readable after calibrate rewrites it."""
    from hal.calibrate import write_calibration
    from tests.conftest import ROOT

    path = tmp_path / "device.toml"
    original = (ROOT / "config" / "defaults" / "device.toml").read_text()
    path.write_text(original)
    config = write_calibration(path, -1234.5, 21900.25)
    text = path.read_text()
    assert config.hardware.calibration.offset_counts == -1234.5
    assert config.hardware.calibration.counts_per_newton == 21900.25
    for line in original.splitlines():
        if line.strip().startswith("#"):
            assert line in text, f"comment lost: {line}"
    assert text.index("[hardware.calibration]") < text.index("offset_counts = -1234.5") < text.index("[storage]")
