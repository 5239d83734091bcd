"""``presspoint therapist report``: one session as a PNG or SVG plot.

Force over time with the target band, tolerance and therapist maximum, the
hold periods, breath cues (ticks along the bottom), band cues and the abort
marker - what a therapist needs to see whether the person held the band,
ramped gently and where it went wrong.  Built on a bare ``Figure`` (no
pyplot, no global backend switch), so it is safe in any process.
matplotlib is an optional extra (``presspoint[report]``); without it this
command says how to install it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from config.errors import PresspointError
from config.units import STANDARD_GRAVITY
from firmware.therapist.store import SessionData

FORMATS = (".png", ".svg")

_CUE_STYLE: dict[str, tuple[str, str, str]] = {
    # cue: (marker, colour, legend label)
    "too_light": ("^", "#1f77b4", "too light cue"),
    "too_hard": ("v", "#e377c2", "too hard cue"),
    "entered_band": ("o", "#2ca02c", "entered band cue"),
    "release": ("s", "#7f7f7f", "release cue"),
}


def render_report(data: SessionData, out: Path, *, dpi: int = 120) -> Path:
    """Draw ``data`` into ``out`` (format from the suffix); returns ``out``."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise PresspointError(f"{out}: unknown plot format {out.suffix!r}; use .png or .svg")
    if data.summary is None and not data.times:
        raise PresspointError(f"session {data.session_id}: nothing stored to plot yet (no summary, no samples)")
    try:
        from matplotlib import rc_context
        from matplotlib.figure import Figure
    except ImportError:
        raise PresspointError("plots need matplotlib: pip install 'presspoint[report]'") from None

    fig = Figure(figsize=(11, 5.5), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    summary = data.summary
    forces = [math.nan if f is None else f for f in data.forces]
    peak = max((f for f in forces if not math.isnan(f)), default=0.0)
    top = peak
    if summary is not None:
        plan = summary.plan
        top = max(top, plan.therapist_max_n)
        ax.axhspan(plan.band_low_n, plan.band_high_n, color="#2ca02c", alpha=0.15, label="target band")
        ax.axhline(plan.target_n, color="#2ca02c", linestyle="--", linewidth=1.0, label="target")
        ax.axhline(plan.tolerance_n, color="#ff7f0e", linewidth=1.5, label="tolerance")
        ax.axhline(plan.therapist_max_n, color="#8c1c13", linestyle="--", linewidth=1.2, label="therapist max")
        if peak > plan.therapist_max_n:
            ax.axhline(plan.device_max_n, color="#555555", linestyle=":", linewidth=1.0, label="device max")
            top = max(top, plan.device_max_n)
        for i, hold in enumerate(summary.holds):
            ax.axvspan(
                hold.started_at_s, hold.ended_at_s, color="#1f77b4", alpha=0.08, label="hold" if i == 0 else None
            )
            ax.text(
                (hold.started_at_s + hold.ended_at_s) / 2,
                top * 1.07,
                f"hold {hold.index}\n{hold.outcome}",
                ha="center",
                va="bottom",
                fontsize=7,
                color="#1f4f7f",
            )
    ymax = top * 1.2 if top > 0 else 1.0
    if data.times:
        ax.plot(data.times, forces, color="#222222", linewidth=0.9, label="force")
    _cues(ax, data.events, ymax)
    if summary is not None and summary.abort is not None:
        abort = summary.abort
        y = abort.force_n if abort.force_n is not None else ymax * 0.5
        ax.axvline(abort.at_s, color="#d62728", linewidth=1.0, alpha=0.7)
        ax.plot(
            [abort.at_s],
            [y],
            marker="X",
            markersize=13,
            color="#d62728",
            linestyle="none",
            label=f"abort ({abort.reason})",
        )
        ax.annotate(
            f"abort: {abort.reason}\n{abort.at_s:.2f} s",
            (abort.at_s, y),
            xytext=(-10, 10),
            textcoords="offset points",
            fontsize=8,
            color="#d62728",
            ha="right",
        )
    ax.set_ylim(0, ymax)
    end = max([*data.times[-1:], summary.duration_s if summary is not None else 0.0, 1.0])
    ax.set_xlim(0, end * 1.03)
    ax.set_xlabel("session time (s)")
    ax.set_ylabel("force (N)")
    kgf_axis = ax.secondary_yaxis("right", functions=(_to_kgf, _to_n))
    kgf_axis.set_ylabel("force (kgf)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=7, framealpha=0.85)
    fig.suptitle(_title(data), fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed salt makes SVG element ids, and so the whole file, the same for the same session.
    with rc_context({"svg.hashsalt": f"presspoint-{data.session_id}"}):
        fig.savefig(out, format=suffix[1:], metadata=_metadata(data, suffix))
    return out


def _to_kgf(values: Any) -> Any:
    return values / STANDARD_GRAVITY


def _to_n(values: Any) -> Any:
    return values * STANDARD_GRAVITY


def _cues(ax: Any, events: list[dict[str, Any]], ymax: float) -> None:
    breaths = [e["t"] for e in events if e.get("type") == "cue" and e.get("cue") == "breath" and _num(e.get("t"))]
    if breaths:
        ax.plot(
            breaths,
            [ymax * 0.03] * len(breaths),
            linestyle="none",
            marker="|",
            markersize=12,
            color="#9467bd",
            label="breath cue",
        )
    for cue, (marker, colour, label) in _CUE_STYLE.items():
        times = [e["t"] for e in events if e.get("type") == "cue" and e.get("cue") == cue and _num(e.get("t"))]
        if times:
            ax.plot(
                times,
                [ymax * 0.09] * len(times),
                linestyle="none",
                marker=marker,
                markersize=6,
                color=colour,
                label=label,
            )


def _num(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _title(data: SessionData) -> str:
    summary = data.summary
    if summary is None:
        return f"session {data.session_id} on {data.device_id} (no summary yet)"
    plan = summary.plan
    done = sum(1 for h in summary.holds if h.outcome == "completed")
    return (
        f"session {data.session_id} on {data.device_id}: {summary.outcome}, holds completed {done}/{plan.repetitions}\n"
        f"started {summary.started_at.isoformat(timespec='seconds')}; target {plan.target_n:.1f} N ±{plan.band:.0%}, "
        f"tolerance {plan.tolerance_n:.1f} N, therapist max {plan.therapist_max_n:.1f} N"
    )


def _metadata(data: SessionData, suffix: str) -> dict[str, Any]:
    title = f"presspoint session {data.session_id}"
    if suffix == ".svg":
        return {"Title": title, "Date": None}  # no date: the same session gives the same file
    return {"Title": title}
