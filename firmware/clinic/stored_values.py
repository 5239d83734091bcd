"""Values read back from what the collector stored: JSON columns, numbers, ratings and PPT in kPa.

Stored rows come from devices of any age, so every reader takes what it
finds and turns the unexpected into ``None`` (or ``{}``) instead of failing.
A ``presspoint.ppt/1`` row has only ``threshold_n``: its kPa is for the
default 1 cm² probe, and a change is real past the minimum detectable change.
"""

from __future__ import annotations

import json
from typing import Any

#: A PPT change larger than this is a real change (the outcomes issue's default ``mdc_kpa``), kPa.
MDC_KPA = 40.0
#: kPa per N on the default 1 cm² probe (1 N/cm² = 10 kPa).
KPA_PER_N_1CM2 = 10.0


def json_object(text: object) -> dict[str, Any]:
    """A stored JSON object, or ``{}`` for anything else (no text, bad JSON, not an object)."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def rating(value: object) -> int | None:
    """A 0..10 rating, or ``None``."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10 else None


def number(value: object) -> float | None:
    """A number (not a bool) as a float, or ``None``."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def row_kpa(mean_kpa: float | None, threshold_n: float | None) -> float | None:
    """A PPT row's threshold in kPa: its ``mean_kpa``, else its newtons on the default 1 cm² probe."""
    if mean_kpa is not None:
        return mean_kpa
    return None if threshold_n is None else threshold_n * KPA_PER_N_1CM2


def is_real_change(change_kpa: float) -> bool:
    """Past the minimum detectable change."""
    return abs(change_kpa) > MDC_KPA
