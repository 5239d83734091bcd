"""Config for the HX711 backends (strict types, bounds, SPI pins) and calibration sanity."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from config.device import DeviceConfig, HardwareSettings
from config.errors import InputFileError, PresspointError
from firmware.cli.hardware import main as hardware_main
from hal.calibrate import write_calibration
from hal.sensor import Calibration, SensorError
from tests.cli_fork import presspoint
from tests.conftest import HANG_S, ROOT


def hw(**fields: Any) -> HardwareSettings:
    return HardwareSettings.model_validate(fields)


def test_defaults() -> None:
    settings = HardwareSettings()
    assert settings.backend == "simulated"
    assert (settings.spi_port, settings.spi_device, settings.spi_clock_hz) == (0, 0, 500_000)
    assert hw(backend="hx711-spi").spi_pins() == {"sclk": 11, "mosi": 10, "miso": 9, "select": 8}
    assert hw(backend="hx711-spi", spi_device=1).spi_pins()["select"] == 7


def test_old_configs_saying_hx711_mean_the_gpio_wiring() -> None:
    assert hw(backend="hx711").backend == "hx711-gpio"


@pytest.mark.parametrize("fields", [
    {"backend": "hx711-i2c"},
    {"spi_clock_hz": "500000"},
    {"spi_clock_hz": 500000.0},
    {"spi_clock_hz": True},
    {"spi_clock_hz": 19_999},
    {"spi_clock_hz": 5_000_001},
    {"spi_device": "1"},
    {"spi_device": 2},
    {"spi_port": 1},
])
def test_strict_types_and_bounds(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        hw(**fields)


@pytest.mark.parametrize("clock_hz", [20_000, 500_000, 5_000_000])
def test_clock_bounds_are_inclusive(clock_hz: int) -> None:
    assert hw(spi_clock_hz=clock_hz).spi_clock_hz == clock_hz


@pytest.mark.parametrize(("pins", "device"), [({"motor": 10}, 0), ({"button": 11}, 0), ({"stop_button": 9}, 0),
                                              ({"motor": 8}, 0), ({"button": 7}, 1)])
def test_spi_pins_are_not_free_for_motor_or_buttons(pins: dict[str, int], device: int) -> None:
    with pytest.raises(ValidationError, match="taken by the HX711 on SPI0"):
        hw(backend="hx711-spi", spi_device=device, pins=pins)
    assert hw(backend="hx711-gpio", pins=pins).pins.model_dump()[next(iter(pins))] == next(iter(pins.values()))


def test_with_backend_revalidates() -> None:
    device = DeviceConfig.model_validate({"hardware": {"pins": {"motor": 10}}})
    assert device.with_backend("hx711-gpio").hardware.backend == "hx711-gpio"
    with pytest.raises(PresspointError, match=r"pins\.motor: GPIO10 is taken"):
        device.with_backend("hx711-spi")


@pytest.mark.parametrize(("field", "value"), [
    ("counts_per_newton", math.inf), ("counts_per_newton", -math.inf), ("counts_per_newton", math.nan),
    ("counts_per_newton", 0.0), ("counts_per_newton", 9.99), ("counts_per_newton", -5.0),
    ("counts_per_newton", 1_000_001.0), ("offset_counts", math.inf), ("offset_counts", math.nan),
    ("offset_counts", 8_388_608.0), ("offset_counts", -8_388_608.0),
])
def test_implausible_calibration_is_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        hw(calibration={"offset_counts": 0.0, "counts_per_newton": 21_900.0, field: value})


@pytest.mark.parametrize(("offset", "scale"), [(8_388_607, 10.0), (-8_388_607, -10.0), (0, 1_000_000.0),
                                               (-1234.5, -21_900.0)])
def test_plausible_calibration_at_the_bounds(offset: float, scale: float) -> None:
    cal = hw(calibration={"offset_counts": offset, "counts_per_newton": scale}).calibration
    assert cal.is_calibrated


def test_calibration_object_refuses_what_cannot_convert() -> None:
    for offset, scale in [(0.0, math.inf), (math.nan, 1.0), (0.0, 0.0), (0.0, 1e-320)]:
        with pytest.raises(ValueError, match=r"calibration|counts_per_newton"):
            Calibration(offset, scale)


def test_a_reading_with_a_non_finite_force_is_a_sensor_error() -> None:
    cal = Calibration(0.0, 1e-300)  # allowed by the class: every 24-bit reading stays finite
    assert math.isfinite(cal.to_newtons(0x7F_FF_FF))
    with pytest.raises(SensorError, match="non-finite"):
        cal.to_newtons(10**400)
    with pytest.raises(SensorError, match="non-finite"):
        Calibration(0.0, 1e-300).to_newtons(10**300)


INF_CONFIG = "[hardware.calibration]\noffset_counts = 0\ncounts_per_newton = inf\n"
FIELD = "field 'hardware.calibration.counts_per_newton'"


def test_config_check_refuses_an_infinite_scale(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text(INF_CONFIG)
    result = presspoint("config", "check", str(path), cwd=ROOT)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert FIELD in result.stderr and "finite" in result.stderr


@pytest.mark.parametrize("argv", [["selfcheck", "--pins"], ["calibrate", "--pins", "--dry-run"],
                                  ["selfcheck"], ["calibrate", "--known-mass", "1"]])
def test_selfcheck_and_calibrate_refuse_it_in_one_line(argv: list[str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "device.toml"
    path.write_text(INF_CONFIG)
    code = hardware_main([*argv, "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and FIELD in err


@pytest.mark.parametrize("mode", [[], ["--simulate", "--pins"], ["--simulate", "--pins", "--backend", "hx711-gpio"]])
def test_the_daemon_refuses_it_before_starting_anything(mode: list[str], tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text(INF_CONFIG + f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    result = presspoint("run", *mode, "--sessions", "1", "--config", str(path), cwd=ROOT, timeout=HANG_S)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and FIELD in result.stderr and "finite" in result.stderr
    assert not (tmp_path / "state").exists()  # no store opened, no real-time process started


def test_calibrate_never_writes_an_implausible_scale(tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('device_id = "x"\n')
    with pytest.raises(InputFileError, match=r"counts_per_newton.*at least 10"):
        write_calibration(path, 100.0, 3.0)
    assert path.read_text() == 'device_id = "x"\n'
