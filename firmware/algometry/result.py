"""One finished PPT trial, as recorded."""

from __future__ import annotations

from dataclasses import dataclass

from firmware.algometry.decisions import TrialOutcome
from firmware.session.decisions import AbortDecision


@dataclass(frozen=True)
class AlgometryResult:
    """One trial, as recorded."""

    outcome: TrialOutcome
    threshold_n: float | None
    force_at_press_n: float | None
    peak_force_n: float
    contact_at_s: float | None
    press_at_s: float | None
    peak_at_s: float | None
    mean_rate_n_per_s: float | None
    max_rate_n_per_s: float
    rate_limit_n_per_s: float
    rate_ok: bool | None
    too_fast_cues: int
    abort: AbortDecision | None
    samples: int
    duration_s: float
    tolerance_n: float
    device_max_n: float
