"""Every summary made under a profile names the person (the profile's pseudonym), in simulate and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_fork import presspoint
from tests.conftest import ROOT, SPEED_LAG

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
TRACE = "time_s,force_n\n0,0\n0.5,0\n1.5,29.4\n4,29.4\n4.001,45\n10,45\n"


def _device(tmp_path: Path, *, profile: bool) -> Path:
    config = tmp_path / "device.toml"
    line = f'profile_file = "{PROFILE}"\n' if profile else ""
    state = tmp_path / "state"
    config.write_text(f'device_id = "person-test"\nsample_rate_hz = 10\n{line}[storage]\nstate_dir = "{state}"\n')
    (tmp_path / "trace.csv").write_text(TRACE)
    return config


def _pseudonym() -> str:
    import tomllib

    return str(tomllib.loads(PROFILE.read_text())["name"])


#: ``run`` at --speed 20: what is checked is the summary's person, not the pace.
RUN = ["run", "--simulate", "--speed", "20", *SPEED_LAG]


@pytest.mark.parametrize("command", [["simulate"], RUN], ids=["simulate", "run"])
@pytest.mark.parametrize("profile", [True, False], ids=["profile", "no-profile"])
def test_the_summary_names_the_person_of_the_profile(
    tmp_path: Path, cli_env: dict[str, str], command: list[str], profile: bool
) -> None:
    config = _device(tmp_path, profile=profile)
    argv = [*command, "--config", str(config), "--trace", str(tmp_path / "trace.csv"), "--json"]
    done = presspoint(*argv, env=cli_env, timeout=120, cwd=tmp_path)
    assert done.returncode in (0, 4), done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["person"] == (_pseudonym() if profile else None)
