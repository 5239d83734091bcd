"""Force units.  Plans and configs accept newtons or a string with a unit.

Everything inside the firmware is in newtons; conversion happens once, here,
when a file is validated.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

STANDARD_GRAVITY = 9.80665  # m/s², exact by definition
NEWTONS_PER_UNIT: dict[str, float] = {
    "n": 1.0,
    "kgf": STANDARD_GRAVITY,
    "kg": STANDARD_GRAVITY,
    "lbf": 0.45359237 * STANDARD_GRAVITY,
}
_FORCE_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)?\s*$")


def kgf(value: float) -> float:
    """Kilograms-force to newtons."""
    return value * STANDARD_GRAVITY


def parse_force(value: Any) -> float:
    """Parse a force given as newtons (a number) or as ``"<number> <unit>"``.

    Units: N, kgf (or kg), lbf, case-insensitive.  Raises ``ValueError`` with
    a message that says what was wrong.
    """
    if isinstance(value, bool):
        raise ValueError("a force must be a number of newtons or a string like '3 kgf'")
    if isinstance(value, int | float):
        number, unit = float(value), "n"
    elif isinstance(value, str):
        match = _FORCE_RE.match(value)
        if not match:
            raise ValueError(f"cannot read {value!r} as a force; write e.g. '3 kgf', '29.4 N' or '6.6 lbf'")
        number = float(match.group(1))
        unit = (match.group(2) or "n").lower()
        if unit not in NEWTONS_PER_UNIT:
            raise ValueError(f"unknown force unit {match.group(2)!r} in {value!r}; use N, kgf or lbf")
    else:
        raise ValueError("a force must be a number of newtons or a string like '3 kgf'")
    newtons = number * NEWTONS_PER_UNIT[unit]
    if not math.isfinite(newtons):
        raise ValueError(f"force {value!r} is not a finite number")
    return newtons


Force = Annotated[
    float,
    BeforeValidator(parse_force),
    PlainSerializer(lambda v: v, return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "description": "newtons"},
                {"type": "string", "pattern": r"^\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*(N|kgf|kg|lbf)?\s*$"},
            ],
            "description": "A force: a number of newtons, or a string with a unit (N, kgf, lbf).",
        }
    ),
]
"""A force field: accepts ``3``, ``"3 kgf"``, ``"29.4 N"``, ``"6.6 lbf"``; holds newtons."""
