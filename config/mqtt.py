"""MQTT connection settings (the ``[mqtt]`` table of the device config).

Secrets are kept out of every repr, log line and error message: the password
field is hidden from ``repr`` and ``display_url`` never shows it.  A password
may be given inline, in a file (for systemd ``LoadCredential=``) or in an
environment variable; exactly one source at most, so nobody wonders which won.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.errors import PresspointError

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883


class MqttConfigError(PresspointError, ValueError):
    """A broker URL or MQTT setting the user must fix; the message is one clear line."""


class MqttSettings(BaseModel):
    """Where and how the device publishes.  Disabled unless ``enabled`` or a broker is given."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str = "localhost"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str | None = None
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_file: Path | None = None
    password_env: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: str = Field("presspoint", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")

    # Reconnect: capped exponential backoff with full jitter, so a fleet that
    # lost its broker does not come back in lock step.
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    # QoS 1 publishes awaiting PUBACK at once.  aiomqtt 2.5.1 warns (and slows
    # down) above 10 pending calls, so the bound stays under it.
    max_in_flight: int = Field(8, ge=1, le=10)
    # A publish that gets no PUBACK in this time counts as a lost connection.
    publish_timeout_s: float = Field(15.0, gt=0, le=600)
    # Retained device state (status JSON with the live force) is sent at most this often.
    state_min_interval_s: float = Field(1.0, ge=0, le=3600)
    ha_discovery: bool = True
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")

    @model_validator(mode="after")
    def _consistent(self) -> MqttSettings:
        sources = [n for n in ("password", "password_file", "password_env") if getattr(self, n)]
        if len(sources) > 1:
            raise ValueError(f"give at most one of password, password_file, password_env (got {', '.join(sources)})")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate and its key)")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if self.client_id is not None and not (1 <= len(self.client_id) <= 128):
            raise ValueError("client_id must be 1..128 characters")
        return self

    def resolve_password(self) -> str | None:
        """The password from whichever source is configured, or ``None``.

        Raises ``MqttConfigError`` naming the file or variable (never the value).
        """
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise MqttConfigError(
                    f"mqtt.password_file {self.password_file}: cannot read it ({exc.strerror})"
                ) from None
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise MqttConfigError(f"mqtt.password_env: environment variable {self.password_env} is not set")
            return value
        return None

    def display_url(self) -> str:
        """``mqtt[s]://user@host:port`` for logs and messages: never the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"

    def with_broker_url(self, url: str) -> MqttSettings:
        """These settings with host, port, TLS and credentials taken from ``url``.

        What the URL does not say (CA file, client id, keepalive, ...) is kept,
        so ``--broker`` can override the host of a ``--config`` file.
        """
        parsed = parse_broker_url(url)
        data = self.model_dump()
        if "username" in parsed or "password" in parsed:
            data.update(username=None, password=None, password_file=None, password_env=None)
        data.update(parsed)
        data["enabled"] = True
        return MqttSettings.model_validate(data)


_QUERY_KEYS = {
    "protocol", "client_id", "ca_file", "cert_file", "key_file", "keepalive_s", "password_file", "password_env",
}


def parse_broker_url(url: str) -> dict[str, Any]:
    """Parse ``mqtt[s]://[user[:pass]@]host[:port][?key=value&...]`` into settings fields.

    ``mqtts`` turns TLS on and defaults the port to 8883 (else 1883).  User and
    password may be percent-encoded.  Query keys: protocol, client_id, ca_file,
    cert_file, key_file, keepalive_s, password_file, password_env.  Errors are
    ``MqttConfigError`` and never repeat the password.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise MqttConfigError(f"broker URL {_redact(url)!r}: bad host or port ({exc})") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise MqttConfigError(f"broker URL {_redact(url)!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise MqttConfigError(f"broker URL {_redact(url)!r}: no host")
    if parts.path not in ("", "/"):
        raise MqttConfigError(f"broker URL {_redact(url)!r}: unexpected path {parts.path!r}")
    tls = parts.scheme == "mqtts"
    out: dict[str, Any] = {
        "host": parts.hostname,
        "port": port if port is not None else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT),
        "tls": tls,
    }
    if parts.username is not None:
        out["username"] = unquote(parts.username)
    if parts.password is not None:
        out["password"] = unquote(parts.password)
    for key, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if key not in _QUERY_KEYS:
            raise MqttConfigError(f"broker URL: unknown option {key!r} (known: {', '.join(sorted(_QUERY_KEYS))})")
        out[key] = values[-1]
    return out


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
