"""The clinic app holding a device's signing key, for the pages that send signed messages (clears, answers)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from firmware.clinic.app import create_app
from firmware.clinic.auth import add_user
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.server import mqtt_settings
from firmware.clinic.settings import ClinicSettings
from firmware.protocol.plan_envelope import DeviceKey, write_key_file
from tests.clinic.db_templates import DatabaseTemplates
from tests.clinic.person_data import DEVICE, store_weeks
from tests.clinic.signed_in import sign_in_ahead
from tests.clinic.test_web import PASSWORD
from tests.mqtt_broker import Mosquitto


def _seed(url: str) -> None:
    engine = open_database(url)
    add_user(engine, "ann", "therapist", PASSWORD)
    add_user(engine, "vic", "viewer", PASSWORD)
    store_weeks(ClinicStore(engine))
    sign_in_ahead(engine, PASSWORD, "ann", "vic")
    engine.dispose()


def signing_app(
    mosquitto: Mosquitto, tmp_path: Path, templates: DatabaseTemplates
) -> tuple[Engine, DeviceKey, Starlette]:
    """A therapist (ann), a viewer (vic), the person's weeks (a copy of one SQLite database), and the app holding
    the device's key."""
    engine: Engine = open_database(templates.copy("signing", _seed, tmp_path, None))
    keys = tmp_path / "keys"
    keys.mkdir()
    key = DeviceKey.generate()
    write_key_file(keys / f"{DEVICE}.key", key, device_id=DEVICE)
    settings = ClinicSettings(db="sqlite:///unused", broker=mosquitto.url, keys_dir=keys)
    return engine, key, create_app(ClinicContext(engine=engine, settings=settings, mqtt=mqtt_settings(settings)))
