"""``presspoint therapist`` commands that need no broker: keygen, sessions, ppt, report errors, wiring."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from config.units import kgf
from firmware.algometry.settings import AlgometrySettings
from firmware.algometry.trial import AlgometryTrial
from firmware.cli import therapist as cli_therapist
from firmware.cli.main import main
from firmware.protocol.plan_envelope import load_key
from firmware.protocol.ppt import measurement, ppt_payload
from firmware.therapist import collect, connection
from firmware.therapist.store import CollectStore, Ingested
from tests.conftest import PRESSPOINT


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


def test_unreachable_broker_is_one_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = subprocess.run(
        [PRESSPOINT, "therapist", "watch", "--device", "dev1", "--once", "--broker", "mqtt://127.0.0.1:1"],
        capture_output=True, text=True, env=cli_env, timeout=30,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "MQTT mqtt://127.0.0.1:1: broker unreachable" in result.stderr


def test_sessions_and_ppt_listings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite3"
    store = CollectStore(db)
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
    CollectStore(db).close()
    assert main(["therapist", "report", "nope", "--db", str(db), "--out", str(tmp_path / "x.png")]) == 2
    assert "no session 'nope'" in capsys.readouterr().err


def test_help_defaults_match_the_implementation() -> None:
    assert cli_therapist.DEFAULT_CLIENT_ID == collect.DEFAULT_CLIENT_ID
    assert cli_therapist.DEFAULT_SESSION_EXPIRY_S == connection.DEFAULT_SESSION_EXPIRY_S
