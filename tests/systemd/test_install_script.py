"""systemd/install.sh and uninstall.sh, exercised in a staged root and as a dry run.

Nothing here touches the live system: ``--root DIR`` keeps every file under DIR
and only prints account changes (useradd, chgrp); ``--dry-run`` changes nothing.
The full install with a real venv needs PyPI, so it runs only when
``PRESSPOINT_TEST_INSTALL_VENV=1``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from config.loader import load_device_config, load_plan
from tests.systemd_support import REPO, UNIT_NAME, UNIT_SOURCE, stage_root, verify_in_root

INSTALL = REPO / "systemd" / "install.sh"
UNINSTALL = REPO / "systemd" / "uninstall.sh"


def sh(script: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def staged(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return sh(INSTALL, "--root", str(root), "--no-venv", "--device-id", "pp-test", *extra)


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    result = sh(INSTALL, "--dry-run", "--root", str(tmp_path), "--device-id", "pp-dry")
    assert tree(tmp_path) == set()
    out = result.stdout
    assert "would run: useradd --system" in out
    assert f"would run: python3 -m venv {tmp_path}/opt/presspoint/venv" in out
    assert f"-m pip install --upgrade {REPO}\\[pi\\]" in out
    assert f"would run: install -m 0644 {UNIT_SOURCE} {tmp_path}/etc/systemd/system/{UNIT_NAME}" in out
    assert f"would run: systemctl --root={tmp_path} enable {UNIT_NAME}" in out


def test_dry_run_on_the_live_system_only_prints() -> None:
    result = sh(INSTALL, "--dry-run")
    assert "would run: systemctl enable presspoint.service" in result.stdout
    assert "+ " not in result.stdout  # nothing was executed


def test_staged_install_lays_out_unit_and_config(tmp_path: Path) -> None:
    result = staged(tmp_path)
    assert "would run: chgrp presspoint /etc/presspoint/device.toml" in result.stdout

    unit = tmp_path / "etc/systemd/system" / UNIT_NAME
    assert unit.read_text() == UNIT_SOURCE.read_text()
    wants = tmp_path / "etc/systemd/system/multi-user.target.wants" / UNIT_NAME
    assert os.readlink(wants) == f"/etc/systemd/system/{UNIT_NAME}"

    conf = tmp_path / "etc/presspoint"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o750
    assert stat.S_IMODE((conf / "device.toml").stat().st_mode) == 0o640
    device = load_device_config(conf / "device.toml")
    assert device.device_id == "pp-test"
    assert device.hardware.backend == "hx711-spi"
    assert device.storage.state_dir == Path("/var/lib/presspoint")
    assert device.plan_file == Path("/etc/presspoint/plan.toml")
    load_plan(conf / "plan.toml", device.device_max)

    stage_root(tmp_path)  # the host's targets and a stub for the venv's console script
    check = verify_in_root(tmp_path)
    assert (check.returncode, check.stdout + check.stderr) == (0, "")


def test_reinstall_keeps_existing_config(tmp_path: Path) -> None:
    staged(tmp_path)
    device = tmp_path / "etc/presspoint/device.toml"
    edited = device.read_text().replace('device_id = "pp-test"', 'device_id = "calibrated-unit"')
    device.write_text(edited)
    result = staged(tmp_path)
    assert "keeping existing /etc/presspoint/device.toml" in result.stdout
    assert device.read_text() == edited


def test_uninstall_keeps_data_unless_purged(tmp_path: Path) -> None:
    staged(tmp_path)
    venv_script = tmp_path / "opt/presspoint/venv/bin/presspoint"
    venv_script.parent.mkdir(parents=True)
    venv_script.write_text("#!/bin/sh\n")
    data = tmp_path / "var/lib/presspoint/sessions.sqlite"
    data.parent.mkdir(parents=True)
    data.write_text("sessions")

    before = tree(tmp_path)
    sh(UNINSTALL, "--dry-run", "--root", str(tmp_path))
    assert tree(tmp_path) == before

    sh(UNINSTALL, "--root", str(tmp_path))
    assert not (tmp_path / "etc/systemd/system" / UNIT_NAME).exists()
    assert not (tmp_path / "etc/systemd/system/multi-user.target.wants" / UNIT_NAME).is_symlink()
    assert not (tmp_path / "opt/presspoint").exists()
    assert data.read_text() == "sessions"
    assert (tmp_path / "etc/presspoint/device.toml").exists()

    result = sh(UNINSTALL, "--root", str(tmp_path), "--purge")
    assert not (tmp_path / "var/lib/presspoint").exists()
    assert not (tmp_path / "etc/presspoint").exists()
    assert "would run: userdel presspoint" in result.stdout


@pytest.mark.parametrize("machine_id", [None, "", "\n", "uninitialized\n"])
def test_an_image_without_a_machine_id_gets_no_shared_device_id(tmp_path: Path, machine_id: str | None) -> None:
    """No machine id in the staged root (an image before first boot): refused before anything is written."""
    if machine_id is not None:
        (tmp_path / "etc").mkdir()
        (tmp_path / "etc/machine-id").write_text(machine_id)
    before = tree(tmp_path)
    result = sh(INSTALL, "--root", str(tmp_path), "--no-venv", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "no unique device id" in result.stderr and "--device-id" in result.stderr
    assert tree(tmp_path) == before


def test_device_id_from_machine_id_or_option_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    sh(INSTALL, "--root", str(tmp_path), "--no-venv")
    assert load_device_config(tmp_path / "etc/presspoint/device.toml").device_id == "presspoint-01234567"

    given = tmp_path / "given"
    sh(INSTALL, "--root", str(given), "--no-venv", "--device-id", "  pp-7\n")
    assert load_device_config(given / "etc/presspoint/device.toml").device_id == "pp-7"
    for bad in ("  ", "pp 7"):
        refused = tmp_path / f"refused-{len(bad)}"
        result = sh(INSTALL, "--root", str(refused), "--no-venv", "--device-id", bad, check=False)
        assert result.returncode == 2 and "device-id" in result.stderr and not refused.exists()


def test_bad_option_is_refused(tmp_path: Path) -> None:
    result = sh(INSTALL, "--root", str(tmp_path), "--frobnicate", check=False)
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr
    assert tree(tmp_path) == set()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PRESSPOINT_TEST_INSTALL_VENV") != "1",
    reason="needs PyPI; set PRESSPOINT_TEST_INSTALL_VENV=1",
)
def test_full_install_with_real_venv(tmp_path: Path) -> None:
    """The real pip install: the unit verifies against the console script it produced."""
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build", "__pycache__"))
    root = tmp_path / "root"
    result = sh(INSTALL, "--root", str(root), "--src", str(src), "--device-id", "pp-venv")
    assert "does not validate" not in result.stdout
    script = root / "opt/presspoint/venv/bin/presspoint"
    assert os.access(script, os.X_OK)
    stage_root(root, stub_exec=False)
    check = verify_in_root(root)
    assert (check.returncode, check.stdout + check.stderr) == (0, "")
