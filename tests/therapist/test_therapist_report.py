"""Session report plots: real PNG, SVG and PDF files with the band, limits, holds, rests, cues and abort marker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from config.errors import PresspointError
from config.plan import TherapyPlan
from firmware.clinic.queries import SessionData
from firmware.therapist.report import build_figure, render_report
from tests.therapist_support import SHORT, session_data

ABORT_RED = np.array([0xD6, 0x27, 0x28]) / 255
#: The default forces, three short holds: the overshoot aborts in the second ramp, one hold of three done.
THREE = TherapyPlan(hold_s=30, repetitions=3, rest_s=5)
BAND_GREEN_ON_WHITE = 1 - 0.15 * (1 - np.array([0x2C, 0xA0, 0x2C]) / 255)


def colour_pixels(image: np.ndarray, rgb: np.ndarray, tol: float = 0.03) -> int:
    return int(np.all(np.abs(image[..., :3] - rgb) < tol, axis=-1).sum())


def test_aborted_session_png_shows_band_and_abort(tmp_path: Path) -> None:
    data = session_data(SHORT, "overshoot")
    assert data.summary is not None and data.summary.abort is not None
    out = render_report(data, tmp_path / "aborted.png")
    raw = out.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 30_000
    image = imread(out)
    assert image.shape[0] == 5.5 * 120 and image.shape[1] == 11 * 120
    assert colour_pixels(image, ABORT_RED) > 150  # the abort marker, its line, its label
    assert colour_pixels(image, BAND_GREEN_ON_WHITE) > 5_000  # the target band


def test_completed_session_svg_has_no_abort(tmp_path: Path) -> None:
    data = session_data(SHORT, "normal")
    out = render_report(data, tmp_path / "done.svg")
    text = out.read_text()
    assert text.startswith("<?xml") and "<svg" in text and len(text) > 50_000
    assert f"presspoint session {data.session_id}" in text  # the document title
    png = render_report(data, tmp_path / "done.png")
    assert colour_pixels(imread(png), ABORT_RED) < 20  # abort red is used for nothing else
    # The same session renders to the same SVG (no timestamp inside).
    assert render_report(data, tmp_path / "again.svg").read_text() == text


def test_samples_without_summary_still_plot(tmp_path: Path) -> None:
    data = session_data(SHORT, "normal")
    partial = SessionData(data.session_id, data.device_id, None, data.events, data.times[:500], data.forces[:500])
    assert render_report(partial, tmp_path / "partial.png").stat().st_size > 10_000


def test_refuses_unknown_format_and_empty_sessions(tmp_path: Path) -> None:
    data = session_data(SHORT, "normal")
    with pytest.raises(PresspointError, match=r"use \.png, \.svg or \.pdf"):
        render_report(data, tmp_path / "x.jpg")
    with pytest.raises(PresspointError, match="nothing stored to plot"):
        render_report(SessionData("s", "d", None, [], [], []), tmp_path / "x.png")


def drawn(data: SessionData) -> tuple[Any, Any, Any]:
    """The report figure, laid out and drawn (so text extents are real), with its force and cue axes."""
    fig = build_figure(data)
    FigureCanvasAgg(fig).draw()
    force_ax, cue_ax = fig.axes[:2]
    return fig, force_ax, cue_ax


def test_every_label_stays_inside_its_axes_and_every_cue_has_a_lane() -> None:
    for scenario, end_cue in (("overshoot", "abort cue"), ("normal", "done cue"), ("too-light", "done cue")):
        data = session_data(THREE, scenario)
        fig, force_ax, cue_ax = drawn(data)
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        frame = force_ax.get_window_extent(renderer)
        labels = [t for t in force_ax.texts if t.get_text()]
        assert data.summary is not None and len(labels) >= len(data.summary.holds)
        for text in labels:
            box = text.get_window_extent(renderer)
            inside = frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0
            assert inside and box.y1 <= frame.y1 + 1, (scenario, text.get_text(), box, frame)
        lanes = {line.get_label(): set(line.get_ydata()) for line in cue_ax.get_lines()}
        assert end_cue in lanes and "breath cue" in lanes and "entered band cue" in lanes, lanes
        assert all(len(ys) == 1 for ys in lanes.values())  # one lane per kind...
        assert len({next(iter(ys)) for ys in lanes.values()}) == len(lanes)  # ...and no two kinds share one


def test_svg_names_hold_numbers_rests_person_and_end_cues(tmp_path: Path) -> None:
    data = session_data(THREE, "overshoot")
    assert data.summary is not None
    data.person = "P-017"
    text = render_report(data, tmp_path / "over.svg").read_text()
    first, second = data.summary.holds
    for label in (
        "hold 1: completed", f"in band {first.in_band_fraction:.0%}", f"mean {first.mean_force_n:.1f} N",
        f"hold 2: {second.outcome}", "rest 5 s", "abort cue", "abort: over_tolerance", "person P-017",
        "holds completed 1/3", "therapist max 49.0 N",
    ):
        assert label in text, label
    done = render_report(session_data(THREE, "normal"), tmp_path / "done.svg").read_text()
    assert "done cue" in done and "abort" not in done


def test_force_axis_follows_the_plan() -> None:
    gentle = TherapyPlan(target="1.5 kgf", tolerance="2.2 kgf", therapist_max="2.5 kgf", hold_s=30, repetitions=1,
                         rest_s=5)
    for plan in (THREE, gentle):
        data = session_data(plan, "normal")
        _, force_ax, _ = drawn(data)
        top = force_ax.get_ylim()[1]
        assert plan.therapist_max < top <= plan.therapist_max * 1.15, (plan.therapist_max, top)


def test_pdf_is_a_pdf(tmp_path: Path) -> None:
    data = session_data(THREE, "overshoot")
    raw = render_report(data, tmp_path / "r.pdf").read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF") and len(raw) > 10_000
    assert f"presspoint session {data.session_id}".encode() in raw
    if shutil.which("pdftotext"):
        shown = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True).stdout
        assert "holds completed 1/3" in shown and "abort: over_tolerance" in shown
