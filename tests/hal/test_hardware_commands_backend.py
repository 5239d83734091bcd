"""``calibrate --pins`` and ``selfcheck --pins`` read the emulated chip through the configured backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware.cli.hardware import main as hardware_main

GPIO_CONFIG = '[hardware]\nbackend = "hx711-gpio"\n'


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = hardware_main([*argv, "--json"])
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1, (out, err)
    doc: dict[str, object] = json.loads(out)
    return code, doc


@pytest.mark.parametrize(
    ("config_text", "override", "backend"),
    [
        (None, [], "hx711-spi"),  # built-in defaults: SPI
        ('[hardware]\nbackend = "hx711-spi"\n', [], "hx711-spi"),
        (GPIO_CONFIG, [], "hx711-gpio"),
        (GPIO_CONFIG, ["--backend", "hx711-spi"], "hx711-spi"),
        (None, ["--backend", "hx711-gpio"], "hx711-gpio"),
    ],
)
def test_selfcheck_and_calibrate_read_over_the_configured_backend(
    config_text: str | None, override: list[str], backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config: list[str] = []
    if config_text is not None:
        path = tmp_path / "device.toml"
        path.write_text(config_text)
        config = ["--config", str(path)]
    code, report = run_json(capsys, "selfcheck", "--pins", "--no-motor", *config, *override)
    assert report["backend"] == f"{backend} (emulated)"
    assert code == 1  # uncalibrated: only that item fails
    failed = [item["name"] for item in report["items"] if not item["passed"]]  # type: ignore[attr-defined]
    assert failed == ["calibration"]
    code, calibrated = run_json(capsys, "calibrate", "--pins", "--dry-run", "--known-mass", "1", *config, *override)
    assert code == 0 and calibrated["backend"] == f"{backend} (emulated)"
    assert calibrated["counts_per_newton"] == pytest.approx(21_900, rel=2e-3)


def test_the_text_report_names_the_backend(capsys: pytest.CaptureFixture[str]) -> None:
    hardware_main(["selfcheck", "--pins", "--no-motor"])
    out = capsys.readouterr().out
    assert out.splitlines()[1] == "  read over hx711-spi (emulated)"
