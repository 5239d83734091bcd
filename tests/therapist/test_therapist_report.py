"""Session report plots: real PNG and SVG files with the band, limits, holds, cues and abort marker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from config.errors import PresspointError
from firmware.therapist.report import render_report
from firmware.therapist.store import SessionData
from tests.therapist_support import SHORT, session_data

ABORT_RED = np.array([0xD6, 0x27, 0x28]) / 255
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
    with pytest.raises(PresspointError, match=r"use \.png or \.svg"):
        render_report(data, tmp_path / "x.jpg")
    with pytest.raises(PresspointError, match="nothing stored to plot"):
        render_report(SessionData("s", "d", None, [], [], []), tmp_path / "x.png")
