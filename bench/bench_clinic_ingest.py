"""Benchmark: messages per second one clinic collector stores, through a real Mosquitto, on SQLite and PostgreSQL.

Per database:

* ``store``: ``ClinicStore.ingest_many`` alone, in bursts of 1 (a commit
  each), 20, 50 and 500;
* ``end to end``: a ``ClinicCollector`` on a real Mosquitto stores
  ``--messages`` sample batches (QoS 1, ~400 bytes, 10 samples, as a device
  sends them) from ``--publishers`` sessions, once per broker
  ``max_inflight_messages`` in ``--inflight``, in three ways (``--modes``):
  ``live`` - paho clients in processes of their own publish as fast as they
  can, timed from the first publish to the last one stored; ``pub`` - the
  same with ``mosquitto_pub -l`` (C) as the load, far cheaper than the
  collector; ``drain`` - the broker queued them all for the collector's
  persistent session before it connects, timed from its start to the last
  one stored: the collector's own cost with nothing else running.

Each figure is the median of ``--runs``, with messages per CPU second of the
collector's process (all its threads): on a machine shared with other work
that says more than the wall rate.  The collector acknowledges a burst after
its commit; Mosquitto 2.0.11 does not hold a v5 client to
``max_inflight_messages`` (mean bursts of 400 with 20 here), so bursts grow
to ``MAX_BURST`` under load either way.

    .venv/bin/python -m bench.bench_clinic_ingest [--messages 6000] [--publishers 4] [--inflight 20,500] \
        [--modes live,pub,drain] [--databases sqlite,postgresql] [--runs 3] [--skip-store]

Aim (issue 15): >= 2,000 messages/s per instance on each database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from bench.bench_clinic import DEVICE, batch_payload, ingest_rate
from config.mqtt import MqttSettings
from firmware.clinic import queries
from firmware.clinic.collector import ClinicCollector
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from tests.clinic.postgres_server import running_postgres
from tests.mqtt_broker import Mosquitto


@dataclass(frozen=True)
class Run:
    rate: float  # messages/s, wall time
    cpu_rate: float  # messages per CPU second of the collector's process (all its threads): less load-dependent
    burst: float  # the mean burst stored in one transaction


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


def publish_all(port: int, streams: list[list[tuple[str, bytes]]]) -> None:
    """Publish every stream from its own process, all at once; return when the broker has acknowledged all."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    processes = [context.Process(target=publish, args=(port, stream, ready, go), daemon=True) for stream in streams]
    for process in processes:
        process.start()
    for _ in processes:
        ready.acquire(True, 30)
    go.set()
    for process in processes:
        process.join(120)


def sample_streams(count: int, publishers: int) -> list[list[tuple[str, bytes]]]:
    """``count`` sample batches split over ``publishers`` sessions (one device each way)."""
    sessions = [f"E{uuid.uuid4().hex[:12]}" for _ in range(publishers)]
    per = count // publishers
    return [[(f"presspoint/{DEVICE}/session/{sid}/samples", batch_payload(sid, i, i + 1)) for i in range(per)]
            for sid in sessions]


async def end_to_end(url: str, broker: Mosquitto, count: int, publishers: int) -> Run:
    """Messages/s from the first publish to the last one stored, and the mean burst the collector stored.

    The end is read from the collector's own counters (set after each commit), not by querying the
    database meanwhile: that would take the collector's event loop and connections.
    """
    engine = open_database(url)
    collector, task = await _subscribed(engine, broker, f"bench-{uuid.uuid4().hex[:6]}")
    before = queries.counts(engine)["sample_batches"]
    streams = sample_streams(count, publishers)
    context = multiprocessing.get_context("spawn")
    ready, go = context.Semaphore(0), context.Event()
    processes = [context.Process(target=publish, args=(broker.port, stream, ready, go), daemon=True)
                 for stream in streams]
    for process in processes:
        process.start()
    for _ in processes:
        await asyncio.to_thread(ready.acquire, True, 30)
    start, cpu = time.perf_counter(), time.process_time()
    go.set()
    run = await _finished(engine, collector, task, before, streams, start, cpu)
    for process in processes:
        process.join(30)
    return run


async def end_to_end_pub(url: str, broker: Mosquitto, count: int, publishers: int) -> Run:
    """As ``end_to_end``, the load from ``mosquitto_pub -l`` (C, a line a message): a load generator far
    cheaper than the collector, so the figure is the collector's with the broker busy, not the publishers'."""
    engine = open_database(url)
    collector, task = await _subscribed(engine, broker, f"pub-{uuid.uuid4().hex[:6]}")
    before = queries.counts(engine)["sample_batches"]
    streams = sample_streams(count, publishers)
    folder = Path(tempfile.mkdtemp(prefix="bench-pub-"))
    files = []
    for n, stream in enumerate(streams):
        assert all(b"\n" not in payload for _, payload in stream)
        files.append(folder / f"stream-{n}.jsonl")
        files[-1].write_bytes(b"".join(payload + b"\n" for _, payload in stream))
    start, cpu = time.perf_counter(), time.process_time()
    processes = [
        subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
                          "-M", "100", "-t", stream[0][0], "-l"], stdin=path.open("rb"))
        for stream, path in zip(streams, files, strict=True)
    ]
    run = await _finished(engine, collector, task, before, streams, start, cpu)
    for process in processes:
        process.wait(30)
    return run


async def drain(url: str, broker: Mosquitto, count: int, publishers: int) -> Run:
    """Messages/s a collector stores of what the broker queued for its persistent session while it was away.

    Nothing else runs meanwhile (the publishers are done before it connects): the figure is the
    collector's own cost - MQTT receive, parse, validation, the database - not the load generator's.
    """
    engine = open_database(url)
    name = f"drain-{uuid.uuid4().hex[:6]}"
    await _stop(*await _subscribed(engine, broker, name))  # its session and subscriptions stay, queueing
    before = queries.counts(engine)["sample_batches"]
    streams = sample_streams(count, publishers)
    await asyncio.to_thread(publish_all, broker.port, streams)
    collector = _collector(engine, broker, name)
    start, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(collector.run())
    return await _finished(engine, collector, task, before, streams, start, cpu)


def _collector(engine: Engine, broker: Mosquitto, name: str) -> ClinicCollector:
    """A collector in a group of its own: an earlier run's persistent session would take a share."""
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=broker.port, reconnect_min_s=0.1)
    return ClinicCollector(settings, ClinicStore(engine), client_id=name, group=name, session_expiry_s=300)


async def _subscribed(engine: Engine, broker: Mosquitto, name: str) -> tuple[ClinicCollector, asyncio.Task[Any]]:
    collector = _collector(engine, broker, name)
    task = asyncio.create_task(collector.run())
    async with asyncio.timeout(10):
        await collector.subscribed.wait()
    return collector, task


async def _finished(engine: Engine, collector: ClinicCollector, task: asyncio.Task[Any], before: int,
                    streams: list[list[tuple[str, bytes]]], start: float, cpu: float) -> Run:
    """Once every message of ``streams`` is stored: the run's figures (timed from ``start``/``cpu``)."""
    total = sum(len(stream) for stream in streams)
    while collector.stats.by_result["new"] < total:
        collector.changed.clear()
        async with asyncio.timeout(60):
            await collector.changed.wait()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await _stop(collector, task)
    _check_stored(engine, before, total)
    return Run(total / elapsed, total / cpu, collector.stats.by_result["new"] / max(collector.stats.bursts, 1))


async def _stop(collector: ClinicCollector, task: asyncio.Task[Any]) -> None:
    collector.stop()
    async with asyncio.timeout(10):
        await task


def _check_stored(engine: Engine, before: int, total: int) -> None:
    stored = queries.counts(engine)["sample_batches"] - before
    engine.dispose()
    assert stored == total, f"{stored} stored of {total}"


MODES = {"live": end_to_end, "pub": end_to_end_pub, "drain": drain}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--inflight", default="20,500", help="the brokers' max_inflight_messages, comma-separated")
    parser.add_argument("--modes", default="live,pub,drain",
                        help="live (paho publishers running), pub (mosquitto_pub -l running), drain (queued before)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs per figure; the median is printed")
    parser.add_argument("--skip-store", action="store_true", help="only the end-to-end figures")
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
            for name in args.databases.split(","):
                url = urls[name]
                for burst in () if args.skip_store else (1, 20, 50, 500):
                    rate = ingest_rate(url, args.messages, burst)
                    print(f"{name:<10} store: {rate:,.0f} messages/s (bursts of {burst})", flush=True)
                for mode in args.modes.split(","):
                    for broker in brokers:
                        runs = [asyncio.run(MODES[mode](url, broker, args.messages, args.publishers))
                                for _ in range(args.runs)]
                        rates = sorted(run.rate for run in runs)
                        cpu = statistics.median(run.cpu_rate for run in runs)
                        print(f"{name:<10} end to end ({mode}) through Mosquitto (max_inflight_messages "
                              f"{broker.max_inflight}): median {statistics.median(rates):,.0f} messages/s "
                              f"(runs {', '.join(f'{r:,.0f}' for r in rates)}; {cpu:,.0f} per CPU second of the "
                              f"collector; mean burst {statistics.mean(run.burst for run in runs):.0f}; "
                              f"{args.messages} sample batches from {args.publishers} publishers, QoS 1)", flush=True)
    finally:
        for broker in brokers:
            broker.stop()


if __name__ == "__main__":
    main()
