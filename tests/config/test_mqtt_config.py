"""MQTT settings, broker URLs, topics and payload models (no broker needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from config.errors import PresspointError
from config.mqtt import MqttConfigError, MqttSettings, parse_broker_url
from firmware.mqtt.connection import Backoff
from firmware.protocol.payloads import BadPayload, DeviceStatus, EventMessage, SamplesBatch, parse_payload
from firmware.protocol.schemas import json_schemas, write_json_schemas
from firmware.protocol.topics import Topics, ha_discovery_configs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker.local", {"host": "broker.local", "port": 1883, "tls": False}),
        ("mqtts://broker.local", {"host": "broker.local", "port": 8883, "tls": True}),
        ("mqtt://10.0.0.2:1884", {"host": "10.0.0.2", "port": 1884, "tls": False}),
        ("mqtt://[::1]:1999", {"host": "::1", "port": 1999, "tls": False}),
        (
            "mqtts://dev%40clinic:p%3Ass@h:8884",
            {"host": "h", "port": 8884, "tls": True, "username": "dev@clinic", "password": "p:ss"},
        ),
        ("mqtt://h?protocol=3.1.1&client_id=abc", {"host": "h", "port": 1883, "tls": False, "protocol": "3.1.1",
                                                   "client_id": "abc"}),
    ],
)
def test_broker_url_parses(url: str, expected: dict[str, object]) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://h", "scheme"),
        ("mqtt://", "no host"),
        ("mqtt://h:99999", "port"),
        ("mqtt://h/x", "path"),
        ("mqtt://h?colour=red", "unknown option"),
    ],
)
def test_bad_broker_url_is_one_clear_line(url: str, fragment: str) -> None:
    with pytest.raises(MqttConfigError) as err:
        parse_broker_url(url)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, PresspointError)  # the CLI prints it and exits 2


def test_password_never_in_errors_repr_or_display() -> None:
    with pytest.raises(MqttConfigError) as err:
        parse_broker_url("ftp://u:hunter2@h")
    assert "hunter2" not in str(err.value)
    settings = MqttSettings().with_broker_url("mqtts://u:hunter2@h:1")
    assert settings.enabled and settings.tls and settings.password == "hunter2"
    assert "hunter2" not in repr(settings)
    assert settings.display_url() == "mqtts://u@h:1"


def test_with_broker_url_keeps_other_settings_and_replaces_credentials() -> None:
    base = MqttSettings(ca_file=Path("/ca.pem"), keepalive_s=45, username="old", password_env="X")
    merged = base.with_broker_url("mqtt://new:pw@h")
    assert (merged.ca_file, merged.keepalive_s, merged.username, merged.password) == (Path("/ca.pem"), 45, "new", "pw")
    assert merged.password_env is None
    kept = base.with_broker_url("mqtt://h2")
    assert (kept.username, kept.password_env) == ("old", "X")


def test_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    assert MqttSettings(password_file=secret).resolve_password() == "s3cret"
    monkeypatch.setenv("PP_PW", "from-env")
    assert MqttSettings(password_env="PP_PW").resolve_password() == "from-env"
    assert MqttSettings().resolve_password() is None
    with pytest.raises(MqttConfigError, match="PP_MISSING is not set"):
        MqttSettings(password_env="PP_MISSING").resolve_password()
    with pytest.raises(MqttConfigError, match="cannot read"):
        MqttSettings(password_file=tmp_path / "nope").resolve_password()
    with pytest.raises(ValidationError, match="at most one"):
        MqttSettings(password="a", password_env="PP_PW")
    with pytest.raises(ValidationError, match="go together"):
        MqttSettings(cert_file=Path("c.pem"))


def test_old_style_settings_still_load() -> None:
    """The original [mqtt] fields keep working unchanged."""
    old = {
        "enabled": True, "host": "h", "port": 1883, "protocol": "3.1.1", "client_id": "c", "username": "u",
        "password": "p", "tls": False, "keepalive_s": 30, "topic_prefix": "presspoint",
    }
    assert MqttSettings.model_validate(old).protocol == "3.1.1"


def test_backoff_is_capped_jittered_and_resets() -> None:
    backoff = Backoff(0.5, 30.0, random.Random(1))
    delays = [backoff.next() for _ in range(40)]
    assert all(0.25 <= d <= 30.0 for d in delays)
    assert max(delays[:3]) <= 2.0 and max(delays[10:]) > 10.0  # grows, then stays under the cap
    assert len({round(d, 6) for d in delays[10:]}) > 20  # jittered, not lock-step
    backoff.reset()
    assert backoff.next() <= 0.5


def test_topics() -> None:
    topics = Topics("dev-1")
    assert topics.status == "presspoint/dev-1/status"
    assert topics.status_info == "presspoint/dev-1/status/info"
    assert topics.session_event("s1") == "presspoint/dev-1/session/s1/event"
    assert topics.session_samples("s1") == "presspoint/dev-1/session/s1/samples"
    assert topics.session_summary("s1") == "presspoint/dev-1/session/s1/summary"
    assert topics.ha_config("sensor", "force") == "homeassistant/sensor/dev-1/force/config"
    for bad in ("a/b", "+", "#", "", "x" * 65):
        with pytest.raises(ValueError, match="topic level"):
            topics.session_event(bad)
    with pytest.raises(ValueError):
        Topics("dev/1")


def test_ha_discovery_configs_are_tied_to_availability() -> None:
    topics = Topics("dev1")
    configs = ha_discovery_configs(topics, firmware_version="1.2.3")
    assert set(configs) == {
        "homeassistant/sensor/dev1/force/config",
        "homeassistant/sensor/dev1/phase/config",
        "homeassistant/sensor/dev1/last_outcome/config",
    }
    for payload in configs.values():
        config = json.loads(payload)
        assert config["availability_topic"] == topics.status
        assert config["state_topic"] == topics.status_info
        assert config["unique_id"].startswith("presspoint_dev1_")
        assert config["device"]["sw_version"] == "1.2.3"


def test_payload_models_and_schemas(tmp_path: Path) -> None:
    schemas = json_schemas()
    assert set(schemas) == {"event", "samples", "status", "ha_sensor_config"}
    assert "msg_id" in schemas["event"]["properties"] and "seq" in schemas["samples"]["properties"]
    paths = write_json_schemas(tmp_path)
    assert all(json.loads(p.read_text()) for p in paths)
    batch = SamplesBatch(msg_id="m", seq=1, device_id="d", session_id="s", created_at="x", batch=0, t0=0.0,
                         dt=0.5, n=3, force_n=[1.0, 2.0, None], raw=[1, 2, None])
    assert batch.times() == [0.0, 0.5, 1.0]
    event = parse_payload("event", json.dumps({
        "schema": "presspoint.event/1", "msg_id": "m", "seq": 2, "device_id": "d", "session_id": "s",
        "created_at": "x", "index": 0, "event": {"type": "phase", "t": 0.0, "phase": "hold"},
    }))
    assert isinstance(event, EventMessage) and event.event.model_extra == {"phase": "hold"}
    status = DeviceStatus(device_id="d", firmware_version="1", calibrated=False, updated_at="x")
    assert json.loads(status.model_dump_json(by_alias=True))["session_id"] is None


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[]", b'{"seq": -1}', b"{" * 10_000, b"null"])
def test_bad_payloads_raise_one_clear_error(payload: bytes) -> None:
    for kind in ("event", "samples", "status"):
        with pytest.raises(BadPayload) as err:
            parse_payload(kind, payload)
        assert "\n" not in str(err.value)
    with pytest.raises(BadPayload, match="unknown payload kind"):
        parse_payload("nope", b"{}")
