"""CSV traces: interpolation, dropouts, holding the last value, and malformed files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from config.errors import InputFileError
from hal.clock import VirtualClock
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import ForceTrace, Keyframe, load_trace, parse_trace_csv, trace_to_csv


def test_linear_interpolation_and_hold_last_value() -> None:
    trace = parse_trace_csv("time_s,force_n\n0,0\n1,10\n3,30\n", "t.csv")
    assert trace.force_at(0.0) == 0.0
    assert trace.force_at(0.5) == pytest.approx(5.0)
    assert trace.force_at(2.0) == pytest.approx(20.0)
    assert trace.force_at(3.0) == 30.0
    assert trace.force_at(1000.0) == 30.0
    assert trace.force_at(0.25) == pytest.approx(2.5)  # random access after later reads


def test_nan_row_means_no_samples_until_next_numeric_row() -> None:
    trace = parse_trace_csv("time_s,force_n\n0,10\n1,20\n2,nan\n3,5\n", "t.csv")
    assert trace.force_at(1.5) == 20.0  # the row before a dropout holds its value
    assert trace.force_at(2.0) is None
    assert trace.force_at(2.99) is None
    assert trace.force_at(3.0) == 5.0


def test_trailing_nan_means_the_sensor_never_comes_back() -> None:
    trace = ForceTrace([Keyframe(0, 1.0), Keyframe(1, math.nan)])
    assert trace.force_at(0.5) == 1.0
    assert trace.force_at(50) is None


def test_loadcell_samples_trace_at_the_sample_rate() -> None:
    clock = VirtualClock()
    trace = parse_trace_csv("time_s,force_n\n0,0\n1,80\n", "t.csv")
    cell = SimulatedLoadCell(trace, clock, sample_rate_hz=80)
    readings = [cell.read(1 / 80) for _ in range(81)]
    assert [SIMULATED_CALIBRATION.to_newtons(r) for r in readings if r is not None] == pytest.approx(
        [n * 1.0 for n in range(81)]
    )
    assert clock.now() == pytest.approx(1.0)


def test_loadcell_returns_none_during_dropout_and_time_moves_by_timeout() -> None:
    clock = VirtualClock()
    trace = parse_trace_csv("time_s,force_n\n0,1\n0.05,nan\n", "t.csv")
    cell = SimulatedLoadCell(trace, clock, sample_rate_hz=80)
    got = [cell.read(1 / 80) for _ in range(8)]
    assert [g is not None for g in got] == [True] * 4 + [False] * 4
    assert clock.now() == pytest.approx(7 / 80)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        ("", "line 1", "empty file"),
        ("t,f\n0,1\n", "line 1", "header must be 'time_s,force_n'"),
        ("time_s,force_n\n0,1\n1,abc\n", "line 3", "force_n is not a number: 'abc'"),
        ("time_s,force_n\n0,1\nx,1\n", "line 3", "time_s is not a number"),
        ("time_s,force_n\n0,1\n2,1\n1,1\n", "line 4", "time goes backwards"),
        ("time_s,force_n\n0,1,2\n", "line 2", "expected 2 columns"),
        ("time_s,force_n\nnan,1\n", "line 2", "time_s must be a finite number"),
        ("time_s,force_n\n0,inf\n", "line 2", "force_n must be finite or nan"),
        ("time_s,force_n\n", None, "no data rows"),
    ],
)
def test_malformed_traces_name_file_and_line(text: str, where: str | None, problem: str) -> None:
    with pytest.raises(InputFileError) as info:
        parse_trace_csv(text, "my.csv")
    message = str(info.value)
    assert message.startswith("my.csv: " + (f"{where}: " if where else ""))
    assert problem in message


def test_load_trace_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        load_trace(tmp_path / "missing.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InputFileError, match="not UTF-8"):
        load_trace(tmp_path / "bin.csv")
    with pytest.raises(InputFileError, match="is a directory"):
        load_trace(tmp_path)


def test_round_trip_through_csv() -> None:
    text = trace_to_csv([(0.0, 1.0), (0.5, None), (1.0, 2.5)])
    trace = parse_trace_csv(text, "mem")
    assert trace.force_at(0.25) == 1.0
    assert trace.force_at(0.75) is None
    assert trace.force_at(1.0) == 2.5
