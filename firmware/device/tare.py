"""Tare at the start of a session, on the last second of idle readings.

The idle samples keep a window, emptied when a session or trial ends: the
tare before the next one rests on readings taken since (the tip may have
been set down differently, the cell may have warmed), never on the ones
from before the previous session; a start request tares on it if it is
steady and contact-free (the one tare rule, ``hal.calibrate.tare_window``),
or says why not.  The noise limit is in newtons, as the device config gives it.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque

from firmware.realtime.sampler import Sample, Sampler
from hal.calibrate import tare_window
from hal.sensor import Calibration

log = logging.getLogger(__name__)

#: Idle samples kept for taring (1 s at 80 samples/s).
TARE_WINDOW_S = 1.0
#: How long a start request waits for a steady, contact-free reading to tare on.
TARE_TIMEOUT_S = 3.0


class IdleReadings:
    """The last ``TARE_WINDOW_S`` of samples, and the tare they allow."""

    def __init__(self, sampler: Sampler, *, noise_n: float) -> None:
        self.sampler = sampler
        self.noise_n = noise_n
        self._recent: deque[Sample] = deque(maxlen=max(2, round(TARE_WINDOW_S * sampler.sensor.sample_rate_hz)))

    def add(self, sample: Sample) -> None:
        self._recent.append(sample)

    def forget(self) -> None:
        """A session or trial ended: the next tare waits for readings taken from now on."""
        self._recent.clear()

    def tare(self, contact_threshold_n: float) -> str | None:
        """Zero the scale on a steady, contact-free reading; a reason if we cannot."""
        recent = list(self._recent)
        if len(recent) < (self._recent.maxlen or 0) // 2:
            return "not enough readings to tare on"
        if statistics.fmean(s.force_n for s in recent) >= contact_threshold_n:
            return "the tip is pressed; release it before starting"
        old = self.sampler.calibration
        tared = tare_window([s.raw for s in recent], max_std_counts=self.noise_n * abs(old.counts_per_newton))
        if not tared.passed or tared.offset_counts is None:
            return "the reading is not steady enough to tare"
        self.sampler.calibration = Calibration(tared.offset_counts, old.counts_per_newton)
        log.info("tared: offset %.0f counts (was %.0f)", tared.offset_counts, old.offset_counts)
        return None
