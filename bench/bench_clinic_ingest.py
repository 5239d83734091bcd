"""Benchmark: messages per second one clinic collector stores, through a real Mosquitto, on SQLite and PostgreSQL.

Two figures per database:

* ``store``: ``ClinicStore.ingest_many`` alone, in bursts of 1 (a commit
  each), 20 (Mosquitto's default in-flight window, the most a collector that
  acknowledges after the commit is sent at once), 50 and 500;
* ``end to end``: a ``ClinicCollector`` subscribed to a real Mosquitto while
  ``--publishers`` clients publish ``--messages`` sample batches (QoS 1, ~400
  bytes, 10 samples, as a device sends them) as fast as they can; the rate is
  the messages over the time from the first publish to the last one stored,
  once per broker ``max_inflight_messages`` in ``--inflight``.  The collector
  acknowledges a burst after its commit, so the broker's in-flight window
  (Mosquitto's default 20; the collector sets no MQTT 5 Receive Maximum, so
  the broker's setting is the limit) is the largest burst it can get.

    .venv/bin/python -m bench.bench_clinic_ingest [--messages 6000] [--publishers 4] [--inflight 20,500]

Aim (issue 15): >= 2,000 messages/s per instance on each database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.bench_clinic import DEVICE, batch_payload, ingest_rate
from config.mqtt import MqttSettings
from firmware.clinic import queries
from firmware.clinic.collector import ClinicCollector
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from tests.clinic.postgres_server import running_postgres
from tests.mqtt_broker import Mosquitto


def publish(port: int, messages: list[tuple[str, bytes]], ready: Any, go: Any) -> None:
    """One publisher process (its own interpreter: no GIL shared with the collector measured)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    ready.release()
    go.wait()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


async def end_to_end(url: str, broker: Mosquitto, count: int, publishers: int) -> tuple[float, float]:
    """Messages/s from the first publish to the last one stored, and the mean burst the collector stored.

    The end is read from the collector's own counters (set after each commit), not by querying the
    database meanwhile: that would take the collector's event loop and connections.
    """
    engine = open_database(url)
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=broker.port, reconnect_min_s=0.1)
    run = uuid.uuid4().hex[:6]
    # A group of its own: an earlier run's persistent session would still take its share of the messages.
    collector = ClinicCollector(settings, ClinicStore(engine), client_id=f"bench-{run}", group=f"bench-{run}",
                                session_expiry_s=60)
    task = asyncio.create_task(collector.run())
    async with asyncio.timeout(10):
        await collector.subscribed.wait()
    before = queries.counts(engine)["sample_batches"]
    sessions = [f"E{uuid.uuid4().hex[:12]}" for _ in range(publishers)]
    per = count // publishers
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    processes = [
        context.Process(target=publish, args=(broker.port, [
            (f"presspoint/{DEVICE}/session/{sid}/samples", batch_payload(sid, i, i + 1)) for i in range(per)
        ], ready, go), daemon=True)
        for sid in sessions
    ]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(ready.acquire, True, 30)
    start = time.perf_counter()
    go.set()
    while collector.stats.by_result["new"] < per * publishers:
        collector.changed.clear()
        async with asyncio.timeout(60):
            await collector.changed.wait()
    elapsed = time.perf_counter() - start
    collector.stop()
    async with asyncio.timeout(10):
        await task
    for process in processes:
        process.join(30)
    stored = queries.counts(engine)["sample_batches"] - before
    engine.dispose()
    assert stored == per * publishers, f"{stored} stored of {per * publishers}"
    return per * publishers / elapsed, collector.stats.by_result["new"] / max(collector.stats.bursts, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--inflight", default="20,500", help="the brokers' max_inflight_messages, comma-separated")
    parser.add_argument("--skip-store", action="store_true", help="only the end-to-end figure")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    brokers = [Mosquitto(folder / f"broker-{n}", max_inflight=int(n)) for n in args.inflight.split(",")]
    for broker in brokers:
        broker.start()
    try:
        with running_postgres() as pg:
            urls = {"sqlite": f"sqlite:///{folder / 'clinic.sqlite3'}"}
            if pg is not None:
                urls["postgresql"] = pg.create_database()
            for name, url in urls.items():
                for burst in () if args.skip_store else (1, 20, 50, 500):
                    rate = ingest_rate(url, args.messages, burst)
                    print(f"{name:<10} store: {rate:,.0f} messages/s (bursts of {burst})", flush=True)
                for broker in brokers:
                    rate, burst_size = asyncio.run(end_to_end(url, broker, args.messages, args.publishers))
                    print(f"{name:<10} end to end through Mosquitto (max_inflight_messages {broker.max_inflight}): "
                          f"{rate:,.0f} messages/s, mean burst {burst_size:.0f} ({args.messages} sample batches "
                          f"from {args.publishers} publishers, QoS 1)", flush=True)
    finally:
        for broker in brokers:
            broker.stop()


if __name__ == "__main__":
    main()
