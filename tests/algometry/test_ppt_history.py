"""The person's PPT history in the state directory: the change against the last measurement at a spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import InputFileError
from config.profile import PptProtocol
from firmware.algometry.measurement import MeasurementOutcome, MeasurementResult, SpotTrials
from firmware.algometry.standard import TrialPressure
from firmware.storage.ppt_history import FILE_NAME, PptHistory, measured_spots


def result(*spots: tuple[str, list[float]]) -> MeasurementResult:
    """A completed measurement whose spots have on-rate trials of these thresholds (kPa on 1 cm²)."""
    return MeasurementResult(
        outcome=MeasurementOutcome.COMPLETED,
        spots=tuple(
            SpotTrials(i, name, tuple(TrialPressure(k / 10, k, 50.0, False) for k in kpas), ())
            for i, (name, kpas) in enumerate(spots, start=1)
        ),
        abort=None,
        duration_s=60.0,
        device_max_n=88.0,
    )


def measure(
    history: PptHistory, person: str | None, spot: str, kpas: list[float], *, keep: bool = True
) -> tuple[float | None, bool | None]:
    [m] = measured_spots(
        result((spot, kpas)), history=history, person=person, protocol=PptProtocol(), device_id="d1", keep=keep
    )
    return m.change_kpa, m.real_change


@pytest.mark.parametrize(
    ("second", "change", "real"),
    [(340.0, 40.0, False), (340.5, 40.5, True), (259.5, -40.5, True), (260.0, -40.0, False)],
)
def test_the_change_is_real_beyond_the_mdc_of_40_kpa(tmp_path: Path, second: float, change: float, real: bool) -> None:
    history = PptHistory(tmp_path)
    assert measure(history, "P-1", "neck", [300.0, 300.0, 300.0]) == (None, None)  # nothing before
    got_change, got_real = measure(history, "P-1", "neck", [second, second, second])
    assert got_change == pytest.approx(change) and got_real is real


def test_the_history_is_per_person_and_spot_and_survives_a_new_store(tmp_path: Path) -> None:
    measure(PptHistory(tmp_path), "P-1", "neck", [300.0])
    measure(PptHistory(tmp_path), None, "neck", [100.0])
    history = PptHistory(tmp_path)
    assert history.previous_kpa("P-1", "neck") == pytest.approx(300.0)
    assert history.previous_kpa(None, "neck") == pytest.approx(100.0)
    assert history.previous_kpa("P-1", "shoulder") is None and history.previous_kpa("P-2", "neck") is None
    assert measure(history, "P-1", "shoulder", [200.0]) == (None, None)
    assert measure(history, "P-1", "neck", [350.0])[0] == pytest.approx(50.0)


def test_a_simulation_reads_the_history_but_keeps_nothing(tmp_path: Path) -> None:
    history = PptHistory(tmp_path)
    measure(history, "P-1", "neck", [300.0])
    before = (tmp_path / FILE_NAME).read_bytes()
    assert measure(history, "P-1", "neck", [400.0], keep=False) == (pytest.approx(100.0), True)
    assert (tmp_path / FILE_NAME).read_bytes() == before


def test_an_unreadable_history_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text('{"people": {"P-1": {"neck": {"mean_kpa": "lots"}}}}')
    with pytest.raises(InputFileError, match=FILE_NAME) as err:
        PptHistory(tmp_path).previous_kpa("P-1", "neck")
    assert "\n" not in str(err.value)
