"""The limits a stored threshold measurement suggests, for "use this threshold's suggestion" in the plan editor.

Both schemas the devices send carry a target, a tolerance and a therapist
maximum computed on the device from the threshold and its own force limit
(``firmware.algometry.suggestions.suggest_limits``): ``presspoint.ppt/1``
as ``suggestion`` (one trial), ``presspoint.ppt/2`` as ``suggested`` (one
spot's mean over its used trials).  ppt/2 does not repeat the device's
``device_max_n``, and the plan has no such field: the editor takes the three
suggested values and leaves every other field to the plan in force, and the
form checks them against the clinic's ``device_max_n`` setting as it checks
any value typed in - a suggestion is a starting point, never applied alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from firmware.clinic import schema as t
from firmware.protocol.ppt import PPT_SCHEMA_2, PptMeasurement, PptSpotMeasurement


@dataclass(frozen=True)
class ThresholdSuggestion:
    measurement_id: str
    measured_at: str
    threshold_n: float  # ppt/1: the trial's threshold; ppt/2: the spot's mean
    spot: str | None  # ppt/2 only
    target_n: float
    tolerance_n: float
    therapist_max_n: float


def of_payload(payload: str) -> ThresholdSuggestion | None:
    """The suggestion a stored ppt/1 or ppt/2 payload carries, or ``None`` (none made, or not readable)."""
    try:
        raw = json.loads(payload)
        if isinstance(raw, dict) and raw.get("schema") == PPT_SCHEMA_2:
            spot = PptSpotMeasurement.model_validate_json(payload)
            if spot.suggested is None:
                return None
            s2 = spot.suggested
            return ThresholdSuggestion(spot.measurement_id, spot.measured_at, spot.mean_n, spot.spot,
                                       s2.target_n, s2.tolerance_n, s2.therapist_max_n)
        trial = PptMeasurement.model_validate_json(payload)
    except (ValidationError, ValueError):
        return None
    s1 = trial.suggestion
    if s1 is None or trial.threshold_n is None:
        return None
    return ThresholdSuggestion(trial.measurement_id, trial.measured_at, trial.threshold_n, None,
                               s1.target_n, s1.tolerance_n, s1.therapist_max_n)


def stored(engine: Engine, device_id: str, measurement_id: str | None = None) -> ThresholdSuggestion | None:
    """``measurement_id``'s suggestion (it must be ``device_id``'s), or the device's latest measurement's."""
    query = sa.select(t.ppt.c.payload).where(t.ppt.c.device_id == device_id)
    if measurement_id is not None:
        query = query.where(t.ppt.c.measurement_id == measurement_id)
    query = query.order_by(t.ppt.c.measured_at.desc()).limit(1)
    with engine.connect() as conn:
        payload = conn.execute(query).scalar()
    return of_payload(payload) if isinstance(payload, str) else None
