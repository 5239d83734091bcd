"""The person's last PPT measurement at each spot, in the state directory, for the next one's change.

One small JSON document (``ppt_history.json``), replaced atomically: a power
cut leaves the old or the new one.  Only the service process writes it (one
measurement at a time), so no lock is needed.  A document that cannot be
read is an error naming the file, never silently replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from config.json_document import load_document, save_document
from config.profile import PptProtocol
from config.reading import MIB
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
        return load_document(self.path, PptHistoryRecord, LIMIT_BYTES)

    def previous_kpa(self, person: str | None, spot: str) -> float | None:
        last = self.load().people.get(person or NOBODY, {}).get(spot)
        return None if last is None else last.mean_kpa

    def record(self, person: str | None, m: PptSpotMeasurement) -> None:
        history = self.load()
        people = dict(history.people)
        spots = dict(people.get(person or NOBODY, {}))
        spots[m.spot] = LastAtSpot(mean_kpa=m.mean_kpa, measured_at=m.measured_at, measurement_id=m.measurement_id)
        people[person or NOBODY] = spots
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_document(self.path, PptHistoryRecord(people=people))


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
