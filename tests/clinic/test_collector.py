"""Clinic collectors on a real Mosquitto: a real device session stored once, even with two instances sharing it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from firmware.clinic import queries
from firmware.clinic.alerts import device_alerts
from firmware.clinic.collector import ClinicCollector
from firmware.clinic.ingest import ClinicStore, Ingested
from tests.clinic.support import eventually
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import DEVICE, mqtt_settings, publish_session

pytestmark = [pytest.mark.broker, pytest.mark.asyncio]


async def test_two_instances_share_a_real_session_and_store_every_message_once(
    engine: Engine, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = mqtt_settings(mosquitto.port)
    collectors = [
        ClinicCollector(settings, ClinicStore(engine), client_id=f"clinic-test-{i}", session_expiry_s=60)
        for i in range(2)
    ]
    tasks = [asyncio.create_task(c.run()) for c in collectors]
    try:
        for collector in collectors:
            async with asyncio.timeout(10):
                await collector.subscribed.wait()
        summary = await asyncio.to_thread(publish_session, tmp_path / "device", mosquitto.port, scenario="overshoot")

        def stored() -> bool:
            data = queries.session_data(engine, summary.session_id)
            return data is not None and data.summary is not None and len(data.times) == summary.samples

        await eventually(stored, "the whole session stored")

        def plan_state_stored() -> bool:
            row = queries.device(engine, DEVICE)
            return row is not None and row.plan_state is not None

        await eventually(plan_state_stored, "the retained plan state")
    finally:
        for collector in collectors:
            collector.stop()
        async with asyncio.timeout(10):
            await asyncio.gather(*tasks)

    data = queries.session_data(engine, summary.session_id)
    assert data is not None and data.summary == summary
    counts = queries.counts(engine)
    new = [c.stats.by_result[Ingested.NEW] for c in collectors]
    # the shared subscription split the bulk between the two instances...
    assert all(n > 0 for n in new), new
    # ...and what both received (the retained summary and state) was kept once
    assert sum(c.stats.by_result[Ingested.DUPLICATE] for c in collectors) >= 1
    assert counts["events"] == len(data.events) and counts["summaries"] == 1 and counts["rejected"] == 0
    (row,) = queries.sessions(engine)
    assert (row.session_id, row.outcome) == (summary.session_id, "aborted")
    assert device_alerts(queries.devices(engine)[0]) == [f"last session {summary.session_id} aborted"]
