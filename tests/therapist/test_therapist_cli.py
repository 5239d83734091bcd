"""``presspoint therapist`` commands that need no broker: keygen, sessions, ppt, report errors, wiring."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from config.loader import load_plan
from config.plan import TherapyPlan
from config.units import kgf
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.trial import AlgometryTrial
from firmware.cli import therapist as cli_therapist
from firmware.cli.main import main
from firmware.protocol.plan_envelope import load_key
from firmware.protocol.ppt import measurement, ppt_payload
from firmware.therapist import collect, connection
from firmware.therapist.store import Ingested, TherapistStore
from tests.cli_fork import presspoint


def test_keygen_writes_a_private_key_and_prints_only_its_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    out = tmp_path / "dev1.key"
    assert main(["therapist", "keygen", "--device", "dev1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    key = load_key(out)
    assert key.hex() not in text and key.key_id in text
    assert out.stat().st_mode & 0o777 == 0o600
    assert "/etc/presspoint/plan.key" in text and "plan push --device dev1" in text
    assert main(["therapist", "keygen", "--device", "dev1", "--out", str(out)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err
    assert load_key(out) == key


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["therapist", "sessions", "--db", str(tmp_path / "none.db")], "no such database"),
        (["therapist", "keygen", "--device", "a/b"], "cannot be an MQTT topic level"),
        (["therapist", "watch", "--device", "dev1", "--once"], "say where the broker is"),
        (["therapist", "watch", "--device", "dev1", "--once", "--broker", "http://x"], "scheme must be mqtt"),
        (["therapist", "plan", "push", "--device", "dev1", "--file", str(tmp_path / "p.toml"), "--key",
          str(tmp_path / "k"), "--broker", "mqtt://127.0.0.1:1"], "p.toml: file not found"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)


@pytest.mark.parametrize(
    "command",
    [
        ["keygen"],
        ["watch", "--once"],
        ["person", "--db", "unused.db"],
        ["person-clear", "soreness_not_improving", "--key", "unused.key"],
        ["course-reset", "--key", "unused.key"],
        ["plan", "show"],
    ],
)
def test_a_device_id_that_cannot_be_a_topic_level_is_one_line_before_anything_is_opened(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["therapist", *command, "--device", "a/b"]) == 2
    err = capsys.readouterr().err
    assert err == "presspoint: device id 'a/b' cannot be an MQTT topic level: use 1-64 of A-Z a-z 0-9 _ -\n"


def test_unreachable_broker_is_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = presspoint(
        "therapist", "watch", "--device", "dev1", "--once", "--broker", "mqtt://127.0.0.1:1", env=cli_env, timeout=30
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "MQTT mqtt://127.0.0.1:1: broker unreachable" in result.stderr


def test_sessions_and_ppt_listings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite3"
    store = TherapistStore(db)
    trial = AlgometryTrial(AlgometrySettings(), tolerance_n=kgf(8), device_max_n=kgf(9), sample_rate_hz=80)
    for n in range(400):
        trial.on_sample(n / 80, n / 80 * kgf(0.8))
    trial.on_button(5.0)
    payload = ppt_payload(measurement(trial.result(), device_id="dev1"))
    assert store.ingest("presspoint/dev1/ppt", payload) is Ingested.NEW
    assert store.ingest("presspoint/dev1/ppt", payload) is Ingested.DUPLICATE
    assert store.ingest("presspoint/dev2/ppt", payload) is Ingested.REJECTED  # topic and body disagree
    store.close()
    assert main(["therapist", "sessions", "--db", str(db)]) == 0
    assert "no sessions" in capsys.readouterr().out
    assert main(["therapist", "ppt", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "dev1" in text and "recorded  threshold 3" in text and "suggested: target" in text


def test_report_of_unknown_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite3"
    TherapistStore(db).close()
    assert main(["therapist", "report", "nope", "--db", str(db), "--out", str(tmp_path / "x.png")]) == 2
    assert "no session 'nope'" in capsys.readouterr().err


def test_help_defaults_match_the_implementation() -> None:
    assert cli_therapist.DEFAULT_CLIENT_ID == collect.DEFAULT_CLIENT_ID
    assert cli_therapist.DEFAULT_SESSION_EXPIRY_S == connection.DEFAULT_SESSION_EXPIRY_S


def ppt_db(tmp_path: Path, *devices: str) -> Path:
    """A database with one recorded threshold per device, stored as the collector stores it."""
    db = tmp_path / "ppt.sqlite3"
    store = TherapistStore(db)
    for device in devices:
        trial = AlgometryTrial(AlgometrySettings(), tolerance_n=kgf(8), device_max_n=kgf(9), sample_rate_hz=80)
        for n in range(400):
            trial.on_sample(n / 80, n / 80 * kgf(0.8))
        trial.on_button(5.0)
        assert store.ingest(f"presspoint/{device}/ppt", ppt_payload(measurement(trial.result(), device_id=device)))
    store.close()
    return db


def test_ppt_prints_readable_forces_and_local_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert main(["therapist", "ppt", "--db", str(ppt_db(tmp_path, "dev1"))]) == 0
    finally:
        monkeypatch.undo()
        time.tzset()
    text = capsys.readouterr().out
    assert "{" not in text and not re.search(r"\d\.\d{2,}", text), text  # no JSON, no long decimals
    assert re.search(r"threshold \d+\.\d N \(\d+\.\d kgf\)", text) and re.search(r" E[SD]T ", text)  # local, zoned
    assert re.search(r"suggested: target \d+\.\d N \(\d+\.\d kgf\), tolerance", text)


def test_ppt_plan_out_writes_a_plan_file_plan_push_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ppt_db(tmp_path, "dev1")
    (m,) = TherapistStore(db).ppt_measurements()
    assert m.suggestion is not None
    out = tmp_path / "suggested.toml"
    assert main(["therapist", "ppt", "--db", str(db), "--plan-out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    plan = load_plan(out, m.device_max_n)  # the loader plan push uses
    assert plan.target == pytest.approx(m.suggestion.target_n, abs=1e-3)
    assert plan.tolerance == pytest.approx(m.suggestion.tolerance_n, abs=1e-3)
    assert plan.therapist_max == pytest.approx(m.suggestion.therapist_max_n, abs=1e-3)
    assert (plan.hold_s, plan.repetitions) == (TherapyPlan().hold_s, TherapyPlan().repetitions)
    assert main(["config", "check", str(out)]) == 0
    capsys.readouterr()

    base = tmp_path / "base.toml"
    base.write_text('target = "1 kgf"\ntolerance = "2 kgf"\nhold_s = 45\nrepetitions = 5\n')
    second = tmp_path / "second.toml"
    assert main(["therapist", "ppt", "--db", str(db), "--plan-out", str(second), "--base", str(base)]) == 0
    assert load_plan(second).repetitions == 5 and load_plan(second).hold_s == 45

    before = out.read_text()
    assert main(["therapist", "ppt", "--db", str(db), "--plan-out", str(out)]) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err and out.read_text() == before
    several = ppt_db(tmp_path / "two", "dev1", "dev2")
    assert main(["therapist", "ppt", "--db", str(several), "--plan-out", str(tmp_path / "x.toml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose one with --device" in err and not (tmp_path / "x.toml").exists()
    chosen = ["therapist", "ppt", "--db", str(several), "--device", "dev2", "--plan-out", str(tmp_path / "x.toml")]
    assert main(chosen) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp file left
