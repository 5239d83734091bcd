"""JSON Schemas of every file format and payload, exported from the models.

``presspoint config schema --out config/schema`` writes them; a test checks
the committed copies are current, so the documented interface cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from config.device import DeviceConfig
from config.plan import TherapyPlan
from firmware.session.summary import SessionSummary


def _schema(model: type[BaseModel]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        return model.model_json_schema(by_alias=True)

    return make


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "plan": _schema(TherapyPlan),
    "device": _schema(DeviceConfig),
    "summary": _schema(SessionSummary),
}


def _mqtt_payload_schemas() -> None:
    from firmware.protocol.payloads import MODELS

    for name, model in MODELS.items():
        SCHEMAS[f"mqtt-{name}"] = _schema(model)


_mqtt_payload_schemas()


def register_schema(name: str, model: type[BaseModel]) -> None:
    """Add a payload model's schema to the export (used by the MQTT payload module)."""
    SCHEMAS[name] = _schema(model)


def write_schemas(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or sorted(SCHEMAS):
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
