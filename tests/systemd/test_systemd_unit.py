"""The shipped unit: verified clean, hardened to exposure <= 2.0, with the settings the runtime relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.systemd_support import (
    UNIT_SOURCE,
    exec_start_binary,
    stage_root,
    systemd_analyze,
    unit_values,
    verify_in_root,
)

UNIT = UNIT_SOURCE.read_text()


def security(unit: Path, threshold: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_analyze(), "security", "--offline=true", f"--threshold={threshold}", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def exposure(output: str) -> float:
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", output)
    assert match, output
    return float(match.group(1))


def test_verify_prints_nothing(tmp_path: Path) -> None:
    stage_root(tmp_path, UNIT)
    result = verify_in_root(tmp_path)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_check_catches_warnings_and_missing_binary(tmp_path: Path) -> None:
    """The staged-root check is not vacuous: an unknown key and a missing ExecStart show up."""
    stage_root(tmp_path / "bad_key", UNIT.replace("[Service]\n", "[Service]\nNoSuchKey=1\n"))
    result = verify_in_root(tmp_path / "bad_key")
    assert "NoSuchKey" in result.stdout + result.stderr

    stage_root(tmp_path / "no_exec", UNIT, stub_exec=False)
    result = verify_in_root(tmp_path / "no_exec")
    assert result.returncode != 0
    assert "is not executable" in result.stdout + result.stderr


def test_security_exposure_at_most_2(tmp_path: Path) -> None:
    result = security(UNIT_SOURCE, threshold=20)
    assert result.returncode == 0, result.stdout + result.stderr
    assert exposure(result.stdout) <= 2.0


def test_security_threshold_fails_an_unhardened_unit(tmp_path: Path) -> None:
    plain = tmp_path / "presspoint.service"
    plain.write_text("[Service]\nType=notify\nExecStart=/bin/true\nWatchdogSec=5s\nRestart=on-failure\n")
    result = security(plain, threshold=20)
    assert result.returncode != 0
    assert exposure(result.stdout) > 2.0


def test_service_contract() -> None:
    """The settings the runtime and the install script depend on."""
    assert unit_values(UNIT, "Type") == ["notify"]
    assert unit_values(UNIT, "NotifyAccess") == ["main"]
    assert unit_values(UNIT, "Restart") == ["on-failure"]
    assert unit_values(UNIT, "StateDirectory") == ["presspoint"]
    assert unit_values(UNIT, "ExecStart") == [
        "/opt/presspoint/venv/bin/presspoint run --config /etc/presspoint/device.toml"
    ]
    assert exec_start_binary(UNIT) == "/opt/presspoint/venv/bin/presspoint"
    (watchdog,) = unit_values(UNIT, "WatchdogSec")
    assert re.fullmatch(r"\d+s", watchdog) and 2 <= int(watchdog[:-1]) <= 30
    (stop,) = unit_values(UNIT, "TimeoutStopSec")
    assert re.fullmatch(r"\d+s", stop) and int(stop[:-1]) <= 10
    assert unit_values(UNIT, "User") == ["presspoint"]
    assert unit_values(UNIT, "SupplementaryGroups") == ["gpio spi"]
    assert unit_values(UNIT, "DeviceAllow") == ["char-gpiochip rw", "/dev/spidev0.0 rw"]
    assert unit_values(UNIT, "LimitCORE") == ["0"]
    assert unit_values(UNIT, "WantedBy", section="Install") == ["multi-user.target"]


def test_no_settings_known_to_break_the_hardware_stack() -> None:
    # gpiozero reads the board revision from /proc/cpuinfo or /proc/device-tree.
    assert unit_values(UNIT, "ProcSubset") == []
    # lgpio creates FIFOs in the working directory: it must be writable state, not /.
    assert unit_values(UNIT, "WorkingDirectory") == ["%S/presspoint"]
    # Real-time priority is set by systemd; the seccomp filter forbids raising it from Python.
    assert unit_values(UNIT, "CPUSchedulingPolicy") == ["fifo"]
    assert "~@privileged @resources" in unit_values(UNIT, "SystemCallFilter")
    # The real-time process is forked from the service and must keep it; the service steps down.
    assert unit_values(UNIT, "CPUSchedulingResetOnFork") == ["no"]
    assert unit_values(UNIT, "RestrictRealtime") == ["yes"]
    assert "sched_setscheduler sched_getscheduler sched_getparam" in unit_values(UNIT, "SystemCallFilter")
