"""The real-time process's CPU figures: steady sampling, the emulator's share apart, and the whole life beside."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.realtime.stats import RealtimeStats, UsageMeter
from tests.conftest import PRESSPOINT, ROOT


def test_every_measured_figure_is_on_the_line_labelled() -> None:
    usage = UsageMeter(
        cpu_s=3.0, wall_s=120.0, peak_rss_mib=38.25, emulator_cpu_s=0.6, sampler_cpu_s=1.2,
        life_cpu_s=5.0, life_wall_s=125.0,
    )  # fmt: skip
    assert RealtimeStats(usage=usage).describe() == (
        "0 samples, no samples; CPU 2.50 % of one core over 120.0 s; peak RSS 38.2 MiB; lost reads 0; "
        "CPU less the emulator 2.00 % (emulator 0.50 %); sampling thread 1.00 %; whole life CPU 4.00 % over 125.0 s"
    )


def test_the_emulator_share_is_what_its_counter_moved_between_start_and_stop() -> None:
    readings = iter([10.0, 10.25])
    usage = UsageMeter()
    usage.start(lambda: next(readings))
    usage.stop(lambda: next(readings), sampler_cpu_s=0.5)
    assert usage.emulator_cpu_s == pytest.approx(0.25)
    assert usage.sampler_cpu_s == 0.5
    assert usage.life_wall_s is not None and usage.life_cpu_s is not None
    assert usage.life_wall_s >= usage.wall_s and usage.life_cpu_s >= usage.cpu_s


def test_a_process_age_is_counted_from_its_creation_not_from_an_import() -> None:
    code = (
        "import time; time.sleep(0.5)\n"
        "from firmware.realtime.stats import process_age_s; print(process_age_s())"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert 0.5 <= float(done.stdout) < 60


FIGURES = re.compile(
    r"real-time stats: (?P<samples>\d+) samples, .*; CPU (?P<cpu>[\d.]+) % of one core over (?P<wall>[\d.]+) s; "
    r".*; CPU less the emulator (?P<device>-?[\d.]+) % \(emulator (?P<emulator>[\d.]+) %\); "
    r"sampling thread (?P<sampler>[\d.]+) %; whole life CPU (?P<life>[\d.]+) % over (?P<life_wall>[\d.]+) s"
)


@pytest.mark.parametrize("backend", ["simulated", "hx711-spi"])
def test_a_simulated_run_reports_the_emulator_apart_and_the_whole_life_beside(tmp_path: Path, backend: str) -> None:
    (tmp_path / "device.toml").write_text(f'[storage]\nstate_dir = "{tmp_path / "state"}"\n')
    (tmp_path / "trace.csv").write_text("time_s,force_n\n0,0\n0.5,0\n0.51,95\n5,95\n")
    argv = [PRESSPOINT, "run", "--simulate", "--json", "--sessions", "1", "--config", str(tmp_path / "device.toml"),
            "--plan", str(ROOT / "config" / "examples" / "quick-test.toml"), "--trace", str(tmp_path / "trace.csv")]
    if backend != "simulated":
        argv += ["--pins", "--backend", backend]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NOTIFY_SOCKET", None)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["abort"]["reason"] == "over_device_max"
    found = [m for line in done.stderr.splitlines() if (m := FIGURES.search(line))]
    assert len(found) == 1, done.stderr
    f = {key: float(value) for key, value in found[0].groupdict().items()}
    assert f["emulator"] > 0  # the simulated sensor ran in this process, and was counted
    assert f["device"] == pytest.approx(f["cpu"] - f["emulator"], abs=0.011)
    assert f["emulator"] <= f["sampler"]  # the emulator runs on the sampling thread
    # The whole life includes start-up, before sampling: longer than the steady span.
    assert f["life_wall"] > f["wall"]
