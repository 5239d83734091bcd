"""Check the sensor's real sample rate against the config.

The HX711's rate is set by its RATE pin, often a solder jumper that ships at
10 samples/s; a config that says 80 then makes every timing rule (debounce,
the 3-period fault rule, breath pacing) wrong by 8×.  So the daemon measures
the rate from the first samples and warns loudly when it does not match.
"""

from __future__ import annotations

from dataclasses import dataclass

from hal.selfcheck import rate_matches


@dataclass(frozen=True)
class RateVerdict:
    measured_hz: float
    expected_hz: float

    @property
    def ok(self) -> bool:
        return rate_matches(self.measured_hz, self.expected_hz)

    def describe(self) -> str:
        if self.ok:
            return f"sample rate {self.measured_hz:.1f}/s matches the configured {self.expected_hz:g}/s"
        return (
            f"sample rate is {self.measured_hz:.1f}/s but the config says {self.expected_hz:g}/s: "
            "check the HX711 RATE pin (jumper) or set sample_rate_hz to match"
        )


class RateMeter:
    """Counts sample timestamps until ``window_s`` has passed, then gives a verdict once."""

    def __init__(self, expected_hz: float, window_s: float = 2.0) -> None:
        self.expected_hz = expected_hz
        self.window_s = window_s
        self._first: float | None = None
        self._count = 0
        self.verdict: RateVerdict | None = None

    def add(self, t: float) -> RateVerdict | None:
        """Add one sample time; returns the verdict the first time it is known."""
        if self.verdict is not None:
            return None
        if self._first is None:
            self._first = t
            return None
        self._count += 1
        elapsed = t - self._first
        if elapsed < self.window_s:
            return None
        self.verdict = RateVerdict(self._count / elapsed, self.expected_hz)
        return self.verdict
