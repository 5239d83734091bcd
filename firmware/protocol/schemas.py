"""The one registry of JSON Schemas: every file format and MQTT payload, exported from its model.

``presspoint config schema --out config/schema`` writes them; a test checks
the committed copies are current, so the documented interface cannot drift.
The registry is a plain constant: nothing adds to it at import time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from config.device import DeviceConfig
from config.plan import TherapyPlan
from config.profile import Profile
from firmware.protocol.payloads import MODELS
from firmware.protocol.person import FollowUpMessage, PersonStatus, SignedAnswer, SignedClear
from firmware.protocol.plan_envelope import SignedPlan
from firmware.protocol.plan_messages import PlanError, PlanState
from firmware.protocol.ppt import PptMeasurement, PptSpotMeasurement
from firmware.session.summary import SessionSummary

SCHEMAS: Mapping[str, type[BaseModel]] = MappingProxyType(
    {
        "plan": TherapyPlan,
        "device": DeviceConfig,
        "summary": SessionSummary,
        "profile": Profile,
        **{f"mqtt-{kind}": model for kind, model in MODELS.items()},
        "mqtt-plan-set": SignedPlan,
        "mqtt-plan-state": PlanState,
        "mqtt-plan-error": PlanError,
        "mqtt-ppt": PptMeasurement,
        "mqtt-ppt-2": PptSpotMeasurement,
        "mqtt-person-status": PersonStatus,
        "mqtt-follow-up": FollowUpMessage,
        "mqtt-person-clear": SignedClear,
        "mqtt-person-answer": SignedAnswer,
    }
)


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema registered as ``name`` (field aliases, e.g. ``schema``, as on the wire)."""
    return SCHEMAS[name].model_json_schema(by_alias=True)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every session/status payload model, keyed by its ``parse_payload`` kind."""
    return {kind: json_schema(f"mqtt-{kind}") for kind in MODELS}


def write_schemas(folder: Path, names: Iterable[str] | None = None) -> list[Path]:
    """Write ``<name>.schema.json`` files into ``folder`` (all of them by default); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or sorted(SCHEMAS):
        path = folder / f"{name}.schema.json"
        path.write_text(json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def write_json_schemas(directory: Path) -> list[Path]:
    """Write the session/status payloads' ``mqtt-<kind>.schema.json`` files; returns their paths."""
    return write_schemas(directory, [f"mqtt-{kind}" for kind in MODELS])
