"""Human-readable views of a session: the summary table and a live status line."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any, TextIO

from config.units import STANDARD_GRAVITY
from firmware.realtime.sinks import SessionInfo
from firmware.session.decisions import Decision, PhaseChange
from firmware.session.summary import SessionSummary
from firmware.therapist.force_bar import BarMarks, LiveScreen, force_bar, legend

#: The summary fits a terminal of 80 columns.
SUMMARY_COLUMNS = 80
_INDENT = " " * 12


def _kgf(newtons: float) -> str:
    return f"{newtons:6.2f} N ({newtons / STANDARD_GRAVITY:4.2f} kgf)"


def format_summary(summary: SessionSummary, events: Sequence[dict[str, Any]] = ()) -> str:
    """A readable account: plan, phases, holds, cues and the outcome, in 80 columns."""
    plan = summary.plan
    lines = [
        f"presspoint session {summary.session_id} on {summary.device_id}",
        f"  started   {summary.started_at.isoformat()}",
        f"  plan      {plan.repetitions} × {plan.hold_s:g} s at {_kgf(plan.target_n)} ±{plan.band:.0%}, "
        f"rest {plan.rest_s:g} s, {plan.breaths_per_min:g} breaths/min",
        f"  limits    tolerance {_kgf(plan.tolerance_n)}, therapist max {_kgf(plan.therapist_max_n)},",
        f"{_INDENT}device max {_kgf(plan.device_max_n)}",
    ]
    if summary.person:
        lines.insert(1, f"  person    {summary.person}")
    if summary.spots and (len(summary.spots) > 1 or plan.spots):
        lines.append("  spots")
        lines.extend(
            f"    {spot.index}. {spot.name}: {spot.outcome}, target {_kgf(spot.target_n)}"
            + (f" → {_kgf(spot.final_target_n)}" if spot.final_target_n != spot.target_n else "")
            + f", holds {', '.join(f'#{i}' for i in spot.holds) or 'none'}"
            for spot in summary.spots
        )
    phases = [e for e in events if e.get("type") == "phase"]
    if phases:
        lines.append("  phases")
        several = len(summary.spots) > 1
        lines.extend(
            f"    {e['t']:8.3f} s  {e['phase']:<16} rep {e['repetition']}"
            + (f"  spot {e.get('spot', 1)}" if several else "")
            for e in phases
        )
    lines.append("  holds")
    if not summary.holds:
        lines.append("    (none)")
    for hold in summary.holds:
        lines.append(
            f"    #{hold.index}  {hold.started_at_s:8.3f} → {hold.ended_at_s:8.3f} s "
            f"({hold.duration_s:5.1f} s)  {hold.outcome:<14} in band {hold.in_band_fraction:6.1%}"
        )
        lines.append(
            f"{_INDENT}mean {hold.mean_force_n:5.1f} N  peak {hold.peak_force_n:5.1f} N  breaths {hold.breath_cues}"
            + (f"  spot {hold.spot}" if len(summary.spots) > 1 else "")
            + (f"  strokes {hold.rest_stroke_s:.1f} s" if hold.rest_stroke_s else "")
        )
        if hold.adjustments:
            said = ", ".join(f"{a.kind} at {a.at_s:.1f} s → {a.target_n:.1f} N" for a in hold.adjustments)
            lines.append(f"{_INDENT}check-ins {said}")
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
    if summary.timeout is not None:
        outcome += f": waited for {summary.timeout.wait} until {summary.timeout.at_s:.3f} s"
    lines.append(outcome)
    return "\n".join(wrapped for line in lines for wrapped in _fit(line))


def _fit(line: str) -> list[str]:
    """``line`` in lines of at most ``SUMMARY_COLUMNS``, continued under the values."""
    return textwrap.wrap(
        line, SUMMARY_COLUMNS, subsequent_indent=_INDENT, break_long_words=False, break_on_hyphens=False
    ) or [line]


class LiveDisplay:
    """A live view for real-time runs: force bar, phase, countdown, cues above it.

    On a terminal it is redrawn in place at the terminal's width with a
    legend under it; otherwise (a pipe, ``--json``'s stderr) it writes the
    status line after ``\\r`` as it always has, at a fixed width.
    """

    WIDTH = 40

    def __init__(self, out: TextIO, *, live: bool | None = None) -> None:
        self.out = out
        self.live = out.isatty() if live is None else live
        self.screen: LiveScreen | None = None
        self._block: list[str] = []  # what the screen shows under the cues
        self.info: SessionInfo | None = None
        self.phase = "waiting_contact"
        self.repetition = 1
        self.phase_started = 0.0
        self._last_draw = -1.0

    def session_started(self, info: SessionInfo) -> None:
        self.info = info
        if self.live:
            self.screen = LiveScreen(self.out).__enter__()

    def _marks(self) -> BarMarks:
        assert self.info is not None
        plan = self.info.plan
        return BarMarks(plan["band_low_n"], plan["band_high_n"], plan["tolerance_n"])

    def status_text(self, t: float, force_n: float) -> str:
        """Everything on the status line but the bar."""
        assert self.info is not None
        plan = self.info.plan
        left = ""
        if self.phase == "hold":
            left = f"{max(0.0, plan['hold_s'] - (t - self.phase_started)):4.0f} s left"
        elif self.phase == "rest":
            left = f"rest {max(0.0, plan['rest_s'] - (t - self.phase_started)):3.0f} s"
        return f"{force_n:6.1f} N  {self.phase:<15} rep {self.repetition}/{plan['repetitions']}  {left:<12}"

    def sample(self, t: float, force_n: float, raw: int) -> None:
        if self.info is None or t - self._last_draw < 0.1:
            return
        self._last_draw = t
        text = self.status_text(t, force_n)
        if self.screen is not None:
            width = self.screen.width - len(text.rstrip()) - 2
            bar = force_bar(force_n, self._marks(), width)
            self._block = [f"{bar} {text.rstrip()}", legend(self._marks())]
            self.screen.update([], self._block)
            return
        self.out.write(f"\r{force_bar(force_n, self._marks(), self.WIDTH)} {text}")
        self.out.flush()

    def decisions(self, decisions: Sequence[Decision]) -> None:
        for decision in decisions:
            if isinstance(decision, PhaseChange):
                self.phase = decision.phase.value
                self.repetition = decision.repetition
                self.phase_started = decision.t
            elif decision.type == "cue":
                line = f"  {decision.t:7.2f} s  cue: {decision.cue}"  # type: ignore[union-attr]
                if self.screen is not None:
                    self.screen.update([line], self._block)
                else:
                    self.out.write(f"\r{'':<90}\r{line}\n")

    def session_ended(self, summary: SessionSummary) -> None:
        if self.screen is not None:
            self.screen.close()
            self.screen = None
            return
        self.out.write("\n")
        self.out.flush()
