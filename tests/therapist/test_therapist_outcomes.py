"""Outcomes the therapist sees: ratings, spots, follow-ups and flags in ``sessions``; course and PPT in ``person``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from firmware.cli.main import main
from firmware.outcomes.records import CourseStatus, Flag, FollowUpAnswer
from firmware.protocol.payloads import dump
from firmware.protocol.person import FollowUpMessage, PersonStatus
from firmware.realtime.sinks import MemorySink
from firmware.session.states import SpotOutcome
from firmware.session.summary import SessionSummary, SpotSummary
from firmware.therapist.store import Ingested, TherapistStore
from tests.therapist_support import DEVICE, SHORT, simulate

BASE = f"presspoint/{DEVICE}"
COURSE = CourseStatus(id="course-1", sessions_rated=3, baseline_pain=6, latest_pain=5, reevaluate=True,
                      reason="3 rated sessions without significant relief")


def rated_summary() -> SessionSummary:
    summary = simulate(SHORT, "normal", [MemorySink()])
    spot = SpotSummary(index=1, name="upper-trapezius", outcome=SpotOutcome.COMPLETED, target_n=29.4,
                       final_target_n=29.4, holds=[1, 2])
    return summary.model_copy(update={"pain_before": 5, "pain_after": 2, "person": "P-9", "course": COURSE,
                                      "spots": [spot]})


def ppt2(at: str, mean_kpa: float, change: float | None, real: bool | None) -> bytes:
    return json.dumps({
        "schema": "presspoint.ppt/2", "measurement_id": "m" + "".join(c for c in at if c.isdigit()),
        "device_id": DEVICE, "measured_at": at, "spot": "upper-trapezius",
        "trials": [{"threshold_n": mean_kpa / 10, "threshold_kpa": mean_kpa, "rate_kpa_s": 50.0, "off_rate": False}],
        "mean_n": mean_kpa / 10, "mean_kpa": mean_kpa, "cv": 0.0, "used_trials": [1],
        "suggested": {"target_n": 20.0, "tolerance_n": 25.0, "therapist_max_n": 28.0},
        "change_kpa": change, "real_change": real,
    }).encode()


def filled(db: Path) -> SessionSummary:
    summary = rated_summary()
    sid = summary.session_id
    answered = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    follow_up = FollowUpMessage(device_id=DEVICE, session_id=sid, answer=FollowUpAnswer.NOT_BETTER,
                                answered_at=answered, hours_after=22.5)
    status = PersonStatus(device_id=DEVICE, person="P-9", updated_at="2026-12-02T09:00:01.000Z", course=COURSE,
                          flags=[Flag.SORENESS_NOT_IMPROVING, Flag.REEVALUATE], soreness_since=answered)
    store = TherapistStore(db)
    try:
        results = store.ingest_many([
            (f"{BASE}/session/{sid}/summary", summary.to_json().encode()),
            (f"{BASE}/session/{sid}/follow_up", dump(follow_up)),
            (f"{BASE}/person/status", dump(status)),
            (f"{BASE}/ppt", ppt2("2026-11-20T10:00:00.000Z", 300.0, None, None)),
            (f"{BASE}/ppt", ppt2("2026-11-27T10:00:00.000Z", 355.0, 55.0, True)),
        ])
        assert results == [Ingested.NEW] * 5
        # a retained copy of each again: nothing new
        assert store.ingest(f"{BASE}/session/{sid}/follow_up", dump(follow_up)) is Ingested.DUPLICATE
        assert store.ingest(f"{BASE}/person/status", dump(status)) is Ingested.DUPLICATE
        assert store.ingest(f"{BASE}/ppt", ppt2("2026-11-27T10:00:00.000Z", 355.0, 55.0, True)) is Ingested.DUPLICATE
    finally:
        store.close()
    return summary


def test_sessions_show_person_spots_pain_follow_up_and_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    db = tmp_path / "t.sqlite3"
    summary = filled(db)
    assert main(["therapist", "sessions", "--db", str(db)]) == 0
    header, row = capsys.readouterr().out.splitlines()
    for column in ("person", "spots", "pain", "follow-up", "flags"):
        assert column in header
    cells = row.split()
    assert cells[0] == summary.session_id and "P-9" in cells and "upper-trapezius" in cells and "5->2" in cells
    assert "not_better" in cells and cells[-1] == "reevaluate,soreness"


def test_person_shows_course_flags_and_ppt_per_spot_with_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    db = tmp_path / "t.sqlite3"
    filled(db)
    assert main(["therapist", "person", "--device", DEVICE, "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == f"device {DEVICE}: person P-9"
    assert "course course-1: 3 rated session(s), baseline pain 6, latest 5; REEVALUATE: 3 rated sessions" in text
    assert "flags: soreness_not_improving, reevaluate (soreness since" in text
    assert "pain 5 -> 2 (of 10); follow-up: not_better; flags: reevaluate, soreness" in text
    assert "  upper-trapezius:\n" in text
    assert "300 kPa  first measurement here" in text and "355 kPa  change +55 kPa (real change)" in text
    assert main(["therapist", "person", "--device", "nosuch", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing collected from device 'nosuch'" in err


def test_the_report_shows_the_ratings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "t.sqlite3"
    summary = filled(db)
    svg = tmp_path / "r.svg"
    assert main(["therapist", "report", "latest", "--db", str(db), "--out", str(svg)]) == 0
    assert f"(session {summary.session_id})" in capsys.readouterr().out
    assert "pain 5 -&gt; 2 (of 10)" in svg.read_text()
