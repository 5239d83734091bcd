"""Force traces: keyframes ``(time_s, force_n)`` read from CSV or built by profiles.

Between two numeric rows the force is interpolated linearly; after the last
row it holds the last value.  A row whose force is ``nan`` means the sensor
delivers no sample from that time until the next numeric row (a dropout);
the numeric row just before a ``nan`` row holds its value up to the dropout.
"""

from __future__ import annotations

import bisect
import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from config.errors import InputFileError

TRACE_HEADER = ("time_s", "force_n")


@dataclass(frozen=True, slots=True)
class Keyframe:
    time_s: float
    force_n: float  # nan = no samples from here to the next numeric keyframe


class ForceTrace:
    """A force-over-time function built from keyframes in time order."""

    def __init__(self, keyframes: Sequence[Keyframe]) -> None:
        if not keyframes:
            raise ValueError("a trace needs at least one keyframe")
        self._times = [k.time_s for k in keyframes]
        self._forces = [k.force_n for k in keyframes]
        for earlier, later in zip(self._times, self._times[1:], strict=False):
            if later < earlier:
                raise ValueError(f"trace time goes backwards ({later} after {earlier})")
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
    """Parse CSV text with header ``time_s,force_n``; errors name ``source`` and the line."""
    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows)
    except StopIteration:
        raise InputFileError(source, "line 1", "empty file; expected header 'time_s,force_n'") from None
    except csv.Error as err:
        raise InputFileError(source, "line 1", f"not CSV ({err})") from None
    if tuple(cell.strip() for cell in header) != TRACE_HEADER:
        raise InputFileError(source, "line 1", f"header must be 'time_s,force_n', got {','.join(header)!r}")
    keyframes: list[Keyframe] = []
    previous_time = -math.inf
    try:
        for row in rows:
            line = rows.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise InputFileError(source, f"line {line}", f"expected 2 columns, got {len(row)}")
            time_s = _number(row[0], source, line, "time_s")
            force_n = _number(row[1], source, line, "force_n")
            if math.isnan(time_s) or math.isinf(time_s):
                raise InputFileError(source, f"line {line}", f"time_s must be a finite number, got {row[0]!r}")
            if math.isinf(force_n):
                raise InputFileError(source, f"line {line}", f"force_n must be finite or nan, got {row[1]!r}")
            if time_s < previous_time:
                raise InputFileError(source, f"line {line}", f"time goes backwards ({time_s} after {previous_time})")
            previous_time = time_s
            keyframes.append(Keyframe(time_s, force_n))
    except csv.Error as err:
        raise InputFileError(source, f"line {rows.line_num}", f"not CSV ({err})") from None
    if not keyframes:
        raise InputFileError(source, None, "no data rows after the header")
    return ForceTrace(keyframes)


def _number(cell: str, source: str, line: int, column: str) -> float:
    try:
        return float(cell.strip())
    except ValueError:
        raise InputFileError(source, f"line {line}", f"{column} is not a number: {cell.strip()!r}") from None


def load_trace(path: Path) -> ForceTrace:
    """Read a CSV trace file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(path, None, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, None, "is a directory, not a file") from None
    except UnicodeDecodeError:
        raise InputFileError(path, None, "not UTF-8 text") from None
    except PermissionError:
        raise InputFileError(path, None, "permission denied") from None
    return parse_trace_csv(text, str(path))


def trace_to_csv(points: Iterable[tuple[float, float | None]]) -> str:
    """Write ``(time_s, force_n)`` points as CSV (``None`` → ``nan``); used to record traces."""
    out = io.StringIO()
    out.write(",".join(TRACE_HEADER) + "\n")
    for t, force in points:
        out.write(f"{t:.6f},{'nan' if force is None else f'{force:.6f}'}\n")
    return out.getvalue()
