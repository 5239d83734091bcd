"""Human-readable views of a session: the summary table and a live status line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from config.units import STANDARD_GRAVITY
from firmware.realtime.sinks import SessionInfo
from firmware.session.decisions import Decision, PhaseChange
from firmware.session.summary import SessionSummary


def _kgf(newtons: float) -> str:
    return f"{newtons:6.2f} N ({newtons / STANDARD_GRAVITY:4.2f} kgf)"


def format_summary(summary: SessionSummary, events: Sequence[dict[str, Any]] = ()) -> str:
    """A readable account: plan, phases, holds, cues and the outcome."""
    plan = summary.plan
    lines = [
        f"presspoint session {summary.session_id} on {summary.device_id}",
        f"  started   {summary.started_at.isoformat()}",
        f"  plan      {plan.repetitions} × {plan.hold_s:g} s at {_kgf(plan.target_n)} ±{plan.band:.0%}, "
        f"rest {plan.rest_s:g} s, {plan.breaths_per_min:g} breaths/min",
        f"  limits    tolerance {_kgf(plan.tolerance_n)}, therapist max {_kgf(plan.therapist_max_n)}, "
        f"device max {_kgf(plan.device_max_n)}",
    ]
    phases = [e for e in events if e.get("type") == "phase"]
    if phases:
        lines.append("  phases")
        lines.extend(f"    {e['t']:8.3f} s  {e['phase']:<16} rep {e['repetition']}" for e in phases)
    lines.append("  holds")
    if not summary.holds:
        lines.append("    (none)")
    for hold in summary.holds:
        lines.append(
            f"    #{hold.index}  {hold.started_at_s:8.3f} → {hold.ended_at_s:8.3f} s "
            f"({hold.duration_s:5.1f} s)  {hold.outcome:<14} in band {hold.in_band_fraction:6.1%}  "
            f"mean {hold.mean_force_n:5.1f} N  peak {hold.peak_force_n:5.1f} N  breaths {hold.breath_cues}"
        )
    if summary.cues:
        lines.append("  cues      " + ", ".join(f"{k} ×{v}" for k, v in sorted(summary.cues.items())))
    lines.append(f"  samples   {summary.samples} in {summary.duration_s:.3f} s, peak {_kgf(summary.peak_force_n)}")
    if summary.sensor_glitches:
        lines.append(f"  glitches  {summary.sensor_glitches} isolated implausible readings (used all the same)")
    outcome = f"  outcome   {summary.outcome.upper()}"
    if summary.abort is not None:
        abort = summary.abort
        force = "" if abort.force_n is None else f" at {abort.force_n:.2f} N"
        outcome += f": {abort.reason} at {abort.at_s:.3f} s{force} ({abort.detail})"
    if summary.stop_source:
        outcome += f" (by {summary.stop_source})"
    lines.append(outcome)
    return "\n".join(lines)


class LiveDisplay:
    """A one-line live view for real-time runs: force bar, phase, countdown."""

    WIDTH = 40

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.info: SessionInfo | None = None
        self.phase = "waiting_contact"
        self.repetition = 1
        self.phase_started = 0.0
        self._last_draw = -1.0

    def session_started(self, info: SessionInfo) -> None:
        self.info = info

    def sample(self, t: float, force_n: float, raw: int) -> None:
        if self.info is None or t - self._last_draw < 0.1:
            return
        self._last_draw = t
        plan = self.info.plan
        scale = plan["tolerance_n"] * 1.1
        filled = max(0, min(self.WIDTH, round(force_n / scale * self.WIDTH)))
        bar = list("#" * filled + "." * (self.WIDTH - filled))
        for limit, mark in ((plan["band_low_n"], "["), (plan["band_high_n"], "]"), (plan["tolerance_n"], "|")):
            i = min(self.WIDTH - 1, round(limit / scale * self.WIDTH))
            bar[i] = mark
        left = ""
        if self.phase == "hold":
            left = f"{max(0.0, plan['hold_s'] - (t - self.phase_started)):4.0f} s left"
        elif self.phase == "rest":
            left = f"rest {max(0.0, plan['rest_s'] - (t - self.phase_started)):3.0f} s"
        self.out.write(
            f"\r{''.join(bar)} {force_n:6.1f} N  {self.phase:<15} rep {self.repetition}/{plan['repetitions']}"
            f"  {left:<12}"
        )
        self.out.flush()

    def decisions(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, PhaseChange):
                self.phase = decision.phase.value
                self.repetition = decision.repetition
                self.phase_started = decision.t
            elif decision.type == "cue":
                self.out.write(f"\r{'':<90}\r  {decision.t:7.2f} s  cue: {decision.cue}\n")  # type: ignore[union-attr]

    def session_ended(self, summary: SessionSummary) -> None:
        self.out.write("\n")
        self.out.flush()
