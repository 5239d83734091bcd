"""The collector on a real Mosquitto: catches up after being down, never stores a duplicate."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import aiomqtt
import pytest

from firmware.cli.main import main
from firmware.clinic import queries
from firmware.protocol.payloads import EventMessage, SamplesBatch, SessionEvent
from firmware.therapist.collect import Collector
from firmware.therapist.store import Ingested, TherapistStore
from tests.mqtt_broker import Collector as Witness
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import DEVICE, mqtt_settings, publish_session, wait_until

pytest_plugins = ["tests.mqtt_broker"]
pytestmark = [pytest.mark.broker, pytest.mark.asyncio]

CLIENT_ID = "collector-under-test"


async def start(collector: Collector) -> asyncio.Task[object]:
    task: asyncio.Task[object] = asyncio.create_task(collector.run())
    async with asyncio.timeout(10):
        await collector.subscribed.wait()
    return task


async def stop(collector: Collector, task: asyncio.Task[object]) -> None:
    collector.stop()
    async with asyncio.timeout(10):
        await task
    collector.close()


def event_payload(msg_id: str, index: int, session_id: str = "20261130T000000Z-aaaaaaaa") -> bytes:
    message = EventMessage(
        msg_id=msg_id, seq=index + 1, device_id=DEVICE, session_id=session_id, created_at="2026-11-30T00:00:00Z",
        index=index, event=SessionEvent.model_validate({"type": "phase", "t": float(index), "phase": "ramp"}),
    )
    return message.model_dump_json(by_alias=True).encode()


async def test_collector_down_during_a_session_catches_up_without_duplicates(
    tmp_path: Path, mosquitto: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "therapist.sqlite3"
    settings = mqtt_settings(mosquitto.port)
    # First start makes the broker keep a persistent session for this client id; then the collector goes down.
    first = Collector(settings, db, client_id=CLIENT_ID)
    await stop(first, await start(first))

    async with Witness(mosquitto.port, ["presspoint/+/session/+/+"]) as witness:
        summary = await asyncio.to_thread(publish_session, tmp_path / "device", mosquitto.port)
        await witness.wait_for(lambda got: any(m.topic.endswith("/summary") for m in got))
    events = {json.loads(m.payload)["msg_id"] for m in witness.on("/event")}
    batch_sizes = {b.msg_id: b.n for b in (SamplesBatch.model_validate_json(m.payload) for m in witness.on("/samples"))}
    batches, samples = set(batch_sizes), sum(batch_sizes.values())
    assert summary.outcome == "aborted" and len(events) > 10 and len(batches) > 30

    # Back up: queued QoS 1 events and samples are redelivered, the summary comes queued and retained.
    second = Collector(settings, db, client_id=CLIENT_ID)
    task = await start(second)

    def complete() -> bool:
        c = second.store.counts()
        return c["summaries"] == 1 and c["events"] == len(events) and c["sample_batches"] == len(batches)

    await wait_until(second, complete)
    data = second.store.session(summary.session_id)
    assert data is not None and data.summary == summary and len(data.times) == summary.samples == samples
    await stop(second, task)

    # Restarted again: the retained summary arrives once more and is recognised as a repeat.
    third = Collector(settings, db, client_id=CLIENT_ID)
    task = await start(third)
    await wait_until(third, lambda: third.stats.by_result["duplicate"] >= 1)
    # A redelivered event (same msg_id) is dropped too.
    stored = queries.session_data(third.store.engine, summary.session_id)
    assert stored is not None and stored.events
    before = third.store.counts()
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="replayer") as client:
        for message in witness.on("/event")[:3]:
            await client.publish(message.topic, message.payload, qos=1)
    await wait_until(third, lambda: third.stats.by_result["duplicate"] >= 4)
    assert third.store.counts() == before
    await stop(third, task)

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT msg_id), COUNT(*) FROM events").fetchone() == (len(events),) * 2
        assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone() == (1,)

    # The collected session lists and plots.
    assert main(["therapist", "sessions", "--db", str(db)]) == 0
    listing = capsys.readouterr().out
    assert summary.session_id in listing and "aborted" in listing and f"{samples:>7}" in listing
    png = tmp_path / "report.png"
    assert main(["therapist", "report", summary.session_id, "--db", str(db), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


async def test_unstored_message_is_not_acknowledged_and_comes_back(tmp_path: Path, mosquitto: Mosquitto) -> None:
    class FailsOnce(TherapistStore):
        failed = False

        def ingest_many(self, received: list[tuple[str, bytes]]) -> list[Ingested]:
            if not self.failed and any(topic.endswith("/event") for topic, _ in received):
                self.failed = True
                raise sqlite3.OperationalError("disk I/O error (injected)")
            return super().ingest_many(received)

    db = tmp_path / "c.sqlite3"
    collector = Collector(mqtt_settings(mosquitto.port), db, client_id="flaky", store=FailsOnce(db))
    task = await start(collector)
    topic = f"presspoint/{DEVICE}/session/20261130T000000Z-aaaaaaaa/event"
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="device-ish") as client:
        await client.publish(topic, event_payload("m1", 0), qos=1)
        await client.publish(topic, b"{garbage", qos=1)  # rejected, acknowledged: never blocks the queue
        await client.publish(topic, event_payload("m2", 1), qos=1)
    await wait_until(collector, lambda: collector.store.counts()["events"] == 2)
    assert collector.stats.store_errors == 1 and collector.stats.connects >= 2
    assert collector.store.counts()["rejected"] == 1
    await stop(collector, task)


async def test_cli_collect_runs_for_a_duration(tmp_path: Path, mosquitto: Mosquitto,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.sqlite3"
    code = await asyncio.to_thread(main, ["therapist", "collect", "--db", str(db), "--broker", mosquitto.url,
                                          "--duration", "0.5", "--client-id", "cli-collector"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"collecting from {mosquitto.url} as cli-collector" in err and "collected: 0 new" in err
    assert db.exists()
