"""``presspoint therapist report``: one session as a PNG, SVG or PDF plot.

Force over time with the target band, tolerance and therapist maximum, the
holds (with time in band and mean force), the rests, every cue in a lane of
its own under the force, and the abort marker - what a therapist needs to see
whether the person held the band, ramped gently and where it went wrong.
The title names the person and the local start time.  Built on a bare ``Figure`` (no
pyplot, no global backend switch), so it is safe in any process.
matplotlib is an optional extra (``presspoint[report]``); without it this
command says how to install it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config.errors import PresspointError
from config.units import STANDARD_GRAVITY
from firmware.clinic.queries import SessionData
from firmware.session.summary import SessionSummary
from firmware.therapist.readable import force, hold_count, local_time, pain_text
from firmware.therapist.report_marks import draw_abort, draw_cue_lanes, draw_holds, draw_plan, draw_rests

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = (".png", ".svg", ".pdf")
#: Head room above the highest force that matters (the plan's therapist max, or the data).
HEAD_ROOM = 1.12


def render_report(data: SessionData, out: Path, *, dpi: int = 120) -> Path:
    """Draw ``data`` into ``out`` (format from the suffix); returns ``out``."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise PresspointError(f"{out}: unknown plot format {out.suffix!r}; use .png, .svg or .pdf")
    if data.summary is None and not data.times:
        raise PresspointError(f"session {data.session_id}: nothing stored to plot yet (no summary, no samples)")
    try:
        from matplotlib import rc_context
    except ImportError:
        raise PresspointError("plots need matplotlib: pip install 'presspoint[report]'") from None
    fig = build_figure(data, dpi=dpi)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A fixed salt makes SVG element ids, and so the whole file, the same for the same session;
    # text stays text (searchable, selectable) in SVG and PDF.
    with rc_context({"svg.hashsalt": f"presspoint-{data.session_id}", "svg.fonttype": "none", "pdf.fonttype": 42}):
        fig.savefig(out, format=suffix[1:], metadata=_metadata(data, suffix))
    return out


def force_scale(summary: SessionSummary | None, peak_n: float) -> float:
    """The top of the force axis: the plan's highest line (or the force, if it went past it), with head room."""
    if summary is None:
        return peak_n * HEAD_ROOM if peak_n > 0 else 1.0
    plan = summary.plan
    top = max(peak_n, plan.therapist_max_n)
    if peak_n > plan.therapist_max_n:
        top = max(top, plan.device_max_n)
    return top * HEAD_ROOM


def build_figure(data: SessionData, *, dpi: int = 120) -> Figure:
    """The report figure: force over time with the plan, holds and rests; the cues in lanes under it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 5.5), dpi=dpi, layout="constrained")
    ax, cue_ax = fig.subplots(2, 1, sharex=True, height_ratios=[4, 1])
    summary = data.summary
    forces = [math.nan if f is None else f for f in data.forces]
    peak = max((f for f in forces if not math.isnan(f)), default=0.0)
    ymax = force_scale(summary, peak)
    end = max([*data.times[-1:], summary.duration_s if summary is not None else 0.0, 1.0])
    if summary is not None:
        draw_plan(ax, summary.plan, device_max=peak > summary.plan.therapist_max_n)
        draw_holds(ax, summary.holds, xmax=end * 1.03)
    draw_rests(ax, data.events, end)
    if data.times:
        ax.plot(data.times, forces, color="#222222", linewidth=0.9, label="force")
    if summary is not None and summary.abort is not None:
        draw_abort(ax, summary.abort, ymax=ymax, xmax=end * 1.03)
    draw_cue_lanes(cue_ax, data.events)
    ax.set_ylim(0, ymax)
    ax.set_xlim(0, end * 1.03)
    cue_ax.set_xlabel("session time (s)")
    ax.set_ylabel("force (N)")
    kgf_axis = ax.secondary_yaxis("right", functions=(_to_kgf, _to_n))
    kgf_axis.set_ylabel("force (kgf)")
    ax.grid(True, alpha=0.3)
    handles = [*ax.get_legend_handles_labels()[0], *cue_ax.get_legend_handles_labels()[0]]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=7, framealpha=0.85)
    fig.suptitle(_title(data), fontsize=10)
    return fig


def _to_kgf(values: Any) -> Any:
    return values / STANDARD_GRAVITY


def _to_n(values: Any) -> Any:
    return values * STANDARD_GRAVITY


def _title(data: SessionData) -> str:
    summary = data.summary
    who = f"person {data.person}"
    if summary is None:
        return f"session {data.session_id} on {data.device_id}, {who} (no summary yet)"
    plan = summary.plan
    return (
        f"session {data.session_id} on {data.device_id}, {who}: {summary.outcome}, "
        f"holds completed {hold_count(summary)}; {pain_text(summary.pain_before, summary.pain_after)}\n"
        f"started {local_time(summary.started_at)}; {plan.repetitions} × {plan.hold_s:g} s at "
        f"{force(plan.target_n)} ±{plan.band:.0%}, rest {plan.rest_s:g} s; tolerance {force(plan.tolerance_n)}, "
        f"therapist max {force(plan.therapist_max_n)}"
    )


def _metadata(data: SessionData, suffix: str) -> dict[str, Any]:
    title = f"presspoint session {data.session_id}"
    if suffix == ".svg":
        return {"Title": title, "Date": None}  # no date: the same session gives the same file
    if suffix == ".pdf":
        return {"Title": title, "Subject": f"device {data.device_id}, person {data.person}"}
    return {"Title": title}
