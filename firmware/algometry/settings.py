"""How a pressure-pain-threshold trial is run (see docs/algometry.md for the choices)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from config.units import Force, kgf
from firmware.session.states import Cue


class AlgometrySettings(BaseModel):
    """How a PPT trial is run.  Defaults follow the common 1 kgf/s guidance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit_n_per_s: float = Field(kgf(1.0), gt=0, le=kgf(20), description="cue above this ramp rate, N/s")
    rate_window_s: float = Field(0.5, ge=0.2, le=2.0, description="slope estimated over this much time")
    rate_rearm_fraction: float = Field(0.8, gt=0, lt=1, description="too fast ends below this share of the limit")
    cue_repeat_s: float = Field(1.5, ge=0.5, le=10, description="repeat the cue this often while too fast")
    contact_threshold: Force = Field(kgf(0.3), gt=0)
    smoothing_s: float = Field(0.1, ge=0, le=1, description="the threshold is the peak of this moving mean")
    max_wait_for_contact_s: float = Field(30.0, ge=5, le=600)
    max_trial_s: float = Field(120.0, ge=10, le=600, description="longest time from contact to the press")
    abort_debounce_ms: float = Field(25.0, ge=0, le=100)
    rate_ok_margin: float = Field(1.2, ge=1.0, le=3.0, description="rate_ok when mean rate <= limit × this")
    too_fast_cue: Cue = Cue.TOO_HARD
