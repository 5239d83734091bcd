"""Force traces: keyframes ``(time_s, force_n)`` read from CSV or built by profiles.

Between two numeric rows the force is interpolated linearly; after the last
row it holds the last value.  A row whose force is ``nan`` means the sensor
delivers no sample from that time until the next numeric row (a dropout);
the numeric row just before a ``nan`` row holds its value up to the dropout.

A third column ``button`` (header ``time_s,force_n,button``) presses a
button at that row's time: empty, or one of ``stop``, ``less``, ``more``, or
``mark`` (a pain-threshold trial: the person's "first discomfort" press).
A row with a button may leave its force empty; the force column is then
interpolated across it as if the row were not there.

A trace file is read as a stream into two float arrays (16 bytes a row), and
refused past ``MAX_TRACE_BYTES`` or ``MAX_TRACE_ROWS``; forces beyond the
2,000 N input limit are refused too (no load cell reads them).
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from config.errors import InputFileError
from config.reading import MIB, open_regular
from config.shown import clip, number, shown
from config.units import MAX_FORCE_N

TRACE_HEADER = ("time_s", "force_n")
BUTTON_HEADER = (*TRACE_HEADER, "button")
#: What the ``button`` column may say (empty: no press).
BUTTON_NAMES = ("stop", "less", "more", "mark")
#: The largest trace file read, and the most data rows (80 Hz for almost 7 hours).
MAX_TRACE_BYTES = 64 * MIB
MAX_TRACE_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A press read from a trace: ``name`` is one of ``BUTTON_NAMES``, at ``time_s`` (session seconds)."""

    time_s: float
    name: str


@dataclass(frozen=True, slots=True)
class Keyframe:
    time_s: float
    force_n: float  # nan = no samples from here to the next numeric keyframe


class ForceTrace:
    """A force-over-time function built from keyframes in time order."""

    #: Button presses the trace asks for, in time order (empty without a ``button`` column).
    presses: tuple[ButtonPress, ...] = ()

    def __init__(self, keyframes: Sequence[Keyframe]) -> None:
        self._set(array("d", (k.time_s for k in keyframes)), array("d", (k.force_n for k in keyframes)))

    @classmethod
    def from_columns(
        cls, times: array[float], forces: array[float], presses: Sequence[ButtonPress] = ()
    ) -> ForceTrace:
        """A trace over two equal-length columns (kept, not copied: 16 bytes a row)."""
        trace = cls.__new__(cls)
        trace._set(times, forces)
        trace.presses = tuple(presses)
        return trace

    def _set(self, times: array[float], forces: array[float]) -> None:
        if not times:
            raise ValueError("a trace needs at least one keyframe")
        if len(times) != len(forces):
            raise ValueError("a trace needs one force per time")
        for i in range(1, len(times)):
            if times[i] < times[i - 1]:
                raise ValueError(f"trace time goes backwards ({times[i]} after {times[i - 1]})")
        self._times = times
        self._forces = forces
        self._cursor = 0

    @property
    def end_time_s(self) -> float:
        return self._times[-1]

    def force_at(self, t: float) -> float | None:
        """Force at time ``t``, or ``None`` if the sensor delivers nothing then.

        Calls with rising ``t`` (the usual case) cost O(1); any order works.
        """
        times = self._times
        i = self._cursor
        if not (times[i] <= t and (i + 1 == len(times) or t < times[i + 1])):
            i = max(0, bisect.bisect_right(times, t) - 1)
            self._cursor = i
        f0 = self._forces[i]
        if t < times[0] or i + 1 == len(times):
            return None if math.isnan(f0) else f0
        if math.isnan(f0):
            return None
        f1 = self._forces[i + 1]
        if math.isnan(f1):
            return f0
        t0, t1 = times[i], times[i + 1]
        return f0 + (f1 - f0) * (t - t0) / (t1 - t0)


def parse_trace_csv(text: str, source: str) -> ForceTrace:
    """Parse CSV text with header ``time_s,force_n[,button]``; errors name ``source`` and the line."""
    return _parse_rows(io.StringIO(text, newline=""), source)


def load_trace(path: Path) -> ForceTrace:
    """Read a CSV trace file, streaming: at most ``MAX_TRACE_BYTES`` and ``MAX_TRACE_ROWS`` rows."""
    with open_regular(path, MAX_TRACE_BYTES) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            return _parse_rows(text, str(path))
        except UnicodeDecodeError:
            raise InputFileError(path, None, "not UTF-8 text") from None
        except OSError as err:
            raise InputFileError(path, None, f"cannot read it ({err.strerror or type(err).__name__})") from None


def _parse_rows(lines: Iterable[str], source: str) -> ForceTrace:
    rows = csv.reader(lines, strict=True)
    try:
        header = next(rows)
    except StopIteration:
        raise InputFileError(source, "line 1", "empty file; expected header 'time_s,force_n'") from None
    except csv.Error as err:
        raise InputFileError(source, "line 1", f"not CSV ({err})") from None
    if header and header[0].startswith("\ufeff"):
        raise InputFileError(source, "line 1", "starts with a byte-order mark (BOM); save it as UTF-8 without BOM")
    names = tuple(cell.strip() for cell in header)
    if names not in (TRACE_HEADER, BUTTON_HEADER):
        expected = "'time_s,force_n' or 'time_s,force_n,button'"
        raise InputFileError(source, "line 1", f"header must be {expected}, got {shown(','.join(header))}")
    columns = len(names)
    times, forces = array("d"), array("d")
    presses: list[ButtonPress] = []
    previous_time = -math.inf
    while True:
        row_start = rows.line_num + 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as err:
            problem = "unterminated quote" if "unexpected end of data" in str(err) else clip(str(err))
            raise InputFileError(source, f"line {row_start}", f"not CSV ({problem})") from None
        line = rows.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if not (len(row) == columns or (columns == 3 and len(row) == 2)):
            raise InputFileError(source, f"line {line}", f"expected {columns} columns, got {len(row)}")
        if len(times) + len(presses) >= MAX_TRACE_ROWS:
            raise InputFileError(source, f"line {line}", f"more than {MAX_TRACE_ROWS:,} data rows (the limit)")
        time_s = _number(row[0], source, line, "time_s")
        if math.isnan(time_s) or math.isinf(time_s):
            raise InputFileError(source, f"line {line}", f"time_s must be a finite number, got {shown(row[0])}")
        button = row[2].strip() if len(row) == 3 else ""
        if button and button not in BUTTON_NAMES:
            raise InputFileError(
                source, f"line {line}", f"button must be empty or one of {', '.join(BUTTON_NAMES)}, got {shown(button)}"
            )
        if time_s < previous_time:
            raise InputFileError(source, f"line {line}", f"time goes backwards ({time_s} after {previous_time})")
        previous_time = time_s
        if button:
            presses.append(ButtonPress(time_s, button))
            if not row[1].strip():
                continue  # a press only: the force column interpolates across this row
        force_n = _number(row[1], source, line, "force_n")
        if math.isinf(force_n):
            raise InputFileError(source, f"line {line}", f"force_n must be finite or nan, got {shown(row[1])}")
        if abs(force_n) > MAX_FORCE_N:
            raise InputFileError(
                source, f"line {line}", f"force_n must be within ±{MAX_FORCE_N:.0f} N, got {number(force_n)}"
            )
        times.append(time_s)
        forces.append(force_n)
    if not times:
        raise InputFileError(source, None, "no data rows with a force after the header")
    return ForceTrace.from_columns(times, forces, presses)


def _number(cell: str, source: str, line: int, column: str) -> float:
    try:
        return float(cell.strip())
    except ValueError:
        raise InputFileError(source, f"line {line}", f"{column} is not a number: {shown(cell.strip())}") from None


def trace_to_csv(points: Iterable[tuple[float, float | None]]) -> str:
    """Write ``(time_s, force_n)`` points as CSV (``None`` → ``nan``); used to record traces."""
    out = io.StringIO()
    out.write(",".join(TRACE_HEADER) + "\n")
    for t, force in points:
        out.write(f"{t:.6f},{'nan' if force is None else f'{force:.6f}'}\n")
    return out.getvalue()
