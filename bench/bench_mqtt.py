"""MQTT store-and-forward benchmark: traffic per device, summary latency, devices per process.

    .venv/bin/python bench/bench_mqtt.py [--quick] [--levels 1,10,25,50] [--seconds 20]

Starts its own Mosquitto on a free loopback port (``mosquitto`` must be
installed) and a separate subscriber process, so what is counted is what a
consumer actually received.  Prints:

1. messages and bytes per device per second of session at 80 samples/s
   (a default 3 x 60 s plan driven through the real session controller);
2. time from a session summary being committed to disk to its arrival at
   the subscriber (p50/p99);
3. N simulated devices in this one process (each with its own SQLite store,
   writer thread and MQTT client; all clients on one asyncio loop) feeding
   real-time 80 Hz sessions: loss, CPU per device, largest N with zero loss.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config.device import DeviceConfig  # noqa: E402
from config.mqtt import MqttSettings  # noqa: E402
from config.plan import TherapyPlan  # noqa: E402
from firmware.mqtt.publisher import Publisher  # noqa: E402
from firmware.mqtt.service import MqttService, MqttSessionSink  # noqa: E402
from firmware.protocol.topics import Topics  # noqa: E402
from firmware.realtime.sinks import SessionInfo  # noqa: E402
from firmware.session.controller import SessionController  # noqa: E402
from firmware.session.summary import resolve_plan  # noqa: E402
from firmware.storage.writer import StoreWriter  # noqa: E402
from tests.mqtt_broker import Mosquitto  # noqa: E402

RATE = 80

# A subscriber in its own process: counts, per device, the distinct seqs it got.
SUBSCRIBER = r"""
import json, sys, time, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port = int(sys.argv[1])
seqs, counts, arrivals = {}, {"messages": 0, "bytes": 0}, {}
def on_message(client, userdata, m):
    counts["messages"] += 1; counts["bytes"] += len(m.payload)
    parts = m.topic.split("/")
    props = dict(getattr(m.properties, "UserProperty", []) or [])
    if "seq" in props:
        seqs.setdefault(parts[1], set()).add(int(props["seq"]))
    if parts[-1] == "summary":
        arrivals[parts[3]] = time.time()
def on_connect(client, userdata, flags, rc, props=None):
    client.subscribe("presspoint/+/session/+/+", qos=1)
    print("subscribed", flush=True)
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-sub", protocol=mqtt.MQTTv5)
c.on_message = on_message; c.on_connect = on_connect
c.connect("127.0.0.1", port, 30); c.loop_start()
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "report":
        out = {"counts": counts, "seqs": {k: sorted(v) for k, v in seqs.items()}, "arrivals": arrivals}
        print(json.dumps(out), flush=True)
        seqs.clear(); arrivals.clear(); counts.update(messages=0, bytes=0)
c.loop_stop()
"""


class Subscriber:
    """The separate subscriber process; ``report()`` returns and resets what it counted."""

    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "subscribed":
            raise RuntimeError("subscriber did not start")

    def report(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("report\n")
        self.proc.stdin.flush()
        data: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return data

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def settings(port: int) -> MqttSettings:
    return MqttSettings(enabled=True, host="127.0.0.1", port=port, reconnect_min_s=0.1, reconnect_max_s=1.0)


def force_profile(t: float, target: float) -> float:
    """Three presses: 2 s ramp, 62 s hold (with tremor), release, 24 s rest."""
    phase = t % 90.0
    if phase < 2.0:
        return target * phase / 2.0
    if phase < 64.0:
        return target + 0.3 * math.sin(2 * math.pi * 1.5 * t)
    return 0.0


def session_info(session_id: str, device_id: str, plan: TherapyPlan, device_max: float) -> SessionInfo:
    return SessionInfo(
        session_id=session_id,
        device_id=device_id,
        started_at_iso=datetime.now(UTC).isoformat(),
        sample_rate_hz=RATE,
        plan=resolve_plan(plan, device_max).model_dump(),
    )


# ------------------------------------------------------------------ 1. traffic


def bench_traffic(workdir: Path) -> None:
    device = DeviceConfig.model_validate({"device_id": "traffic", "storage": {"state_dir": str(workdir / "t")}})
    writer = StoreWriter(device.storage.state_dir / "db", topics=Topics(device.device_id))
    writer.start()
    sink = MqttSessionSink(writer, None)
    plan = TherapyPlan()
    controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=device.device_max)
    sink.session_started(session_info("traffic1", device.device_id, plan, device.device_max))
    i = 0
    started = time.perf_counter()
    while not controller.finished:
        t = i / RATE
        f = force_profile(t, plan.target)
        sink.sample(t, f, int(f * 1000))
        sink.decisions(controller.on_sample(t, f))
        i += 1
    feed_s = time.perf_counter() - started
    from firmware.session.summary import build_summary

    summary = build_summary(
        controller, session_id="traffic1", device_id=device.device_id, started_at=datetime.now(UTC)
    )
    sink.session_ended(summary)
    messages = writer.outbox.peek(100_000)
    duration = controller.ended_at or 1.0
    total = sum(len(m.payload) for m in messages)
    by_kind: dict[str, list[int]] = {}
    for m in messages:
        by_kind.setdefault(m.kind.value, []).append(len(m.payload))
    print(f"1. traffic of one {duration:.1f} s session at {RATE} samples/s ({i} samples, outcome {summary.outcome})")
    print(f"   {len(messages)} messages, {total / 1024:.1f} KiB payload: "
          f"{len(messages) / duration:.2f} msg/s, {total / duration:.0f} B/s per device")
    for kind, sizes in sorted(by_kind.items()):
        print(f"   {kind:<8} {len(sizes):>5} messages, mean {statistics.mean(sizes):>6.0f} B")
    print(f"   controller + store queue cost: {feed_s / i * 1e6:.1f} us per sample (in the session loop)")
    writer.close()


# ------------------------------------------------------------------ 2. summary latency


def bench_summary_latency(workdir: Path, port: int, sub: Subscriber, count: int) -> None:
    device = DeviceConfig.model_validate({"device_id": "latency", "storage": {"state_dir": str(workdir / "l")}})
    service = MqttService(device, settings(port), version="bench")
    service.start(recover=False)
    service.flush(10)
    sub.report()
    stored: dict[str, float] = {}
    for k in range(count):
        sid = f"lat{k:04d}"
        service.writer.session_started(sid)
        for j in range(8):
            service.writer.sample(sid, j / RATE, 1.0, 1)
        fut = service.writer.session_finished(sid, json.dumps({"session_id": sid}).encode(), "completed")
        fut.result(10)
        stored[sid] = time.time()  # committed (fsync) by now
        time.sleep(0.02)  # one session end every ~20 ms: not a throughput test
    service.flush(10)
    time.sleep(0.2)
    arrivals = sub.report()["arrivals"]
    lat = sorted((arrivals[s] - stored[s]) * 1000 for s in stored if s in arrivals)
    missing = len(stored) - len(lat)
    print(f"2. summary stored -> received by a subscriber ({count} sessions, loopback, QoS 1)")
    print(f"   p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms, max {lat[-1]:.2f} ms, "
          f"missing {missing}")
    service.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    k = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
    return values[k]


# ------------------------------------------------------------------ 3. N devices


async def run_devices(workdir: Path, port: int, n: int, seconds: float) -> dict[str, Any]:
    plan = TherapyPlan()
    devices: list[tuple[str, StoreWriter, Publisher, MqttSessionSink]] = []
    for k in range(n):
        device_id = f"d{k:03d}"
        writer = StoreWriter(workdir / f"n{n}" / f"{device_id}.db", topics=Topics(device_id))
        writer.start()
        publisher = Publisher(settings(port).model_copy(update={"client_id": f"bench-{n}-{device_id}"}),
                              Topics(device_id), writer, firmware_version="bench")
        devices.append((device_id, writer, publisher, MqttSessionSink(writer, publisher, wait_summary_s=10)))
    tasks = [asyncio.create_task(p.run()) for _, _, p, _ in devices]
    await asyncio.gather(*(p.flush(10) for _, _, p, _ in devices))
    loop = asyncio.get_running_loop()
    lateness: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def feed(device_id: str, sink: MqttSessionSink, offset: float) -> None:
        controller = SessionController(plan, sample_rate_hz=RATE, device_max_n=88.26)
        sink.session_started(session_info(f"{device_id}-s", device_id, plan, 88.26))
        start = loop.time() + offset
        for i in range(int(seconds * RATE)):
            due = start + i / RATE
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append(loop.time() - due)
            t = i / RATE
            f = force_profile(t, plan.target)
            sink.sample(t, f, int(f * 1000))
            sink.decisions(controller.on_sample(t, f))
        controller.on_stop(seconds, "bench")
        from firmware.session.summary import build_summary

        summary = build_summary(controller, session_id=f"{device_id}-s", device_id=device_id,
                                started_at=datetime.now(UTC))
        await asyncio.to_thread(sink.session_ended, summary)

    await asyncio.gather(*(feed(d, s, k / (n * RATE)) for k, (d, _, _, s) in enumerate(devices)))
    reports = await asyncio.gather(*(p.flush(30) for _, _, p, _ in devices))
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    for _, _, p, _ in devices:
        p.request_stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats = [w.stats() for _, w, _, _ in devices]
    made = {d: w.outbox.next_seq - 1 for d, w, _, _ in devices}  # every message each device made
    for _, w, _, _ in devices:
        await asyncio.to_thread(w.close)
    lateness.sort()
    return {
        "made": made,
        "left": sum(r.left for r in reports),
        "sent": sum(r.sent for r in reports),
        "queue_drops": sum(s.samples_dropped_at_queue for s in stats),
        "outbox_drops": sum(s.outbox_dropped_batches for s in stats),
        "cpu_s": cpu,
        "wall_s": wall,
        "late_p99_ms": percentile(lateness, 99) * 1000,
        "late_max_ms": lateness[-1] * 1000 if lateness else math.nan,
    }


def bench_devices(workdir: Path, broker: Mosquitto, sub: Subscriber, levels: list[int], seconds: float) -> None:
    print(f"3. N devices in one process, real-time {seconds:.0f} s sessions at {RATE} Hz, one Mosquitto")
    print("     N   sent  lost  dup  cpu/dev(%core)  bench cpu  broker cpu  sample lateness p99/max")
    best = realtime = 0
    for n in levels:
        sub.report()
        broker_cpu0 = proc_cpu(broker)
        result = asyncio.run(run_devices(workdir, broker.port, n, seconds))
        time.sleep(0.3)
        got = sub.report()
        broker_cpu = proc_cpu(broker) - broker_cpu0
        lost = 0
        for device_id, made in result["made"].items():
            lost += len(set(range(1, made + 1)) - set(got["seqs"].get(device_id, [])))
        dup = got["counts"]["messages"] - sum(len(v) for v in got["seqs"].values())
        lost += result["queue_drops"] + result["outbox_drops"]
        cpu_per_dev = result["cpu_s"] / result["wall_s"] / n * 100
        print(f"  {n:>4} {result['sent']:>6} {lost:>5} {dup:>4}  {cpu_per_dev:>13.2f}  "
              f"{result['cpu_s'] / result['wall_s'] * 100:>8.0f}%  {broker_cpu / result['wall_s'] * 100:>9.0f}%  "
              f"{result['late_p99_ms']:>8.1f} / {result['late_max_ms']:.1f} ms")
        if lost == 0:
            best = n
            if result["late_p99_ms"] < 1000 / RATE:
                realtime = n
        else:
            break
    print(f"   largest N with zero loss: {best} (of the levels tried); largest N whose feeders kept "
          f"80 Hz (p99 lateness < one period): {realtime}")


def proc_cpu(broker: Mosquitto) -> float:
    if broker.proc is None:
        return 0.0
    try:
        fields = Path(f"/proc/{broker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small levels and short sessions")
    parser.add_argument("--levels", help="comma-separated device counts for part 3")
    parser.add_argument("--seconds", type=float, help="session length for part 3")
    parser.add_argument("--summaries", type=int, default=200, help="sessions for part 2")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")] if args.levels else ([1, 10] if args.quick else
                                                                          [1, 10, 25, 50, 100, 150])
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with tempfile.TemporaryDirectory(prefix="bench-mqtt-") as tmp:
        workdir = Path(tmp)
        bench_traffic(workdir)
        broker = Mosquitto(workdir / "broker")
        broker.start()
        sub = Subscriber(broker.port)
        try:
            bench_summary_latency(workdir, broker.port, sub, 50 if args.quick else args.summaries)
            bench_devices(workdir, broker, sub, levels, seconds)
        finally:
            sub.close()
            broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
