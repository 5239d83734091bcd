"""MQTT connection settings (the ``[mqtt]`` table of the device config).

Secrets are kept out of every repr, log line and error message: the password
field is hidden from ``repr`` and ``display_url`` never shows it.  A password
may be given inline, in a file (for systemd ``LoadCredential=``) or in an
environment variable; exactly one source at most, so nobody wonders which won.

Numbers and flags are strict (``port = true`` is refused, not read as 1), and
a ``--broker`` URL is checked with the same rules: every problem, in the URL
or the ``[mqtt]`` table, is one ``MqttConfigError`` line naming the option.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, model_validator

from config.errors import InputFileError, PresspointError
from config.reading import read_regular
from config.shown import clip, shown

DEFAULT_PORT = 1883
DEFAULT_TLS_PORT = 8883
_MAX_SECRET_BYTES = 64 * 1024


class MqttConfigError(PresspointError, ValueError):
    """A broker URL or MQTT setting the user must fix; the message is one clear line."""


class MqttSettings(BaseModel):
    """Where and how the device publishes.  Disabled unless ``enabled`` or a broker is given."""

    model_config = ConfigDict(extra="forbid")

    enabled: StrictBool = False
    # A host name or address: no spaces, slashes or URL punctuation, so it cannot smuggle a path.
    host: str = Field("localhost", min_length=1, max_length=253, pattern=r"^[A-Za-z0-9._:-]+$")
    port: StrictInt = Field(DEFAULT_PORT, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"
    client_id: str | None = None
    username: str | None = None
    password: str | None = Field(None, repr=False)
    password_file: Path | None = None
    password_env: str | None = None
    tls: StrictBool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: StrictInt = Field(30, ge=5, le=3600)
    topic_prefix: str = Field("presspoint", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")

    # Reconnect: capped exponential backoff with full jitter, so a fleet that
    # lost its broker does not come back in lock step.
    reconnect_min_s: StrictFloat = Field(0.5, gt=0, le=60)
    reconnect_max_s: StrictFloat = Field(30.0, gt=0, le=3600)
    # QoS 1 publishes awaiting PUBACK at once.  aiomqtt 2.5.1 warns (and slows
    # down) above 10 pending calls, so the bound stays under it.
    max_in_flight: StrictInt = Field(8, ge=1, le=10)
    # A publish that gets no PUBACK in this time counts as a lost connection.
    publish_timeout_s: StrictFloat = Field(15.0, gt=0, le=600)
    # Retained device state (status JSON with the live force) is sent at most this often.
    state_min_interval_s: StrictFloat = Field(1.0, ge=0, le=3600)
    ha_discovery: StrictBool = True
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
                return read_regular(self.password_file, _MAX_SECRET_BYTES).decode("utf-8").rstrip("\r\n")
            except InputFileError as exc:
                raise MqttConfigError(f"mqtt.password_file {exc.path}: cannot read it ({exc.problem})") from None
            except UnicodeDecodeError:
                raise MqttConfigError(f"mqtt.password_file {self.password_file}: not UTF-8 text") from None
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
        try:
            return MqttSettings.model_validate(data)
        except ValidationError as err:
            raise MqttConfigError(f"broker URL {shown(_redact(url))}: {_url_problem(err)}") from None


_QUERY_KEYS = {
    "protocol", "client_id", "ca_file", "cert_file", "key_file", "keepalive_s", "password_file", "password_env",
}
_INT_QUERY_KEYS = {"keepalive_s"}


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
        raise MqttConfigError(f"broker URL {shown(_redact(url))}: bad host or port ({clip(str(exc))})") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise MqttConfigError(f"broker URL {shown(_redact(url))}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise MqttConfigError(f"broker URL {shown(_redact(url))}: no host")
    if parts.path not in ("", "/"):
        raise MqttConfigError(f"broker URL {shown(_redact(url))}: unexpected path {shown(parts.path)}")
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
            raise MqttConfigError(f"broker URL: unknown option {shown(key)} (known: {', '.join(sorted(_QUERY_KEYS))})")
        out[key] = _query_value(key, values[-1])
    return out


def _query_value(key: str, value: str) -> object:
    """A query option as its field's type: whole numbers are parsed here, never guessed later."""
    if key in _INT_QUERY_KEYS:
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise MqttConfigError(f"broker URL option {key}: must be a whole number, got {shown(value)}")
        return int(value)
    return value


def _url_problem(err: ValidationError) -> str:
    """The first problem of settings built from a URL, named by URL part or option."""
    first = err.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    message = clip(first["msg"].removeprefix("Value error, "), 160)
    if not field:
        return message
    part = field if field in ("host", "port") else f"option {field}"
    return f"{part}: {message}"


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
