"""Benchmark: the clinic app on SQLite and on a real PostgreSQL.

* messages ingested per second by one instance (``ClinicStore.ingest_many``:
  a commit per message, and a commit per burst of 50 and of 500 - the
  collector's largest - as it stores what arrived while it was writing;
  ``bench_clinic_ingest`` adds the end-to-end figure through Mosquitto), on
  each database, with sample batches of a real size (10 samples, ~400 bytes);
* live-view delay device -> browser on loopback: samples "read" and published
  as the device does to a real Mosquitto, until a real headless chromium
  showing the device's page of a real ``clinic serve`` has them
  (``bench.live_browser`` says what is stamped where), p50/p99/max per run;
* the session list and a person's history with 10,000 sessions stored
  (server time of the queries - a person's sessions, and the person page's
  history per spot - and over HTTP), on each database;
* the RSS of a ``clinic serve`` process after all that.

    .venv/bin/python -m bench.bench_clinic [--messages 3000] [--sessions 10000]
        [--live 1200] [--live-runs 3] [--chunk-s 0.1] [--topic live|samples] [--live-only]

Aims (issue 15): >= 2,000 messages/s per instance on each database; live p99
<= 250 ms; list and history <= 300 ms server time with 10,000 sessions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from bench import live_browser
from firmware.clinic import person_queries, queries
from firmware.clinic import schema as t
from firmware.clinic.auth import add_user, create_token
from firmware.clinic.collector import MAX_BURST
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.protocol.payloads import SamplesBatch, dump
from tests.clinic.chromium import start_chromium
from tests.clinic.clinic_process import ClinicServer
from tests.clinic.postgres_server import running_postgres
from tests.mqtt_broker import Mosquitto

DEVICE = "bench1"
PASSWORD = "a long enough password"


def batch_payload(session_id: str, batch: int, seq: int) -> bytes:
    return dump(
        SamplesBatch(
            msg_id=uuid.uuid4().hex, seq=seq, device_id=DEVICE, session_id=session_id,
            created_at="2026-12-01T00:00:00.000Z", batch=batch, t0=float(batch), dt=0.1, n=10,
            force_n=[29.4 + i * 0.01 for i in range(10)], raw=[100_000 + i for i in range(10)],
        )
    )


def ingest_rate(url: str, messages: int, burst: int) -> float:
    """Messages/s through ``ingest_many`` in bursts of ``burst`` (1: a commit per message)."""
    engine = open_database(url)
    store = ClinicStore(engine)
    session_id = f"S{uuid.uuid4().hex[:12]}"
    topic = f"presspoint/{DEVICE}/session/{session_id}/samples"
    received = [(topic, batch_payload(session_id, i, i + 1)) for i in range(messages)]
    start = time.perf_counter()
    for first in range(0, messages, burst):
        store.ingest_many(received[first : first + burst])
    elapsed = time.perf_counter() - start
    engine.dispose()
    return messages / elapsed


def fill_sessions(url: str, count: int) -> None:
    engine = open_database(url)
    rows = [
        {"session_id": f"S{i:08d}", "device_id": f"d{i % 50}", "person": f"p{i % 400}",
         "started_at": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00.{i % 1000:03d}Z",
         "outcome": "completed", "duration_s": 200.0, "peak_force_n": 30.0, "holds": 3, "holds_completed": 3,
         "summary": "{}", "first_seen": "2026-01-01T00:00:00.000Z"}
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(t.sessions.insert(), rows)
    engine.dispose()


def query_times(url: str) -> tuple[float, float, float]:
    """Best of 5, ms: the 200 newest sessions, a person's sessions, and the person's page's history (per spot)."""
    engine = open_database(url)
    best = [float("inf")] * 3
    runs: list[Callable[[], object]] = [
        lambda: queries.sessions(engine, limit=200),
        lambda: queries.sessions(engine, person="p7", limit=1000),
        lambda: person_queries.history(engine, "p7"),
    ]
    for _ in range(5):
        for n, query in enumerate(runs):
            start = time.perf_counter()
            query()
            best[n] = min(best[n], time.perf_counter() - start)
    engine.dispose()
    return best[0] * 1000, best[1] * 1000, best[2] * 1000


def http_ms(url: str, token: str) -> float:
    best = float("inf")
    for _ in range(5):
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def live_runs(name: str, server: ClinicServer, broker: Mosquitto, user: str, args: argparse.Namespace) -> None:
    """``--live-runs`` runs of ``--live`` samples each, in one real browser on the device's page."""
    driver = start_chromium()
    try:
        live_browser.open_live_page(driver, server.url, DEVICE, user, PASSWORD)
        time.sleep(1.0)  # the page's stream (or first poll) is open
        for run in range(args.live_runs):
            result = live_browser.measure(driver, broker.port, DEVICE, samples=args.live, rate_hz=args.rate,
                                          chunk_s=args.chunk_s, kind=args.topic)
            seen = len(result.from_reading_ms)
            print(f"{name:<10} live run {run + 1}: {seen}/{result.published} samples "
                  f"({args.rate:g} Hz, published every {args.chunk_s:g} s on {args.topic}); reading->page "
                  f"{result.describe(result.from_reading_ms)}; publish->page "
                  f"{result.describe(result.from_publish_ms)}; reading->next frame "
                  f"{result.describe(result.to_frame_ms)}")
    finally:
        driver.quit()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--live", type=int, default=1200, help="samples per live-delay run (at --rate)")
    parser.add_argument("--live-runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=80.0, help="the device's sample rate, Hz")
    parser.add_argument("--chunk-s", type=float, default=0.1,
                        help="how often the device publishes its new samples (1.0: only the stored batches)")
    parser.add_argument("--topic", choices=("live", "samples"), default="live",
                        help="where the device publishes them: its live chunks, or its stored batches")
    parser.add_argument("--live-only", action="store_true", help="only the live delay")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-clinic-"))
    with running_postgres() as pg:
        urls = {"sqlite": f"sqlite:///{folder / 'clinic.sqlite3'}"}
        if pg is not None:
            urls["postgresql"] = pg.create_database()
        for name, url in ({} if args.live_only else urls).items():
            for burst in (1, 50, MAX_BURST):
                rate = ingest_rate(url, args.messages, burst)
                print(f"{name:<10} ingest: {rate:,.0f} messages/s ({args.messages} sample batches, "
                      f"{'one commit each' if burst == 1 else f'a commit per burst of {burst}'})")
        for name, url in ({} if args.live_only else urls).items():
            fill_sessions(url, args.sessions)
            list_ms, person_ms, page_ms = query_times(url)
            print(f"{name:<10} {args.sessions:,} sessions: list (200 newest) {list_ms:.1f} ms, "
                  f"a person's sessions {person_ms:.1f} ms, the person page's history {page_ms:.1f} ms "
                  "(server time, best of 5)")
        broker = Mosquitto(folder / "broker")
        broker.start()
        try:
            for name, url in urls.items():
                engine = open_database(url)
                user = f"bench{uuid.uuid4().hex[:6]}"
                add_user(engine, user, "viewer", PASSWORD)
                token = create_token(engine, user)
                engine.dispose()
                server = ClinicServer(folder / f"clinic-{name}", db=url, broker=broker.url, instance=name)
                server.start()
                try:
                    if not args.live_only:
                        list_http = http_ms(server.url + "/api/v1/sessions", token)
                        person_http = http_ms(server.url + "/api/v1/sessions?person=p7&limit=1000", token)
                        print(f"{name:<10} over HTTP: session list {list_http:.1f} ms, "
                              f"person history {person_http:.1f} ms")
                    live_runs(name, server, broker, user, args)
                    assert server.proc is not None
                    print(f"{name:<10} clinic serve RSS: {rss_mib(server.proc.pid):.0f} MiB")
                finally:
                    server.stop()
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
