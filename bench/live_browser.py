"""The live view's delay, device reading -> real browser, for ``bench_clinic``.

The bench plays the device: it "reads" a sample every ``1/rate`` s, stamps it
with the wall clock (``time.time()``, CLOCK_REALTIME) at that moment, and
publishes the samples read so far every ``chunk_s`` to a real Mosquitto, as
the device does (``chunk_s`` 1.0: the stored one-second batches on
``session/<sid>/samples``; 0.1: the device's live chunks on
``<p>/<device>/live``, or as small batches on ``session/<sid>/samples`` for a
clinic that reads no live topic).  A real headless chromium (Selenium) shows the
device's page of a real ``clinic serve``; a script added before the page's
own (CDP ``Page.addScriptToEvaluateOnNewDocument``) notes ``Date.now()`` - the
same host's wall clock - when each sample reaches the page: the
``EventSource`` message (or, for a polling page, the parsed ``fetch`` answer
of ``/live``), and the next animation frame after it (when the chart, redrawn
by then, is on screen).  Two delays per sample: from its reading (what the
therapist sees lag behind the hand) and from its message's publish (the
broker, the clinic and the browser alone).
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

RECORDER = """
(function () {
  var seen = window.__liveSeen = [];
  function note(data) {
    var now = Date.now(), row = [];
    data.samples.forEach(function (s) { row.push(s[0]); });
    var entry = [row, now, null];
    seen.push(entry);
    window.requestAnimationFrame(function () { entry[2] = Date.now(); });
  }
  var Native = window.EventSource;
  if (Native) {
    var Wrapped = function (url, options) {
      var source = new Native(url, options);
      source.addEventListener("message", function (m) { note(JSON.parse(m.data)); });
      return source;
    };
    Wrapped.prototype = Native.prototype;
    window.EventSource = Wrapped;
  }
  var nativeFetch = window.fetch;
  window.fetch = function (input, init) {
    return nativeFetch(input, init).then(function (answer) {
      if (String(input).indexOf("/live?") >= 0 && answer.ok) { answer.clone().json().then(note); }
      return answer;
    });
  };
})();
"""


@dataclass(frozen=True)
class LiveRun:
    from_reading_ms: list[float]
    from_publish_ms: list[float]
    to_frame_ms: list[float]  # reading -> the next animation frame after receipt
    published: int

    @staticmethod
    def describe(values: list[float]) -> str:
        if len(values) < 2:
            return "no samples"
        q = statistics.quantiles(values, n=100)
        return f"p50 {statistics.median(values):.0f} / p99 {q[98]:.0f} / max {max(values):.0f} ms"


def open_live_page(driver: Any, url: str, device: str, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})
    driver.get(url + "/login")
    driver.find_element(By.ID, "name").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    deadline = time.monotonic() + 30
    while not driver.current_url.endswith("/devices"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"login failed: {driver.current_url}")
        time.sleep(0.05)
    driver.get(f"{url}/devices/{device}")


def play_device(port: int, device: str, *, samples: int, rate_hz: float, chunk_s: float, kind: str) -> tuple[
    str, dict[float, tuple[float, float]]
]:
    """Publish ``samples`` as the device would; per sample time: (read at, its message published at)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from firmware.protocol.payloads import SamplesBatch, dump

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    session_id = f"L{uuid.uuid4().hex[:12]}"
    stamps: dict[float, tuple[float, float]] = {}
    pending: list[tuple[float, float]] = []  # (t, read at)
    start = time.time()
    chunk = 0
    for i in range(samples):
        read_at = start + i / rate_hz
        if (pause := read_at - time.time()) > 0:
            time.sleep(pause)
        pending.append((round(i / rate_hz, 4), time.time()))
        if len(pending) >= max(1, round(chunk_s * rate_hz)) or i == samples - 1:
            times = [t for t, _ in pending]
            payload = dump(SamplesBatch(
                msg_id=uuid.uuid4().hex, seq=chunk + 1, device_id=device, session_id=session_id,
                created_at="2026-12-01T00:00:00.000Z", batch=chunk, t0=times[0], dt=1 / rate_hz, n=len(times),
                force_n=[20.0 + (j % 40) * 0.25 for j in range(len(times))], raw=[None] * len(times), t=times,
            ))
            published_at = time.time()
            where = f"presspoint/{device}/" + ("live" if kind == "live" else f"session/{session_id}/samples")
            client.publish(where, payload, qos=0 if kind == "live" else 1)
            stamps.update({t: (read, published_at) for t, read in pending})
            pending = []
            chunk += 1
    time.sleep(1.5)
    client.loop_stop()
    client.disconnect()
    return session_id, stamps


def measure(driver: Any, port: int, device: str, *, samples: int, rate_hz: float, chunk_s: float, kind: str
            ) -> LiveRun:
    """``kind``: the topic's last level, ``samples`` (stored batches) or ``live`` (the device's live chunks)."""
    driver.execute_script("window.__liveSeen.length = 0;")
    _, stamps = play_device(port, device, samples=samples, rate_hz=rate_hz, chunk_s=chunk_s, kind=kind)
    seen: list[list[Any]] = driver.execute_script("return window.__liveSeen;")
    reading, publish, frame = [], [], []
    for times, received_ms, frame_ms in seen:
        for t in times:
            stamp = stamps.pop(round(float(t), 4), None)
            if stamp is None:
                continue  # an earlier run's sample, or seen twice
            read_at, published_at = stamp
            reading.append(received_ms - read_at * 1000)
            publish.append(received_ms - published_at * 1000)
            if frame_ms is not None:
                frame.append(frame_ms - read_at * 1000)
    return LiveRun(reading, publish, frame, samples)
