"""A person's weeks for the persons-page tests: summaries and thresholds made with the protocol's own models."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from config.plan import TherapyPlan
from firmware.clinic.ingest import ClinicStore
from firmware.outcomes.records import CourseStatus
from firmware.protocol.ppt import PptMeasurement
from firmware.session.states import HoldOutcome, Outcome, SpotOutcome
from firmware.session.summary import HoldSummary, SessionSummary, SpotSummary, resolve_plan

DEVICE = "dev1"
PERSON = "jo-42"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def summary(
    index: int, *, pain_before: int | None, pain_after: int | None, in_band: float = 0.8,
    outcome: Outcome = Outcome.COMPLETED, reevaluate: bool = False, person: str = PERSON,
    started_at: datetime | None = None,
) -> SessionSummary:
    hold = dict(started_at_s=1.0, ended_at_s=31.0, duration_s=30.0, outcome=HoldOutcome.COMPLETED,
                in_band_fraction=in_band, breath_cues=3)
    return SessionSummary(
        session_id=f"s{index:03d}", device_id=DEVICE, started_at=started_at or START + timedelta(days=3 * index),
        outcome=outcome, abort=None, plan=resolve_plan(TherapyPlan(), 88.26),
        holds=[HoldSummary(index=1, spot=1, mean_force_n=28.0, peak_force_n=30.0 + index, **hold),
               HoldSummary(index=2, spot=2, mean_force_n=20.0, peak_force_n=22.0, **hold)],
        spots=[SpotSummary(index=1, name="upper trapezius", outcome=SpotOutcome.COMPLETED, target_n=29.4,
                           final_target_n=29.4, holds=[1]),
               SpotSummary(index=2, name="levator scapulae", outcome=SpotOutcome.COMPLETED, target_n=19.6,
                           final_target_n=19.6, holds=[2])],
        peak_force_n=30.0 + index, duration_s=80.0, samples=800, sample_rate_hz=10.0,
        person=person, pain_before=pain_before, pain_after=pain_after,
        course=CourseStatus(id="c1", sessions_rated=index + 1, baseline_pain=6, latest_pain=pain_before,
                            reevaluate=reevaluate, reason="3 rated sessions without relief" if reevaluate else None),
    )


def ppt_payload(index: int, threshold_n: float) -> bytes:
    """A ``presspoint.ppt/1`` measurement (which names no person: it is the device's only person's)."""
    m = PptMeasurement(
        measurement_id=f"m{index}", device_id=DEVICE, measured_at=(START + timedelta(days=3 * index, hours=1))
        .isoformat().replace("+00:00", "Z"), outcome="recorded", threshold_n=threshold_n, force_at_press_n=threshold_n,
        peak_force_n=threshold_n + 1, contact_at_s=0.5, press_at_s=4.0, mean_rate_n_per_s=5.0, max_rate_n_per_s=6.0,
        rate_limit_n_per_s=10.0, rate_ok=True, too_fast_cues=0, abort=None, tolerance_n=60.0, device_max_n=88.26,
        suggestion={"basis_threshold_n": threshold_n, "target_n": round(threshold_n * 0.7, 2),
                    "tolerance_n": round(threshold_n * 0.9, 2), "therapist_max_n": threshold_n,
                    "target_fraction": 0.7, "tolerance_fraction": 0.9},
    )
    return json.dumps(m.model_dump(mode="json", by_alias=True)).encode()


def store_weeks(store: ClinicStore) -> None:
    """Four sessions over two weeks (pain 6, 6, 5, 4), two thresholds (30 N, then 36 N: +60 kPa, a real change)."""
    for index, (before, after) in enumerate([(6, 5), (6, 4), (5, 4), (4, 3)]):
        s = summary(index, pain_before=before, pain_after=after, in_band=0.6 + 0.1 * index)
        store.ingest(f"presspoint/{DEVICE}/session/{s.session_id}/summary", s.to_json().encode())
    for index, threshold in enumerate([30.0, 36.0]):
        store.ingest(f"presspoint/{DEVICE}/ppt", ppt_payload(index, threshold))
