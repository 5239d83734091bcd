"""Exports: a session's samples and a person's sessions (a line per spot) as CSV, a session's plot as SVG,
its report as PDF.

A person's CSV shows the ratings and follow-ups as the person's page does
(``given_values``): a value sent from the clinic in place of the device's,
with its state, and a refused one beside the device's with the reason.

The plot is the terminal's ``therapist report`` drawing (``render_report``),
so the web page, the PDF and the terminal show the same figure.  The PDF is
made with matplotlib's PDF backend: the plot on page one, the per-hold
numbers and the events on page two.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine

from firmware.clinic import clinic_answers, person_queries
from firmware.clinic.given_values import GIVEN_KINDS, Sent, given_all
from firmware.clinic.person_queries import SpotVisit
from firmware.clinic.queries import SessionData
from firmware.therapist.report import render_report


def samples_csv(data: SessionData) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("time_s", "force_n"))
    for when, force in zip(data.times, data.forces, strict=True):
        writer.writerow((f"{when:.3f}", "" if force is None or math.isnan(force) else f"{force:.3f}"))
    return out.getvalue()


VISIT_COLUMNS = (
    "session_id",
    "device_id",
    "started_at",
    "outcome",
    "spot",
    "pain_before",
    "pain_after",
    "in_band_fraction",
    "peak_force_n",
    "holds",
    "course_id",
    "follow_up",
)
#: Per value that can be sent from the clinic: the clinic's last answer, its state, why it was refused.
SENT_COLUMNS = tuple(f"{kind}_{what}" for kind in GIVEN_KINDS for what in ("sent", "sent_state", "refused_because"))


def _cell(value: object) -> object:
    return "" if value is None else (f"{value:.3f}" if isinstance(value, float) else value)


def visits_csv(rows: list[SpotVisit], sent: Sent) -> str:
    """A person's sessions, one line per spot of each session, the ratings as the person's page shows them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow((*VISIT_COLUMNS, *SENT_COLUMNS))
    for row in rows:
        values = row.as_json()
        extra: list[object] = []
        for kind, shown in given_all(row, sent).items():
            values[kind] = shown.value
            answer = shown.sent
            extra += [None, None, None] if answer is None else [answer.value, answer.state, answer.reason]
        writer.writerow([*(_cell(values[c]) for c in VISIT_COLUMNS), *(_cell(v) for v in extra)])
    return out.getvalue()


def person_csv(engine: Engine, person: str) -> str:
    """The person page's CSV (also ``clinic person export``): every session, with what the clinic sent."""
    rows = person_queries.history(engine, person, limit=1_000_000)
    return visits_csv(rows, clinic_answers.latest(engine, person))


def _rendered(data: SessionData, suffix: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="presspoint-clinic-") as folder:
        path = render_report(data, Path(folder) / f"plot{suffix}", dpi=110)
        return path.read_bytes()


def plot_svg(data: SessionData) -> bytes:
    return _rendered(data, ".svg")


def report_pdf(data: SessionData) -> bytes:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    png = _rendered(data, ".png")
    out = io.BytesIO()
    with PdfPages(out, metadata={"Title": f"presspoint session {data.session_id}"}) as pdf:
        page = Figure(figsize=(11.69, 8.27))
        ax = page.add_axes((0.02, 0.02, 0.96, 0.96))
        ax.imshow(imread(io.BytesIO(png), format="png"))
        ax.set_axis_off()
        pdf.savefig(page)
        pdf.savefig(_numbers_page(data))
    return out.getvalue()


def _numbers_page(data: SessionData) -> object:
    from matplotlib.figure import Figure

    page = Figure(figsize=(8.27, 11.69))
    lines = [f"Session {data.session_id} on {data.device_id}", ""]
    summary = data.summary
    if summary is not None:
        lines.append(
            f"outcome {summary.outcome}; duration {summary.duration_s:.1f} s; peak {summary.peak_force_n:.1f} N"
        )
        if summary.abort is not None:
            lines.append(f"abort: {summary.abort.reason} at {summary.abort.at_s:.2f} s")
        lines += ["", "hold  outcome          duration  in band  mean N  peak N  breaths"]
        for h in summary.holds:
            lines.append(
                f"{h.index:>4}  {h.outcome!s:<15}  {h.duration_s:>7.1f}s  {h.in_band_fraction:>6.0%}  "
                f"{h.mean_force_n:>6.1f}  {h.peak_force_n:>6.1f}  {h.breath_cues:>7}"
            )
    lines += ["", "events (first 60):"]
    for event in data.events[:60]:
        t = event.get("t")
        detail = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("type", "t"))
        lines.append(f"  {t if t is None else f'{t:8.2f}'}  {event.get('type')}  {detail}"[:110])
    page.text(0.06, 0.96, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.5)
    return page
