"""Read device configs and plans from TOML files into validated models.

Every failure becomes an ``InputFileError`` naming the file, the field (or
line) and the rule, so a bad file is refused whole: nothing half-applied.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.device import DEFAULT_DEVICE_MAX_N, DeviceConfig
from config.errors import InputFileError
from config.plan import DEVICE_MAX_CONTEXT_KEY, TherapyPlan

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_DIR = PACKAGE_DIR / "defaults"
EXAMPLES_DIR = PACKAGE_DIR / "examples"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax errors into ``InputFileError``."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputFileError(path, None, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, None, "is a directory, not a file") from None
    except PermissionError:
        raise InputFileError(path, None, "permission denied") from None
    except UnicodeDecodeError as err:
        raise InputFileError(path, f"byte {err.start}", "not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputFileError(path, None, f"not valid TOML ({err})") from None


def describe_validation_error(err: ValidationError) -> tuple[str, str]:
    """The first problem of a pydantic error as (field path, readable rule)."""
    first = err.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if ": " in message and first["type"] == "value_error" and location == "(top level)":
        # Cross-field rules name their field themselves: "tolerance: must be ..."
        location, message = message.split(": ", 1)
    if first["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    more = len(err.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return location, message


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path, context: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        field, problem = describe_validation_error(err)
        raise InputFileError(path, f"field {field!r}", problem) from None


def load_device_config(path: Path | None) -> DeviceConfig:
    """The device config from ``path``, or the built-in defaults when ``None``."""
    if path is None:
        return DeviceConfig()
    config: DeviceConfig = _validate(DeviceConfig, read_toml(path), path, {})
    return config


def load_plan(path: Path | None, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> TherapyPlan:
    """A therapy plan from ``path`` (or the default plan), checked against ``device_max_n``.

    A plan file holds the plan's keys at top level, or under a ``[plan]`` table.
    """
    if path is None:
        path = DEFAULTS_DIR / "plan.toml"
    data = read_toml(path)
    if set(data) == {"plan"} and isinstance(data["plan"], dict):
        data = data["plan"]
    plan: TherapyPlan = _validate(TherapyPlan, data, path, {DEVICE_MAX_CONTEXT_KEY: device_max_n})
    return plan


def check_file(path: Path, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> str:
    """Validate a plan or device config, guessing which by its keys; return what it was."""
    data = read_toml(path)
    plan_keys = set(TherapyPlan.model_fields) | {"plan"}
    if data and set(data) <= plan_keys:
        load_plan(path, device_max_n)
        return "plan"
    load_device_config(path)
    return "device config"
