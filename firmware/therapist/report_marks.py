"""What the session plot draws on its axes: plan lines, holds with their numbers, rests, cue lanes, the abort.

Every label is placed so it stays inside its axes (axes-fraction heights,
left or right alignment by where it falls), and every cue kind has a lane of
its own under the force plot, so a breath cue and the band cue given at the
same instant never hide each other.
"""

from __future__ import annotations

from typing import Any

from firmware.session.summary import AbortInfo, HoldSummary, ResolvedPlan

#: cue: (marker, colour, lane label), drawn bottom to top in this order.
CUE_LANES: dict[str, tuple[str, str, str]] = {
    "breath": ("|", "#9467bd", "breath"),
    "entered_band": ("o", "#2ca02c", "entered band"),
    "too_light": ("^", "#1f77b4", "too light"),
    "too_hard": ("v", "#e377c2", "too hard"),
    "release": ("s", "#7f7f7f", "release"),
    "done": ("*", "#17becf", "done"),
    "abort": ("X", "#d62728", "abort"),
}
ABORT_RED = "#d62728"
REST_GREY = "#bcbd22"


def draw_plan(ax: Any, plan: ResolvedPlan, *, device_max: bool) -> None:
    """Band, target, tolerance and therapist max (and device max when the force went past the cap)."""
    ax.axhspan(
        plan.band_low_n,
        plan.band_high_n,
        color="#2ca02c",
        alpha=0.15,
        label=f"target band {plan.band_low_n:.1f}-{plan.band_high_n:.1f} N",
    )
    _limit(ax, "target", plan.target_n, "#2ca02c", "--", 1.0)
    _limit(ax, "tolerance", plan.tolerance_n, "#ff7f0e", "-", 1.5)
    _limit(ax, "therapist max", plan.therapist_max_n, "#8c1c13", "--", 1.2)
    if device_max:
        _limit(ax, "device max", plan.device_max_n, "#555555", ":", 1.0)


def _limit(ax: Any, name: str, force_n: float, color: str, linestyle: str, linewidth: float) -> None:
    """One horizontal line at ``force_n``, labelled with its name and force."""
    ax.axhline(force_n, color=color, linestyle=linestyle, linewidth=linewidth, label=f"{name} {force_n:.1f} N")


def draw_holds(ax: Any, holds: list[HoldSummary], *, xmax: float) -> None:
    """Each hold's span, and in it its outcome, time in band and mean force.

    The numbers sit at the bottom of the axes, where the force is not during a
    hold (it is in the band), clear of the limit lines and the abort label; a
    hold near either edge is labelled from that edge inwards.
    """
    for i, hold in enumerate(holds):
        ax.axvspan(hold.started_at_s, hold.ended_at_s, color="#1f77b4", alpha=0.08, label="hold" if i == 0 else None)
        x, align = (hold.started_at_s + hold.ended_at_s) / 2, "center"
        if hold.ended_at_s > 0.85 * xmax:
            x, align = hold.ended_at_s, "right"
        elif hold.started_at_s < 0.15 * xmax:
            x, align = hold.started_at_s, "left"
        ax.text(
            x,
            0.03,
            f"hold {hold.index}: {hold.outcome}\nin band {hold.in_band_fraction:.0%}\nmean {hold.mean_force_n:.1f} N",
            transform=ax.get_xaxis_transform(),
            ha=align,
            va="bottom",
            fontsize=7,
            color="#1f4f7f",
            clip_on=True,
        )


def rest_spans(events: list[dict[str, Any]], end_s: float) -> list[tuple[float, float]]:
    """(start, end) of every rest, from the phase events: a rest lasts until the next phase."""
    phases = [(e["t"], e.get("phase")) for e in events if e.get("type") == "phase" and _num(e.get("t"))]
    spans = []
    for i, (t, phase) in enumerate(phases):
        if phase == "rest":
            spans.append((t, phases[i + 1][0] if i + 1 < len(phases) else end_s))
    return spans


def draw_rests(ax: Any, events: list[dict[str, Any]], end_s: float) -> None:
    for i, (start, end) in enumerate(rest_spans(events, end_s)):
        ax.axvspan(start, end, color=REST_GREY, alpha=0.12, hatch="//", label="rest" if i == 0 else None)
        ax.text(
            (start + end) / 2,
            0.5,
            f"rest {end - start:.0f} s",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="center",
            rotation=90,
            fontsize=7,
            color="#6b6b12",
            clip_on=True,
        )


def draw_cue_lanes(ax: Any, events: list[dict[str, Any]]) -> list[str]:
    """One row per cue kind given in the session; returns the kinds drawn (bottom to top)."""
    drawn: list[str] = []
    for cue, (marker, colour, label) in CUE_LANES.items():
        times = [e["t"] for e in events if e.get("type") == "cue" and e.get("cue") == cue and _num(e.get("t"))]
        if not times:
            continue
        lane = len(drawn)
        ax.plot(
            times,
            [lane] * len(times),
            linestyle="none",
            marker=marker,
            markersize=12 if marker == "|" else 7,
            color=colour,
            label=f"{label} cue",
        )
        drawn.append(label)
    ax.set_yticks(range(len(drawn)), drawn, fontsize=7)
    ax.set_ylim(-0.7, max(len(drawn), 1) - 0.3)
    ax.set_ylabel("cues", fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return drawn


def draw_abort(ax: Any, abort: AbortInfo, *, ymax: float, xmax: float) -> None:
    """The abort's line, marker and label; the label sits on the side of the marker with room for it."""
    y = abort.force_n if abort.force_n is not None else ymax * 0.5
    y = min(y, ymax * 0.97)
    ax.axvline(abort.at_s, color=ABORT_RED, linewidth=1.0, alpha=0.7)
    ax.plot(
        [abort.at_s], [y], marker="X", markersize=13, color=ABORT_RED, linestyle="none", label=f"abort ({abort.reason})"
    )
    on_left = abort.at_s > xmax / 2
    force = "" if abort.force_n is None else f", {abort.force_n:.1f} N"
    ax.annotate(
        f"abort: {abort.reason}\n{abort.at_s:.2f} s{force}",
        (abort.at_s, y),
        xytext=(-12 if on_left else 12, -14 if y > ymax * 0.75 else 10),
        textcoords="offset points",
        fontsize=8,
        color=ABORT_RED,
        ha="right" if on_left else "left",
        va="top" if y > ymax * 0.75 else "bottom",
        annotation_clip=True,
    )


def _num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
