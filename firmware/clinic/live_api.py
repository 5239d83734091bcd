"""The live view's routes: the device's news pushed as Server-Sent Events, and the same as one JSON answer.

The stream sends a message as soon as the live feed has something new for
the device (``LiveHub.wait``): no poll interval and no database on the path.
The plan's band is read from the database only when the stream opens and
when the device's session changes.  An ``EventSource`` reconnects by itself
and says the last id it got (``Last-Event-ID``, ``<hub token>:<counter>``): to
the same process it resumes after that counter, so a reconnect loses nothing
the hub still holds; to another (a restart, another instance, whose counters
mean something else) it starts over, and the page skips what it has shown.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from firmware.clinic import queries
from firmware.clinic.context import ctx
from firmware.clinic.live import LiveHub
from firmware.clinic.requested import path_id

KEEPALIVE_S = 15.0  # a comment line this often: a closed page is noticed, proxies keep the stream open


def _counter(text: str | None) -> int:
    return int(text) if text is not None and text.isdigit() else 0


def resumed_after(hub: LiveHub, last_event_id: str | None) -> int:
    """The counter a reconnecting stream resumes after: 0 unless its last id was this hub's (``token:counter``)."""
    token, _, counter = (last_event_id or "").partition(":")
    return _counter(counter) if token == hub.token else 0


def band(engine: Engine, device_id: str) -> dict[str, float] | None:
    """The band and tolerance of the plan in force on the device, for the chart (None: unknown)."""
    row = queries.device(engine, device_id)
    if row is None or row.plan_state is None:
        return None
    plan = row.plan_state.plan
    try:
        target, width = float(plan["target"]), float(plan["band"])
        return {
            "low": target * (1 - width),
            "high": target * (1 + width),
            "tolerance": float(plan["tolerance"]),
            "max": float(plan["therapist_max"]),
        }
    except (KeyError, TypeError, ValueError):
        return None


async def live(request: Request) -> Response:
    context = ctx(request)
    device_id = path_id(request, "device_id", "device")
    body = context.hub.since(device_id, _counter(request.query_params.get("after")))
    found = await run_in_threadpool(band, context.engine, device_id)
    if found is not None:
        body["band"] = found
    return JSONResponse(body)


async def live_stream(request: Request) -> Response:
    context = ctx(request)
    device_id = path_id(request, "device_id", "device")
    after = resumed_after(context.hub, request.headers.get("last-event-id"))
    return StreamingResponse(
        live_events(context.hub, context.engine, device_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def live_events(
    hub: LiveHub, engine: Engine, device_id: str, after: int, *, keepalive_s: float = KEEPALIVE_S
) -> AsyncIterator[bytes]:
    """One SSE message per wake-up: everything new since ``after``; the band again when the session changes."""
    with hub.watch(device_id):
        async for chunk in _messages(hub, engine, device_id, after, keepalive_s):
            yield chunk


async def _messages(hub: LiveHub, engine: Engine, device_id: str, after: int, keepalive_s: float
                    ) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    session: object = ()  # no session seen yet (None is a device between sessions)
    current_band: dict[str, float] | None = None
    first = True
    while not hub.closed:
        body: dict[str, Any] = hub.since(device_id, after)
        if body["session_id"] != session:
            session = body["session_id"]
            current_band = await run_in_threadpool(band, engine, device_id)
        if first or body["last"] != after:
            first = False
            after = body["last"]
            if current_band is not None:
                body["band"] = current_band
            yield f"id: {hub.token}:{after}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n".encode()
        else:
            yield b": keepalive\n\n"
        await hub.wait(device_id, after, keepalive_s)


ROUTES = [
    Route("/api/v1/devices/{device_id}/live", live, methods=["GET"]),
    Route("/api/v1/devices/{device_id}/live/stream", live_stream, methods=["GET"]),
]
