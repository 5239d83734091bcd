"""Store, outbox and MQTT publisher wired together for one device, ready for the runtime.

``MqttService`` owns the ``StoreWriter`` (SQLite, its own thread) and runs the
``Publisher`` on a second thread with its own asyncio loop.  The session loop
therefore shares nothing with MQTT but a queue: a broker that is slow, down or
refusing cannot delay a sample or change a decision.

``MqttSessionSink`` is the ``SessionSink`` the engine feeds.  At start a
session a crash left ``running`` is closed as ``interrupted`` (see
``firmware.storage.recovery``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from importlib import metadata
from pathlib import Path

from config.device import DeviceConfig
from config.mqtt import MqttSettings
from firmware.mqtt.publisher import FlushReport, Publisher
from firmware.protocol.topics import Topics
from firmware.realtime.sinks import SessionInfo
from firmware.session.decisions import Decision, PhaseChange, decision_to_event
from firmware.session.summary import SessionSummary
from firmware.storage.recovery import InterruptedSummaryBuilder, replay_interrupted_summary
from firmware.storage.writer import StoreWriter

log = logging.getLogger("presspoint.mqtt")

DB_NAME = "presspoint.sqlite3"


def firmware_version() -> str:
    try:
        return metadata.version("presspoint")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


class MqttService:
    """The device's store-and-forward path: ``start``, feed ``sink``, ``flush``, ``close``.

    ``settings=None`` (or ``enabled = false``) keeps the local store and the
    outbox but publishes nothing; messages wait for a later run with a broker.
    """

    def __init__(
        self,
        device: DeviceConfig,
        settings: MqttSettings | None = None,
        *,
        db_path: Path | None = None,
        calibrated: bool | None = None,
        version: str | None = None,
        keep_sessions: int = 1000,
    ) -> None:
        settings = settings if settings is not None else device.mqtt
        self.settings = settings
        self.topics = Topics(device.device_id, settings.topic_prefix, settings.discovery_prefix)
        self.db_path = db_path or device.storage.state_dir / DB_NAME
        self.writer = StoreWriter(
            self.db_path,
            topics=self.topics,
            outbox_max_messages=device.storage.outbox_max_messages,
            sample_period_s=device.sample_period_s,
        )
        self.publisher: Publisher | None = None
        if settings.enabled:
            self.publisher = Publisher(
                settings,
                self.topics,
                self.writer,
                firmware_version=version or firmware_version(),
                calibrated=device.hardware.calibration.is_calibrated if calibrated is None else calibrated,
            )
        self.sink = MqttSessionSink(self.writer, self.publisher)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._keep_sessions = keep_sessions

    def start(self, build: InterruptedSummaryBuilder | None = None, *, recover: bool = True) -> list[str]:
        """Recover sessions a crash left open, start the writer and the publisher thread.

        Returns the ids of recovered (``interrupted``) sessions.
        """
        recovered = self.writer.recover_interrupted(build or replay_interrupted_summary) if recover else []
        pruned = self.writer.store.prune_finished(self._keep_sessions)
        if pruned:
            log.info("local store: removed %d old sessions (keeping the last %d)", pruned, self._keep_sessions)
        self.writer.start()
        if self.publisher is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run_publisher, name="presspoint-mqtt", daemon=True)
            self._thread.start()
            self._ready.wait(5.0)
        return recovered

    def _run_publisher(self) -> None:
        assert self.publisher is not None
        publisher = self.publisher

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await publisher.run()

        try:
            asyncio.run(main())
        except Exception:
            log.exception("MQTT publisher thread died")
        finally:
            self._ready.set()

    def flush(self, timeout_s: float) -> FlushReport:
        """Wait (bounded) until the outbox is empty; thread-safe, blocking."""
        if self.publisher is None or self._loop is None:
            with contextlib.suppress(Exception):
                self.writer.flush().result(timeout_s)
            return FlushReport(sent=0, left=self.writer.pending(), connected=False, problem="MQTT is not enabled")
        future = asyncio.run_coroutine_threadsafe(self.publisher.flush(timeout_s), self._loop)
        try:
            return future.result(timeout_s + 2.0)
        except Exception:
            return FlushReport(
                sent=self.publisher.sent,
                left=self.writer.pending(),
                connected=self.publisher.connected,
                problem=self.publisher.problem,
            )

    def close(self, timeout_s: float = 5.0) -> None:
        """Say ``offline``, disconnect, then commit and close the store."""
        if self.publisher is not None:
            self.publisher.request_stop()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self.writer.close(timeout_s)


class MqttSessionSink:
    """Feeds a running session into the store/outbox and the live status (a ``SessionSink``).

    Every call only queues work; ``session_ended`` waits (at most
    ``wait_summary_s``) until the summary is committed with ``synchronous=FULL``,
    so a session is never reported done before its summary is on disk.
    """

    def __init__(self, writer: StoreWriter, publisher: Publisher | None, *, wait_summary_s: float = 5.0) -> None:
        self._writer = writer
        self._publisher = publisher
        self._wait_summary_s = wait_summary_s
        self._session_id: str | None = None
        self.summary_stored: Future[None] | None = None

    def session_started(self, info: SessionInfo) -> None:
        self._session_id = info.session_id
        self._writer.session_started(
            info.session_id,
            info.started_at_iso,
            {"device_id": info.device_id, "sample_rate_hz": info.sample_rate_hz, "plan": info.plan},
        )
        if self._publisher is not None:
            self._publisher.update_status(session_id=info.session_id, phase="waiting_contact", force_n=None)

    def sample(self, t: float, force_n: float, raw: int) -> None:
        if self._session_id is None:
            return
        self._writer.sample(self._session_id, t, force_n, raw)
        if self._publisher is not None:
            self._publisher.live.sample(self._session_id, t, force_n, raw)
            self._publisher.update_status(force_n=round(force_n, 2))

    def decisions(self, decisions: Sequence[Decision]) -> None:
        if self._session_id is None:
            return
        for decision in decisions:
            self._writer.event(self._session_id, decision_to_event(decision))
            if isinstance(decision, PhaseChange) and self._publisher is not None:
                self._publisher.update_status(phase=str(decision.phase))

    def session_ended(self, summary: SessionSummary) -> None:
        sid = summary.session_id
        self.summary_stored = self._writer.session_finished(sid, summary.to_json().encode(), str(summary.outcome))
        if self._publisher is not None:
            self._publisher.update_status(
                session_id=None, phase=None, force_n=None, last_session_id=sid, last_outcome=str(summary.outcome)
            )
        self._session_id = None
        try:
            self.summary_stored.result(self._wait_summary_s)
        except Exception as exc:
            log.error("session %s: summary not confirmed on disk within %.1f s (%s)", sid, self._wait_summary_s, exc)
