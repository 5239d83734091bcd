"""``sessions`` and ``report`` on sessions a real device stack published and the real collector stored."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.plan import TherapyPlan
from firmware.cli.main import main
from firmware.session.summary import SessionSummary
from firmware.therapist.collect import Collector
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import SHORT, mqtt_settings, publish_session, wait_until

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

ZONE = "Europe/Berlin"


@pytest.fixture
def berlin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ZoneInfo]:
    """The therapist's computer is in Berlin: human output shows its local time."""
    monkeypatch.setenv("TZ", ZONE)
    time.tzset()
    yield ZoneInfo(ZONE)
    monkeypatch.undo()
    time.tzset()


async def collect(
    tmp_path: Path, mosquitto: Mosquitto, scenarios: list[str], plan: TherapyPlan = SHORT
) -> tuple[Path, list[SessionSummary]]:
    """Publish one session per scenario from a device stack; return the collector's database once all is in."""
    db = tmp_path / "therapist.sqlite3"
    collector = Collector(mqtt_settings(mosquitto.port), db, client_id="review-collector")
    task = asyncio.create_task(collector.run())
    async with asyncio.timeout(10):
        await collector.subscribed.wait()
    summaries = [
        await asyncio.to_thread(publish_session, tmp_path / f"device-{i}", mosquitto.port, scenario=scenario, plan=plan)
        for i, scenario in enumerate(scenarios)
    ]

    def stored() -> bool:
        listed = collector.store.sessions()
        return collector.store.counts()["summaries"] == len(summaries) and sum(r.samples for r in listed) == sum(
            s.samples for s in summaries
        )

    await wait_until(collector, stored)
    collector.stop()
    async with asyncio.timeout(10):
        await task
    collector.close()
    return db, summaries


def name_person(db: Path, session_id: str, person: str) -> None:
    """A summary from a newer device carries the profile's pseudonym."""
    with sqlite3.connect(db) as conn:
        (text,) = conn.execute("SELECT summary FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        conn.execute(
            "UPDATE sessions SET summary = ? WHERE session_id = ?", (json.dumps({**json.loads(text), "person": person}),
                                                                     session_id),
        )


def row_of(listing: str, session_id: str) -> str:
    (row,) = [line for line in listing.splitlines() if line.startswith(session_id)]
    return row


async def test_sessions_list_holds_planned_abort_reason_person_and_local_time(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str], berlin: ZoneInfo
) -> None:
    three = TherapyPlan(hold_s=30, repetitions=3, rest_s=5)
    db, (aborted, done) = await collect(tmp_path, mosquitto, ["overshoot", "normal"], three)
    name_person(db, aborted.session_id, "P-017")
    assert main(["therapist", "sessions", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert "person" in listing.splitlines()[0] and "abort reason" in listing.splitlines()[0]

    row = row_of(listing, aborted.session_id).split()
    # One hold completed of the three the plan asked for (the second ramp aborted): 1/3, as in the report.
    assert "1/3" in row and "aborted" in row and "over_tolerance" in row and "P-017" in row
    started = aborted.started_at.astimezone(berlin)
    assert started.strftime("%Y-%m-%d %H:%M %Z") in row_of(listing, aborted.session_id)
    assert started.tzname() in ("CET", "CEST")

    row = row_of(listing, done.session_id).split()
    assert "3/3" in row and "completed" in row and row.count("-") == 2  # no person, no abort reason

    svg = tmp_path / "aborted.svg"
    assert main(["therapist", "report", aborted.session_id, "--db", str(db), "--out", str(svg)]) == 0
    text = svg.read_text()
    assert "holds completed 1/3" in text and "P-017" in text and started.strftime("%H:%M") in text


async def test_report_takes_a_unique_prefix_or_latest(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    db, (first, second) = await collect(tmp_path, mosquitto, ["normal", "stop"])
    out = tmp_path / "r.png"
    assert main(["therapist", "report", "latest", "--db", str(db), "--out", str(out)]) == 0
    assert f"(session {second.session_id})" in capsys.readouterr().out

    a, b = first.session_id, second.session_id
    common = a[: next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)]
    assert common  # the same year at least
    unique = first.session_id[: len(common) + 1]
    assert main(["therapist", "report", unique, "--db", str(db), "--out", str(out)]) == 0
    assert f"(session {first.session_id})" in capsys.readouterr().out

    assert main(["therapist", "report", common, "--db", str(db), "--out", str(tmp_path / "no.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "matches 2 sessions" in err
    assert first.session_id in err and second.session_id in err
    assert not (tmp_path / "no.png").exists()

    assert main(["therapist", "report", "zzz", "--db", str(db), "--out", str(out)]) == 2
    assert "no session 'zzz'" in capsys.readouterr().err


async def test_report_writes_a_pdf(tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]) -> None:
    db, (aborted,) = await collect(tmp_path, mosquitto, ["overshoot"])
    pdf = tmp_path / "report.pdf"
    assert main(["therapist", "report", aborted.session_id[:20], "--db", str(db), "--out", str(pdf)]) == 0
    raw = pdf.read_bytes()
    assert raw.startswith(b"%PDF-") and raw.rstrip().endswith(b"%%EOF") and len(raw) > 10_000
    assert f"presspoint session {aborted.session_id}".encode() in raw  # the document title
