"""Checks of numeric and path options that argparse's ``type=`` cannot express.

Each raises ``PresspointError`` with one line naming the option, so the CLI
refuses it with exit 2 before anything runs, is written or is published.
"""

from __future__ import annotations

import math
from pathlib import Path

from config.errors import PresspointError


def _show(value: float) -> str:
    if isinstance(value, int) and abs(value) < 10**12:
        return str(value)
    return f"{value:.6g}"


def check_number(
    value: float | None,
    option: str,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    unit: str = "",
) -> None:
    """``value`` (if given) must be finite and within ``low``..``high`` (``low`` excluded if ``low_open``)."""
    if value is None:
        return
    below = value <= low if low_open else value < low
    if not math.isfinite(value) or below or value > high:
        side = f"more than {_show(low)}" if low_open else f"at least {_show(low)}"
        raise PresspointError(f"{option} must be {side} and at most {_show(high)}{unit}, not {_show(value)}")


def check_new_file(path: Path | None, option: str) -> None:
    """``path`` (if given) is a file to create or append to: its folder must exist, and it is no folder."""
    if path is None:
        return
    if path.is_dir():
        raise PresspointError(f"{option} {path}: is a directory")
    folder = path.parent
    if not folder.is_dir():
        why = "is a file" if folder.exists() else "does not exist"
        raise PresspointError(f"{option} {path}: folder {folder} {why}")


def check_output_folder(path: Path, option: str) -> None:
    """``path`` is a folder files are written into: an existing folder, or a new one in an existing folder."""
    if path.exists() and not path.is_dir():
        raise PresspointError(f"{option} {path}: is a file, not a directory")
    if not path.exists() and not path.parent.is_dir():
        raise PresspointError(f"{option} {path}: folder {path.parent} does not exist")
