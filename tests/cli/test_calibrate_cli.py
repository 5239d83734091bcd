"""``presspoint calibrate`` / ``selfcheck`` through their argparse front end, on --pins."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from firmware.cli.hardware import main

DEFAULTS = Path(__file__).resolve().parents[2] / "config" / "defaults" / "device.toml"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "device.toml"
    path.write_text(DEFAULTS.read_text())
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_calibrate_on_pins_writes_the_config(capsys: pytest.CaptureFixture[str],
                                             config: Path) -> None:
    code, out, err = run(capsys, "calibrate", "--pins", "--config", str(config),
                         "--known-mass", "1.5")
    assert code == 0, err
    assert out.startswith("calibrate: PASS\n")
    assert f"written to {config}" in out
    assert "put the 1.5 kg mass on the tip" in err
    cal = tomllib.loads(config.read_text())["hardware"]["calibration"]
    assert cal["counts_per_newton"] == pytest.approx(21_900, rel=2e-3)
    assert cal["offset_counts"] == pytest.approx(8_500, abs=30)
    # ... and selfcheck with that config passes every item.
    code, out, err = run(capsys, "selfcheck", "--pins", "--config", str(config), "--json")
    report = json.loads(out)
    assert code == 0 and report["passed"] is True, out
    assert len(out.strip().splitlines()) == 1


def test_tare_only_keeps_no_scale(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, "calibrate", "--pins", "--config", str(config), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["passed"] and doc["counts_per_newton"] is None
    assert doc["written_to"] is None  # no scale known yet: nothing half-written
    assert config.read_text() == DEFAULTS.read_text()


def test_tare_only_keeps_the_configured_scale(capsys: pytest.CaptureFixture[str],
                                              config: Path) -> None:
    text = config.read_text().replace("# counts_per_newton = 1000", "counts_per_newton = 21900")
    config.write_text(text)
    code, out, _ = run(capsys, "calibrate", "--pins", "--config", str(config))
    assert code == 0, out
    cal = tomllib.loads(config.read_text())["hardware"]["calibration"]
    assert cal["counts_per_newton"] == 21900
    assert cal["offset_counts"] == pytest.approx(8_500, abs=30)


def test_selfcheck_uncalibrated_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "selfcheck", "--pins", "--no-motor")
    assert code == 1
    assert "[FAIL] calibration" in out
    assert "[PASS] sample_rate" in out
    assert "motor_pulse" not in out


@pytest.mark.parametrize(("argv", "message"), [
    (["calibrate", "--pins"], "give --config FILE"),
    (["calibrate", "--pins", "--dry-run", "--known-mass", "-1"],
     "--known-mass must be a positive number"),
    (["selfcheck", "--config", "/nonexistent/device.toml"],
     "/nonexistent/device.toml: file not found"),
    (["selfcheck"], "hardware.backend is 'simulated'"),
])
def test_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                        message: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def test_no_gpio_on_this_machine_is_one_line(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    path = tmp_path / "device.toml"
    path.write_text('[hardware]\nbackend = "hx711"\npin_factory = "lgpio"\n')
    code, _, err = run(capsys, "selfcheck", "--config", str(path))
    if code == 0:  # pragma: no cover - on a Pi with the load cell attached
        pytest.skip("real GPIO here")
    assert code == 2
    assert err.startswith("presspoint: no GPIO pin factory available (lgpio: ")
    assert err.count("\n") == 1


def test_bad_config_names_file_and_field(capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("sample_rate_hz = 20\n")
    code, _, err = run(capsys, "selfcheck", "--pins", "--config", str(path))
    assert code == 2
    assert err.startswith(f"presspoint: {path}: field 'sample_rate_hz'")


def test_register_plugs_into_another_parser() -> None:
    import argparse

    from firmware.cli.hardware import register

    parser = argparse.ArgumentParser(prog="presspoint")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["calibrate", "--known-mass", "2", "--config", "x.toml", "--pins"])
    assert args.known_mass == 2.0 and args.pins and callable(args.func)
    with pytest.raises(SystemExit):
        parser.parse_args(["selfcheck", "--bogus"])
