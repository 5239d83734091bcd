"""A person's trends as a figure (SVG for the page, PNG for the PDF) and the person's PDF report.

Four panels over the weeks, oldest left: the in-band fraction and the peak
force of each spot, pain before/after each session, and the PPT mean in kPa
per spot with real changes ringed.  Built on a bare ``Figure`` (no pyplot),
so it is safe in the app's worker threads; the PDF is matplotlib's backend.
matplotlib is imported on first use, as in ``exports``: it is over half of
``clinic serve``'s start-up, and most requests draw nothing.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from firmware.clinic.given_values import Sent, given_all
from firmware.clinic.person_queries import PersonOverview, PptPoint, SpotVisit

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _days(moment: datetime) -> float:
    """Matplotlib's date number: days since its 1970-01-01 epoch (what ``xaxis_date`` reads)."""
    return moment.timestamp() / 86400.0


def _by_spot(visits: list[SpotVisit]) -> dict[str, list[SpotVisit]]:
    out: dict[str, list[SpotVisit]] = {}
    for visit in sorted(visits, key=lambda v: v.started_at or ""):
        out.setdefault(visit.spot, []).append(visit)
    return out


def _series(ax: Axes, points: list[tuple[datetime | None, float | None]], **style: Any) -> None:
    kept = [(x, y) for x, y in points if x is not None and y is not None]
    if kept:
        ax.plot([_days(x) for x, _ in kept], [y for _, y in kept], marker="o", **style)


def trends_figure(person: str, visits: list[SpotVisit], ppt: list[PptPoint]) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7.5), dpi=100, layout="constrained")
    band, peak, pain, kpa = fig.subplots(4, 1, sharex=True).flat
    for spot, rows in _by_spot(visits).items():
        _series(band, [(_when(v.started_at), v.in_band_fraction) for v in rows], label=spot)
        _series(peak, [(_when(v.started_at), v.peak_force_n) for v in rows], label=spot)
    sessions = {v.session_id: v for v in sorted(visits, key=lambda v: v.started_at or "")}.values()
    _series(pain, [(_when(v.started_at), v.pain_before) for v in sessions], label="before", color="#d62728")
    _series(pain, [(_when(v.started_at), v.pain_after) for v in sessions], label="after", color="#2ca02c")
    for spot in sorted({p.spot for p in ppt}):
        mine = [p for p in ppt if p.spot == spot]
        _series(kpa, [(_when(p.measured_at), p.mean_kpa) for p in mine], label=spot)
        real = [
            (x, p.mean_kpa) for p in mine if p.real_change and p.mean_kpa is not None and (x := _when(p.measured_at))
        ]
        if real:
            kpa.scatter(
                [_days(x) for x, _ in real],
                [y for _, y in real],
                s=160,
                facecolors="none",
                edgecolors="#d62728",
                label="real change" if spot == min(p.spot for p in ppt) else None,
                zorder=3,
            )
    kpa.xaxis_date()
    band.set_ylabel("in band")
    band.set_ylim(-0.05, 1.05)
    peak.set_ylabel("peak N")
    pain.set_ylabel("pain 0-10")
    pain.set_ylim(-0.5, 10.5)
    kpa.set_ylabel("PPT kPa")
    for ax in (band, peak, pain, kpa):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center", color="#888")
    fig.suptitle(f"{person}: trends")
    fig.autofmt_xdate()
    return fig


def trends_svg(person: str, visits: list[SpotVisit], ppt: list[PptPoint]) -> bytes:
    out = io.BytesIO()
    trends_figure(person, visits, ppt).savefig(out, format="svg")
    return out.getvalue()


def _overview_lines(found: PersonOverview) -> list[str]:
    course = found.course or {}
    flags = [name for name, on in (("reevaluate", found.reevaluate), ("soreness not improving", found.soreness)) if on]
    return [
        f"Person {found.person}: {found.sessions} session(s), last {found.last_session_at or '-'}",
        f"device {found.device_id or '-'}, plan in force: version {found.plan_version}"
        if found.plan_version is not None
        else f"device {found.device_id or '-'}, no plan state received",
        f"course {course.get('id', '-')}: {course.get('sessions_rated', '-')} rated, baseline pain "
        f"{course.get('baseline_pain', '-')}, latest {course.get('latest_pain', '-')}",
        f"flags: {', '.join(flags) or 'none'}" + (f" ({found.reevaluate_reason})" if found.reevaluate_reason else ""),
        f"pending follow-ups: {', '.join(found.pending_follow_ups) or 'none'}",
    ]


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


def person_pdf(found: PersonOverview, visits: list[SpotVisit], ppt: list[PptPoint], sent: Sent) -> bytes:
    """Page one the trends, then the sessions per spot and the thresholds, as a therapist files them.

    The ratings and follow-ups are the person page's (``given_values``): a value
    sent from the clinic in place of the device's, and under the session's line
    what the clinic sent and its state (a refused one with the reason).
    """
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": f"presspoint person {found.person}"}) as pdf:
        pdf.savefig(trends_figure(found.person, visits, ppt))
        lines = [
            *_overview_lines(found),
            "",
            "started               spot            outcome     pain  in band  peak N  follow-up",
        ]
        for v in visits[:80]:
            shown = given_all(v, sent)
            pain = f"{_dash(shown['pain_before'].value)}>{_dash(shown['pain_after'].value)}"
            band = "-" if v.in_band_fraction is None else f"{v.in_band_fraction:.0%}"
            peak = "-" if v.peak_force_n is None else f"{v.peak_force_n:.1f}"
            lines.append(
                f"{(v.started_at or '-')[:19]:<21} {v.spot[:15]:<15} {(v.outcome or 'running'):<11} "
                f"{pain:<5} {band:>7} {peak:>7}  {_dash(shown['follow_up'].value)}"
            )
            notes = [note for kind, value in shown.items() if (note := value.note(kind)) is not None]
            if notes:
                lines.append(f"    from the clinic: {'; '.join(notes)}"[:120])
        lines += ["", "thresholds (PPT)", "measured              spot            kPa     change  real"]
        for p in ppt[-40:]:
            kpa = "-" if p.mean_kpa is None else f"{p.mean_kpa:.0f}"
            change = "-" if p.change_kpa is None else f"{p.change_kpa:+.0f}"
            lines.append(
                f"{p.measured_at[:19]:<21} {p.spot[:15]:<15} {kpa:>6} {change:>8}  {'yes' if p.real_change else ''}"
            )
        page = Figure(figsize=(8.27, 11.69))
        page.text(0.06, 0.96, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7)
        pdf.savefig(page)
    return out.getvalue()
