"""The person's last PPT measurement at each spot, in the state directory, for the next one's change.

One small JSON document (``ppt_history.json``), replaced atomically: a power
cut leaves the old or the new one.  Only the service process writes it (one
measurement at a time), so no lock is needed.  A document that cannot be
read is an error naming the file, never silently replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.atomic import atomic_write_bytes
from config.errors import InputFileError
from config.loader import describe_validation_error
from config.profile import PptProtocol
from config.reading import MIB, read_regular
from firmware.algometry.measurement import MeasurementResult
from firmware.protocol.ppt import PptSpotMeasurement, spot_measurement

FILE_NAME: Final = "ppt_history.json"
LIMIT_BYTES: Final = 1 * MIB
#: The key of measurements made without a profile (nobody named).
NOBODY: Final = ""


class LastAtSpot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mean_kpa: float
    measured_at: str
    measurement_id: str


class PptHistoryRecord(BaseModel):
    """Person → spot → the last measurement there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    people: dict[str, dict[str, LastAtSpot]] = Field(default_factory=dict)


class PptHistory:
    """``<state_dir>/ppt_history.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME

    def load(self) -> PptHistoryRecord:
        if not self.path.exists():
            return PptHistoryRecord()
        data = read_regular(self.path, LIMIT_BYTES)
        try:
            return PptHistoryRecord.model_validate_json(data)
        except ValidationError as err:
            where, problem = describe_validation_error(err)
            raise InputFileError(self.path, f"field {where!r}", problem) from None

    def previous_kpa(self, person: str | None, spot: str) -> float | None:
        last = self.load().people.get(person or NOBODY, {}).get(spot)
        return None if last is None else last.mean_kpa

    def record(self, person: str | None, m: PptSpotMeasurement) -> None:
        history = self.load()
        people = dict(history.people)
        spots = dict(people.get(person or NOBODY, {}))
        spots[m.spot] = LastAtSpot(mean_kpa=m.mean_kpa, measured_at=m.measured_at, measurement_id=m.measurement_id)
        people[person or NOBODY] = spots
        document = PptHistoryRecord(people=people).model_dump(mode="json")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, (json.dumps(document, indent=1) + "\n").encode("utf-8"))


def measured_spots(
    result: MeasurementResult,
    *,
    history: PptHistory,
    person: str | None,
    protocol: PptProtocol,
    device_id: str,
    keep: bool = True,
) -> list[PptSpotMeasurement]:
    """The ``ppt/2`` payload of every spot measured in full, each against the last one there.

    With ``keep`` each becomes the spot's last (a simulation reads the history but keeps nothing).
    """
    out = []
    for spot in result.spots:
        m = spot_measurement(
            spot,
            device_id=device_id,
            previous_kpa=history.previous_kpa(person, spot.spot),
            mdc_kpa=protocol.mdc_kpa,
            device_max_n=result.device_max_n,
        )
        if keep:
            history.record(person, m)
        out.append(m)
    return out
