"""``clinic.toml``: where the database, the broker and the plan keys are, and where to listen.

Every key may be given on the command line instead (``--db``, ``--broker``,
``--listen``); the command line wins.  The plan keys stay on the server:
``keys_dir`` holds one ``<device_id>.key`` per device (from ``therapist
keygen``), readable only by the clinic's own user.
"""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.device import DEFAULT_DEVICE_MAX_N
from config.errors import InputFileError, PresspointError
from config.loader import describe_validation_error, read_toml

DEFAULT_LISTEN = "127.0.0.1:8080"


class ClinicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    db: str = Field("sqlite:///clinic.sqlite3", description="sqlite:///FILE or postgresql://user@host/db")
    broker: str | None = Field(None, description="mqtt[s]://[user:pass@]host:port; none: no collector")
    listen: str = DEFAULT_LISTEN
    keys_dir: Path | None = Field(None, description="folder of <device_id>.key files for signing plans")
    instance: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    group: str = Field("presspoint-clinic", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    device_max_n: float = Field(DEFAULT_DEVICE_MAX_N, gt=0, description="the devices' safe range, for the editor")
    push_timeout_s: float = Field(15.0, gt=0, le=120)
    secure_cookies: bool = Field(False, description="true behind TLS: cookies get the Secure flag")


def load_settings(path: Path | None, **overrides: object) -> ClinicSettings:
    data = read_toml(path) if path is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ClinicSettings.model_validate(data)
    except ValidationError as err:
        where, problem = describe_validation_error(err)
        if path is None:
            raise PresspointError(f"--{where.replace('_', '-')}: {problem}") from None
        raise InputFileError(path, f"field {where!r}", problem) from None


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PresspointError(f"--listen {listen!r}: use HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]"), int(port)
