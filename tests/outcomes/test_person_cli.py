"""``run`` and ``presspoint person``, as real processes on one state directory.

A session that aborts over the tolerance 0.5 s after entering the band has a
hold (decided in session time, whatever the machine's speed), so it is
followed up; a ``not_better`` refuses the next start (exit 3) until a later
``better`` or the therapist's clear - signed with the device key, never
forged or replayed.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from firmware.outcomes.records import Flag
from firmware.protocol.person import sign_clear
from firmware.protocol.plan_envelope import DeviceKey, write_key_file
from tests.cli_fork import presspoint
from tests.conftest import ROOT

PROFILE = ROOT / "config" / "examples" / "profiles" / "profile-cleared.toml"
HOLD_THEN_ABORT = "time_s,force_n\n0,0\n0.05,29.4\n0.5,29.4\n0.55,45\n"


class Device:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp = tmp_path
        self.env = env
        self.key = DeviceKey.generate()
        self.key_file = tmp_path / "plan.key"
        write_key_file(self.key_file, self.key, device_id="oc-1")
        self.config = tmp_path / "device.toml"
        self.config.write_text(
            f'device_id = "oc-1"\nprofile_file = "{PROFILE}"\nplan_key_file = "{self.key_file}"\n'
            f'[storage]\nstate_dir = "{tmp_path / "state"}"\n'
        )
        self.trace = tmp_path / "trace.csv"
        self.trace.write_text(HOLD_THEN_ABORT)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return presspoint(*args, env=self.env, timeout=60)

    def person(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cli("person", *args, "--config", str(self.config))

    def run(self) -> subprocess.CompletedProcess[str]:
        return self.cli("run", "--simulate", "--config", str(self.config), "--trace", str(self.trace), "--json")

    def flags(self) -> list[str]:
        shown = self.person("show", "--json")
        assert shown.returncode == 0, shown.stderr
        flags: list[str] = json.loads(shown.stdout)["flags"]
        return flags

    def outbox(self, suffix: str) -> list[tuple[str, dict[str, object], int]]:
        with sqlite3.connect(self.tmp / "state" / "presspoint.sqlite3") as db:
            rows = db.execute("SELECT topic, payload, retain FROM outbox ORDER BY rowid").fetchall()
        return [(topic, json.loads(payload), retain) for topic, payload, retain in rows if topic.endswith(suffix)]


@pytest.fixture
def device(tmp_path: Path, cli_env: dict[str, str]) -> Device:
    return Device(tmp_path, cli_env)


def test_soreness_not_improving_refuses_run_until_the_therapist_clears_it(device: Device) -> None:
    first = device.run()
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert len(summary["holds"]) == 1
    course = summary["course"]
    assert course["sessions_rated"] == 0 and course["reevaluate"] is False
    assert summary["pain_before"] is None and summary["pain_after"] is None
    [(_, status, retain)] = device.outbox("/person/status")[-1:]
    assert retain == 1 and status["person"] == "P-017" and status["course"]["id"] == course["id"]

    prefix = summary["session_id"][:10]
    answered = device.person("follow-up", prefix, "not_better")
    assert answered.returncode == 0, answered.stderr
    refused = device.run()
    assert refused.returncode == 3
    assert "soreness_not_improving" in refused.stderr
    [(topic, follow_up, retain)] = device.outbox("/follow_up")
    assert topic == f"presspoint/oc-1/session/{summary['session_id']}/follow_up" and retain == 1
    assert follow_up["answer"] == "not_better" and follow_up["schema"] == "presspoint.follow-up/1"
    assert device.outbox("/person/status")[-1][1]["flags"] == ["soreness_not_improving"]

    signed = device.tmp / "clear.json"
    forged = device.tmp / "forged.json"
    forged.write_bytes(
        sign_clear(Flag.SORENESS_NOT_IMPROVING, device_id="oc-1", version=1, key=DeviceKey.generate()).to_json()
    )
    result = device.person("clear", "soreness_not_improving", "--signed", str(forged))
    assert result.returncode == 2 and "bad_signature" in result.stderr and len(result.stderr.splitlines()) == 1
    assert device.flags() == ["soreness_not_improving"]

    signed.write_bytes(sign_clear(Flag.SORENESS_NOT_IMPROVING, device_id="oc-1", version=1, key=device.key).to_json())
    result = device.person("clear", "soreness_not_improving", "--signed", str(signed))
    assert result.returncode == 0, result.stderr
    assert device.run().returncode == 0

    assert device.person("follow-up", "latest", "not_better").returncode == 0
    replayed = device.person("clear", "soreness_not_improving", "--signed", str(signed))
    assert replayed.returncode == 2 and "old_version" in replayed.stderr
    assert device.flags() == ["soreness_not_improving"]


def test_bad_answers_and_sessions_are_one_line_exit_2(device: Device) -> None:
    for args, says in [
        (("follow-up", "latest", "maybe"), "must be one of better, not_better"),
        (("follow-up", "latest", "better"), "no sessions recorded on this device yet"),
        (("clear", "everything"), "only soreness_not_improving"),
    ]:
        result = device.person(*args)
        assert result.returncode == 2, args
        assert says in result.stderr and len(result.stderr.splitlines()) == 1


def test_course_reset_starts_a_new_course(device: Device) -> None:
    first = json.loads(device.run().stdout)
    reset = device.person("course-reset")
    assert reset.returncode == 0, reset.stderr
    shown = json.loads(device.person("show", "--json").stdout)
    assert shown["course"]["id"] != first["course"]["id"] and shown["course"]["sessions_rated"] == 0
    assert json.loads(device.run().stdout)["course"]["id"] == shown["course"]["id"]
