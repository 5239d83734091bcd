"""Force units.  Plans and configs accept newtons or a string with a unit.

Everything inside the firmware is in newtons; conversion happens once, here,
when a file is validated.  ``kg`` is refused: it is a mass, and guessing that
it meant kilograms-force is how a plan ends up wrong by a factor of 9.8.  No
force may exceed ``MAX_FORCE_N`` (2,000 N, about 204 kgf): far beyond what a
hand-held tool can press, so a larger number is a typo, never a setting.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from config.shown import number, shown

STANDARD_GRAVITY = 9.80665  # m/s², exact by definition
NEWTONS_PER_UNIT: dict[str, float] = {
    "n": 1.0,
    "kgf": STANDARD_GRAVITY,
    "lbf": 0.45359237 * STANDARD_GRAVITY,
}
#: The largest force any plan, profile or config may name, in newtons.
MAX_FORCE_N = 2000.0
_FORCE_HELP = "a force must be a number of newtons or a string like '3 kgf'"
_FORCE_RE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)?\s*$")


def kgf(value: float) -> float:
    """Kilograms-force to newtons."""
    return value * STANDARD_GRAVITY


def parse_force(value: Any) -> float:
    """Parse a force given as newtons (a number) or as ``"<number> <unit>"``.

    Units: N, kgf, lbf, case-insensitive.  Raises ``ValueError`` with a
    short message that says what was wrong.
    """
    if isinstance(value, bool):
        raise ValueError(_FORCE_HELP)
    if isinstance(value, int | float):
        amount, unit = float(value), "n"
    elif isinstance(value, str):
        match = _FORCE_RE.match(value) if len(value) <= 100 else None
        if not match:
            raise ValueError(f"cannot read {shown(value)} as a force; write e.g. '3 kgf', '29.4 N' or '6.6 lbf'")
        amount = float(match.group(1))
        unit = (match.group(2) or "n").lower()
        if unit == "kg":
            raise ValueError(f"{shown(value)}: kg is a mass, not a force; write kgf (kilograms-force)")
        if unit not in NEWTONS_PER_UNIT:
            raise ValueError(f"unknown force unit {shown(match.group(2))} in {shown(value)}; use N, kgf or lbf")
    else:
        raise ValueError(_FORCE_HELP)
    newtons = amount * NEWTONS_PER_UNIT[unit]
    if not math.isfinite(newtons):
        raise ValueError(f"force {shown(value)} is not a finite number")
    if abs(newtons) > MAX_FORCE_N:
        raise ValueError(f"force {shown(value)} is above the limit of {MAX_FORCE_N:.0f} N for any force")
    return newtons


def force_text(newtons: float) -> str:
    """``39.23 N (4.00 kgf)``: a force for messages, compact even when absurd."""
    return f"{number(newtons)} N ({number(newtons / STANDARD_GRAVITY)} kgf)"


Force = Annotated[
    float,
    BeforeValidator(parse_force),
    PlainSerializer(lambda v: v, return_type=float),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "description": "newtons"},
                {
                    "type": "string",
                    "pattern": r"^\s*[-+]?[0-9.]+(e[-+]?[0-9]+)?\s*([Nn]|[Kk][Gg][Ff]|[Ll][Bb][Ff])?\s*$",
                },
            ],
            "description": "A force: a number of newtons, or a string with a unit (N, kgf, lbf); at most 2000 N.",
        }
    ),
]
"""A force field: accepts ``3``, ``"3 kgf"``, ``"29.4 N"``, ``"6.6 lbf"``; holds newtons."""
