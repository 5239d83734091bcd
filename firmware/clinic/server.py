"""``presspoint clinic serve``: the collector, the live feed and the web app in one process and one event loop.

SIGTERM/SIGINT stop uvicorn, which then stops the collector and the feed;
the database engine is disposed last.  Without a broker only the web app
runs (a read-only look at what was collected).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import FrameType

import uvicorn

from config.mqtt import MqttSettings
from firmware.clinic.app import create_app
from firmware.clinic.collector import ClinicCollector
from firmware.clinic.context import ClinicContext
from firmware.clinic.database import open_database
from firmware.clinic.ingest import ClinicStore
from firmware.clinic.live import LiveFeed, LiveHub
from firmware.clinic.settings import ClinicSettings, parse_listen

log = logging.getLogger("presspoint.clinic")

#: How long a stop waits for open responses; live streams end at once (the hub is closed first).
GRACEFUL_SHUTDOWN_S = 5


class _Server(uvicorn.Server):
    """uvicorn's server, closing the live hub when told to stop: its open streams end, so the stop is not held."""

    def __init__(self, config: uvicorn.Config, hub: LiveHub) -> None:
        super().__init__(config)
        self._hub = hub

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._hub.close()
        super().handle_exit(sig, frame)


def mqtt_settings(settings: ClinicSettings) -> MqttSettings | None:
    if settings.broker is None:
        return None
    return MqttSettings(enabled=True, reconnect_min_s=0.2, reconnect_max_s=5.0).with_broker_url(settings.broker)


async def serve(settings: ClinicSettings) -> None:
    host, port = parse_listen(settings.listen)
    engine = open_database(settings.db)
    mqtt = mqtt_settings(settings)
    store = None if mqtt is None else ClinicStore(engine, prefix=mqtt.topic_prefix)
    context = ClinicContext(engine=engine, settings=settings, mqtt=mqtt, store=store)
    tasks: list[asyncio.Task[object]] = []
    workers: list[ClinicCollector | LiveFeed] = []
    if mqtt is not None and store is not None:
        collector = ClinicCollector(
            mqtt,
            store,
            client_id=f"presspoint-clinic-{settings.instance}",
            group=settings.group,
        )
        feed = LiveFeed(mqtt, context.hub)
        workers = [collector, feed]
        tasks = [asyncio.create_task(collector.run()), asyncio.create_task(feed.run())]
    config = uvicorn.Config(
        create_app(context),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = _Server(config, context.hub)
    try:
        await server.serve()
    finally:
        for worker in workers:
            worker.stop()
        for task in tasks:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(10):
                    await task
        engine.dispose()
