"""What every request handler needs: the database, the live hub, the broker, the keys, the user."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.requests import Request

from config.mqtt import MqttSettings
from firmware.clinic.auth import User
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.live import LiveHub
from firmware.clinic.login_limit import SharedLoginLimiter
from firmware.clinic.settings import ClinicSettings


@dataclass
class ClinicContext:
    engine: Engine
    settings: ClinicSettings
    mqtt: MqttSettings | None
    hub: LiveHub = field(default_factory=LiveHub)
    #: The running collector's store, told to ``forget`` its cached rows after an erase from a page.
    store: ClinicStore | None = None
    limiter: SharedLoginLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = SharedLoginLimiter(self.engine)

    def key_file(self, device_id: str) -> Path | None:
        if self.settings.keys_dir is None:
            return None
        return self.settings.keys_dir / f"{device_id}.key"


def ctx(request: Request) -> ClinicContext:
    context: ClinicContext = request.app.state.clinic
    return context


def user(request: Request) -> User:
    """The signed-in user (the security middleware refused the request otherwise)."""
    found: User = request.state.user
    return found

