"""How user input is echoed in error lines: cut short, numbers compact.

An error line repeats what was wrong so the user can find it, but a 50 MB
value or a 300-digit float must not flood the terminal or the journal.
"""

from __future__ import annotations

import math

#: Longest piece of user text an error line repeats.
MAX_SHOWN = 60


def clip(text: str, limit: int = MAX_SHOWN) -> str:
    """``text`` cut to ``limit`` characters (with ``…`` and the full length when cut), on one line."""
    flat = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}… ({len(text)} characters)"


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """``repr(value)`` clipped: for quoting a bad value in a message."""
    return clip(repr(value), limit)


def number(value: float, decimals: int = 2) -> str:
    """A fixed-point number while it is short, else three significant digits (``1e+308``)."""
    if math.isfinite(value) and abs(value) < 1e6:
        return f"{value:.{decimals}f}"
    return f"{value:.3g}"
