"""CSV traces: interpolation, dropouts, holding the last value, and malformed files."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from config.errors import InputFileError
from hal.clock import VirtualClock
from simulator import trace as trace_module
from simulator.loadcell import SIMULATED_CALIBRATION, SimulatedLoadCell
from simulator.trace import MAX_TRACE_BYTES, ForceTrace, Keyframe, load_trace, parse_trace_csv, trace_to_csv


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
        ('time_s,force_n\n0,1\n"1,2\n3,4\n', "line 3", "unterminated quote"),
        ("time_s,force_n\n0,1e308\n", "line 2", "force_n must be within ±2000 N, got 1e+308"),
        ("\ufefftime_s,force_n\n0,1\n", "line 1", "byte-order mark"),
        ("time_s,force_n\n0," + "9" * 10_000 + "x\n", "line 2", "force_n is not a number"),
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


def test_trace_files_refuse_fifos_devices_and_giant_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="FIFO"):
        load_trace(fifo)
    with pytest.raises(InputFileError, match="is a device"):
        load_trace(Path("/dev/zero"))
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(InputFileError, match="symbolic link loop"):
        load_trace(loop)
    big = tmp_path / "big.csv"
    with big.open("wb") as out:
        out.truncate(MAX_TRACE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(InputFileError, match="the limit is 64 MiB"):
        load_trace(big)


def test_error_lines_stay_short() -> None:
    with pytest.raises(InputFileError) as info:
        parse_trace_csv("time_s,force_n\n0," + "1" * 5000 + "q\n", "t.csv")
    assert len(str(info.value)) < 200


def test_row_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_module, "MAX_TRACE_ROWS", 3)
    assert parse_trace_csv("time_s,force_n\n0,1\n1,2\n2,3\n", "t.csv").end_time_s == 2
    with pytest.raises(InputFileError, match="line 5: more than 3 data rows"):
        parse_trace_csv("time_s,force_n\n0,1\n1,2\n2,3\n3,4\n", "t.csv")


def test_a_trace_file_streams_into_the_same_trace(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(trace_to_csv([(0.0, 1.0), (0.5, None), (1.0, 2.5)]))
    trace = load_trace(path)
    assert trace.force_at(0.25) == 1.0
    assert trace.force_at(0.75) is None
    assert trace.force_at(1.0) == 2.5
