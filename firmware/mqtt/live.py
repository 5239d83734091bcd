"""The device's live chunks: the samples of the last ``LIVE_INTERVAL_S``, QoS 0, for the clinic's live view.

The stored one-second batches (``session/<sid>/samples``, QoS 1, through the
outbox) are the record; a live view drawn from them lags up to a batch
behind the hand.  These chunks (``<p>/<device>/live``, a ``SamplesBatch``
whose ``batch`` and ``seq`` count this process's chunks) are not stored, not
retried, and only the last ``KEEP_SAMPLES`` wait for a connection: a lost
one is a gap in a live chart, never in the record.  ``sample`` only appends
to a bounded deque, so nothing here can hold a session up, and a refused or
failed publish is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque

import aiomqtt

from firmware.mqtt.aiomqtt_adapter import AdaptedClient
from firmware.mqtt.wakeup import ThreadSafeEvent
from firmware.protocol.payloads import SamplesBatch, dump, utc_now_iso
from firmware.protocol.topics import Topics

log = logging.getLogger("presspoint.mqtt.live")

LIVE_INTERVAL_S = 0.1  # a chunk's first sample waits at most this long on the device
KEEP_SAMPLES = 400  # what waits at most (5 s at 80 Hz) while the connection is slow


class LiveChunks:
    """``sample`` from any thread; ``run(client)`` publishes while connected (on the loop it first runs on)."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self._pending: deque[tuple[str, float, float, int | None]] = deque(maxlen=KEEP_SAMPLES)
        self._wakeup = ThreadSafeEvent()  # bound when ``run`` first runs
        self._chunks = 0

    def sample(self, session_id: str, t: float, force_n: float, raw: int | None) -> None:
        was_empty = not self._pending
        self._pending.append((session_id, t, force_n, raw))
        if was_empty:
            self._wakeup.set()

    async def run(self, client: AdaptedClient) -> None:
        wakeup = self._wakeup.event or self._wakeup.bind(asyncio.get_running_loop())
        # What was sampled before the first run is pending: sent below without a wake-up.
        while True:
            if not self._pending:
                await wakeup.wait()
            wakeup.clear()
            await asyncio.sleep(LIVE_INTERVAL_S)  # the chunk gathers
            for topic, payload in self._take():
                try:
                    await client.publish(topic, payload, qos=0)
                except aiomqtt.MqttError as exc:  # the connection's own tasks notice a real loss
                    log.debug("live chunk dropped: %s", exc)

    def _take(self) -> list[tuple[str, bytes]]:
        """What is pending, one ``(topic, payload)`` per session (one can end and the next start within a chunk)."""
        taken: list[tuple[str, float, float, int | None]] = []
        while self._pending:
            taken.append(self._pending.popleft())
        out: list[tuple[str, bytes]] = []
        for session_id in dict.fromkeys(s for s, _, _, _ in taken):
            rows = [(t, f, r) for s, t, f, r in taken if s == session_id]
            self._chunks += 1
            times = [t for t, _, _ in rows]
            batch = SamplesBatch(
                msg_id=uuid.uuid4().hex, seq=self._chunks, device_id=self._topics.device_id, session_id=session_id,
                created_at=utc_now_iso(), batch=self._chunks - 1, t0=times[0],
                dt=(times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 and times[-1] > times[0] else 1.0,
                n=len(rows), force_n=[round(f, 3) for _, f, _ in rows], raw=[r for _, _, r in rows], t=times,
            )
            out.append((self._topics.live, dump(batch)))
        return out
