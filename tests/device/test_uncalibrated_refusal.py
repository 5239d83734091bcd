"""A device whose load cell was never calibrated refuses every start: "run presspoint calibrate".

The real two processes (service and real-time child, real pipes) with the
device's own HX711 SPI driver over the emulated chip (``--pins``) standing in
for the hardware, and a device config that names the SPI backend and has no
calibration.  The service judges calibration as it does on a device
(``run_device(..., calibrated=False)``, what a real config without one gives);
the real-time process asks it at each start and is refused.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from config.loader import load_device_config
from tests.conftest import ROOT

LAUNCH = """
import sys
from config.loader import load_device_config, load_plan
from firmware.cli.main import build_parser
from firmware.cli.run import device_options
from firmware.service.app import run_device

args = build_parser().parse_args(["run", *sys.argv[1:]])
device = load_device_config(args.config)
plan = load_plan(args.plan)
sys.exit(run_device(device, plan, device_options(args, simulated_backend=False), calibrated=False))
"""


def test_every_start_on_an_uncalibrated_load_cell_is_refused(tmp_path: Path, cli_env: dict[str, str]) -> None:
    config = tmp_path / "device.toml"
    config.write_text(
        f'device_id = "uncal"\n[hardware]\nbackend = "hx711-spi"\n[storage]\nstate_dir = "{tmp_path / "state"}"\n'
    )
    assert not load_device_config(config).hardware.calibration.is_calibrated
    plan = ROOT / "config" / "examples" / "quick-test.toml"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, "--simulate", "--pins", "--sessions", "2", "--json",
         "--config", str(config), "--plan", str(plan)],
        capture_output=True, text=True, env=cli_env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # every start refused
    assert done.stdout.strip() == ""  # no session ran
    refusals = [line for line in done.stderr.splitlines() if line.startswith("presspoint: session refused:")]
    assert refusals == ["presspoint: session refused: the load cell is not calibrated: run presspoint calibrate"] * 2
