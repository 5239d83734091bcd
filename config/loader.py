"""Read device configs and plans from TOML files into validated models.

Every failure becomes an ``InputFileError`` naming the file, the field (or
line) and the rule, so a bad file is refused whole: nothing half-applied.
A TOML file is at most ``MAX_TOML_BYTES`` and is checked for absurd nesting
before it is parsed; what an error line repeats from the file is cut short.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from config.device import DEFAULT_DEVICE_MAX_N, DeviceConfig
from config.errors import InputFileError
from config.plan import TherapyPlan, validate_plan
from config.reading import MIB, read_regular
from config.shown import clip
from config.toml_limits import shape_problem

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULTS_DIR = PACKAGE_DIR / "defaults"
EXAMPLES_DIR = PACKAGE_DIR / "examples"

#: The largest config, plan or profile file read (real ones are a few KiB).
MAX_TOML_BYTES = 1 * MIB
_BOM = "\ufeff"
_T = TypeVar("_T")
#: Top-level keys only a person profile has (``check_file`` tells the kinds apart by them).
_PROFILE_KEYS = frozenset({"name", "screened_on", "contraindications", "personal_tolerance"})


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O, size, nesting and syntax errors into ``InputFileError``."""
    raw = read_regular(path, MAX_TOML_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(path, f"byte {err.start}", "not UTF-8 text") from None
    if text.startswith(_BOM):
        raise InputFileError(path, "byte 0", "starts with a byte-order mark (BOM); save it as UTF-8 without BOM")
    problem = shape_problem(text)
    if problem is not None:
        raise InputFileError(path, None, f"not accepted as TOML ({problem})")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputFileError(path, None, f"not valid TOML ({clip(str(err), 120)})") from None
    except RecursionError:  # the pre-scan should have caught it; never a traceback
        raise InputFileError(path, None, "not accepted as TOML (nested too deeply)") from None


def describe_validation_error(err: ValidationError) -> tuple[str, str]:
    """The first problem of a pydantic error as (field path, readable rule)."""
    first = err.errors()[0]
    location = clip(".".join(str(part) for part in first["loc"])) or "(top level)"
    message = clip(first["msg"].removeprefix("Value error, "), 200)
    if ": " in message and first["type"] == "value_error" and location == "(top level)":
        # Cross-field rules name their field themselves: "tolerance: must be ..."
        location, message = message.split(": ", 1)
    if first["type"] == "extra_forbidden":
        message = "unknown field (check the spelling)"
    more = len(err.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return location, message


def validated(path: Path, validate: Callable[[], _T]) -> _T:
    """``validate()`` of what ``path`` holds; a validation error is one line naming the file and the field."""
    try:
        return validate()
    except ValidationError as err:
        field, problem = describe_validation_error(err)
        raise InputFileError(path, f"field {field!r}", problem) from None


def load_device_config(path: Path | None) -> DeviceConfig:
    """The device config from ``path``, or the built-in defaults when ``None``."""
    if path is None:
        return DeviceConfig()
    data = read_toml(path)
    return validated(path, lambda: DeviceConfig.model_validate(data, context={}))


def load_plan(path: Path | None, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> TherapyPlan:
    """A therapy plan from ``path`` (or the default plan), checked against ``device_max_n``.

    A plan file holds the plan's keys at top level, or under a ``[plan]`` table,
    and must name at least ``config.plan.REQUIRED_KEYS``.
    """
    if path is None:
        path = DEFAULTS_DIR / "plan.toml"
    return _plan_from(read_toml(path), path, device_max_n)


def _plan_from(data: dict[str, Any], path: Path, device_max_n: float) -> TherapyPlan:
    if set(data) == {"plan"} and isinstance(data["plan"], dict):
        data = data["plan"]
    return validated(path, lambda: validate_plan(data, device_max_n))


def check_file(path: Path, device_max_n: float = DEFAULT_DEVICE_MAX_N) -> str:
    """Validate a plan, person profile or device config, judged by its keys; return which it was."""
    data = read_toml(path)
    if not data:
        raise InputFileError(path, None, "empty file (no keys): neither a plan, a profile nor a device config")
    keys = set(data)
    plan_keys = set(TherapyPlan.model_fields) | {"plan"}
    if keys & plan_keys and not keys & (_PROFILE_KEYS | set(DeviceConfig.model_fields)):
        _plan_from(data, path, device_max_n)  # a misspelt plan key is reported as such
        return "plan"
    if keys & _PROFILE_KEYS:
        from config.profile import load_profile  # config.profile imports this module

        load_profile(path, device_max_n)
        return "profile"
    validated(path, lambda: DeviceConfig.model_validate(data, context={}))
    return "device config"
