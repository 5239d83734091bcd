"""The live view's path: from the broker to every instance's memory, and pushed from there to the browser's stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from config.device import DeviceConfig, StorageSettings
from firmware.clinic import queries
from firmware.clinic.collector import ClinicCollector
from firmware.clinic.ingest import ClinicStore, Ingested
from firmware.clinic.live import KEEP_SAMPLES, LiveFeed, LiveHub
from firmware.clinic.live_api import live_events, resumed_after
from firmware.mqtt.service import MqttService
from firmware.protocol.payloads import SamplesBatch, dump
from firmware.realtime.sinks import SessionInfo
from tests.clinic.support import DEVICE, SESSION, eventually, samples_payload, status_payload, topic
from tests.mqtt_broker import Mosquitto
from tests.therapist_support import mqtt_settings, publish_session

PREFIX = "presspoint"
LONG_S = 3600.0  # a wait that only a change (or a close) ends


def _message(chunk: bytes) -> tuple[int, str]:
    """``(id, data)`` of one SSE message."""
    fields = dict(line.split(": ", 1) for line in chunk.decode().strip().splitlines())
    token, counter = fields["id"].split(":")
    assert token.isalnum()
    return int(counter), fields["data"]


@pytest.mark.asyncio
async def test_a_stream_sends_each_change_as_it_arrives_and_ends_when_the_hub_closes(engine: Engine) -> None:
    import json

    hub = LiveHub()
    hub.feed(topic("status/info"), status_payload("2026-11-30T00:00:00.000Z", "hold", SESSION), PREFIX)
    events = live_events(hub, engine, DEVICE, 0, keepalive_s=LONG_S)
    assert await anext(events) == b"retry: 1000\n\n"
    first_id, first = _message(await anext(events))
    assert json.loads(first)["status"]["phase"] == "hold" and json.loads(first)["samples"] == []
    assert hub.watched() == [DEVICE]  # an open stream has the feed subscribe the device's live chunks
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    assert not waiting.done()  # nothing new: the stream waits for news, it does not send on a timer
    hub.feed(topic("samples"), samples_payload(4), PREFIX)
    async with asyncio.timeout(LONG_S):
        next_id, data = _message(await waiting)
    assert next_id > first_id
    body = json.loads(data)
    assert [t for t, _ in body["samples"]] == pytest.approx([4.0, 4.1, 4.2])
    assert body["session_id"] == SESSION
    waiting = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    hub.close()
    with pytest.raises(StopAsyncIteration):
        async with asyncio.timeout(LONG_S):
            await waiting
    assert hub.watched() == []


@pytest.mark.asyncio
async def test_a_stream_resumes_after_the_last_id_it_sent(engine: Engine) -> None:
    import json

    hub = LiveHub()
    hub.feed(topic("samples"), samples_payload(0), PREFIX)
    events = live_events(hub, engine, DEVICE, 0, keepalive_s=LONG_S)
    await anext(events)
    seen, _ = _message(await anext(events))
    hub.feed(topic("samples"), samples_payload(1), PREFIX)
    # an EventSource's Last-Event-ID: resumed on the same hub, started over on another (a restart, another instance)
    assert resumed_after(hub, f"{hub.token}:{seen}") == seen
    assert resumed_after(LiveHub(), f"{hub.token}:{seen}") == 0 and resumed_after(hub, None) == 0
    resumed = live_events(hub, engine, DEVICE, resumed_after(hub, f"{hub.token}:{seen}"), keepalive_s=LONG_S)
    await anext(resumed)
    _, data = _message(await anext(resumed))
    assert [t for t, _ in json.loads(data)["samples"]] == pytest.approx([1.0, 1.1, 1.2])
    hub.close()


def test_a_stored_batch_adds_only_what_the_live_chunks_did_not_show() -> None:
    hub = LiveHub()
    chunk = SamplesBatch(msg_id="c1", seq=1, device_id=DEVICE, session_id=SESSION, created_at="2026-12-01T00:00:00Z",
                         batch=0, t0=0.0, dt=0.1, n=3, force_n=[1.0, 2.0, 3.0], raw=[None] * 3)
    hub.feed(f"presspoint/{DEVICE}/live", dump(chunk), PREFIX)
    hub.feed(topic("samples"), samples_payload(0), PREFIX)  # t 0.0, 0.1, 0.2: all shown already
    stored = SamplesBatch.model_validate_json(samples_payload(0)).model_copy(update={"t0": 0.1})
    hub.feed(topic("samples"), dump(stored), PREFIX)  # t 0.1, 0.2, 0.3: only 0.3 is new
    assert hub.since(DEVICE, 0)["samples"] == [[0.0, 1.0], [0.1, 2.0], [0.2, 3.0], [pytest.approx(0.3), None]]


@pytest.mark.broker
@pytest.mark.asyncio
async def test_every_instance_sees_every_sample_live_while_the_share_splits_the_storage(
    engine: Engine, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    settings = mqtt_settings(mosquitto.port)
    collectors = [
        ClinicCollector(settings, ClinicStore(engine), client_id=f"clinic-live-{i}", session_expiry_s=60)
        for i in range(2)
    ]
    hubs = [LiveHub(), LiveHub()]
    feeds = [LiveFeed(settings, hub) for hub in hubs]
    tasks = [asyncio.create_task(worker.run()) for worker in [*collectors, *feeds]]
    try:
        for worker in [*collectors, *feeds]:
            async with asyncio.timeout(10):
                await worker.subscribed.wait()
        summary = await asyncio.to_thread(publish_session, tmp_path / "device", mosquitto.port, scenario="normal")

        def stored() -> bool:
            data = queries.session_data(engine, summary.session_id)
            return data is not None and len(data.times) == summary.samples

        await eventually(stored, "the whole session stored")
        data = queries.session_data(engine, summary.session_id)
        assert data is not None
        kept = list(zip(data.times, data.forces, strict=True))[-KEEP_SAMPLES:]  # what a hub holds at most

        def every_hub_has_the_session() -> bool:
            return all(
                hub.since(DEVICE, 0)["session_id"] == summary.session_id
                and [t for t, _ in hub.since(DEVICE, 0)["samples"]] == pytest.approx([t for t, _ in kept])
                for hub in hubs
            )

        await eventually(every_hub_has_the_session, "every sample (up to what a hub keeps) in both instances' hubs")
    finally:
        for worker in [*collectors, *feeds]:
            worker.stop()
        async with asyncio.timeout(10):
            await asyncio.gather(*tasks)
    # the same samples reached the two collectors' stores split between them (one instance holds each share)
    new_batches = [c.stats.by_kind["samples"] for c in collectors]
    assert all(n > 0 for n in new_batches) and all(c.stats.by_result[Ingested.NEW] > 0 for c in collectors)
    for hub in hubs:
        live = hub.since(DEVICE, 0)["samples"]
        assert [t for t, _ in live] == pytest.approx([t for t, _ in kept])
        assert [f for _, f in live] == [f for _, f in kept]


@pytest.mark.broker
@pytest.mark.asyncio
async def test_a_watched_devices_live_chunks_reach_every_watching_instance_before_its_stored_batch(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Samples of the first half second: their one-second batch is not closed yet, only live chunks carry them.

    Two instances with the device's page open get every chunk (no share: each has its own subscription); a
    third with no page open gets none.
    """
    settings = mqtt_settings(mosquitto.port)
    device = DeviceConfig(device_id=DEVICE, storage=StorageSettings(state_dir=tmp_path / "device"), mqtt=settings)
    watching, unwatched = [LiveHub(), LiveHub()], LiveHub()
    feeds = [LiveFeed(settings, hub) for hub in [*watching, unwatched]]
    with watching[0].watch(DEVICE), watching[1].watch(DEVICE):
        tasks = [asyncio.create_task(feed.run()) for feed in feeds]
        service = MqttService(device, device.mqtt)
        try:
            for feed in feeds:
                async with asyncio.timeout(10):
                    await feed.subscribed.wait()
            await asyncio.to_thread(service.start)
            service.sink.session_started(SessionInfo("live-1", DEVICE, "2026-12-01T00:00:00.000Z", 80.0, {}))
            times = [i / 80 for i in range(40)]
            for t in times:
                service.sink.sample(t, 20.0 + t, 1000)

            def shown(hub: LiveHub) -> list[float]:
                return [t for t, _ in hub.since(DEVICE, 0)["samples"]]

            def every_watching_hub_has_them() -> bool:
                return all(shown(hub) == pytest.approx(times) for hub in watching)

            await eventually(every_watching_hub_has_them, "the half second in both watching hubs")
            assert {hub.since(DEVICE, 0)["session_id"] for hub in watching} == {"live-1"}
            assert unwatched.since(DEVICE, 0)["samples"] == []  # no view open there: no chunk subscribed
        finally:
            await asyncio.to_thread(service.close)
            for feed in feeds:
                feed.stop()
            async with asyncio.timeout(10):
                await asyncio.gather(*tasks)
    assert [hub.watched() for hub in watching] == [[], []]
