"""Significant relief on the 0-10 pain scale: a drop of 2 points and 30 % (Farrar et al. 2001).

Integer maths on purpose: ``0.7 * 3`` is ``2.0999999999999996`` in floats, and
an edge case decided by a rounding error is not a rule a therapist can trust.
"""

from __future__ import annotations

from typing import Final

MIN_POINTS_DROP: Final = 2
#: Relief when latest <= baseline * KEEP_TENTHS / 10 (a 30 % drop).
KEEP_TENTHS: Final = 7


def significant_relief(baseline_pain: int, latest_pain: int) -> bool:
    """``latest <= baseline - 2`` and ``latest <= 0.7 * baseline``."""
    return latest_pain <= baseline_pain - MIN_POINTS_DROP and 10 * latest_pain <= KEEP_TENTHS * baseline_pain


def relief_ceiling(baseline_pain: int) -> int:
    """The highest rating that counts as significant relief (-1 when none can)."""
    return min(baseline_pain - MIN_POINTS_DROP, (KEEP_TENTHS * baseline_pain) // 10)
