"""Payloads for the clinic tests, made with the protocol's own models."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

from firmware.protocol.payloads import DeviceStatus, EventMessage, SamplesBatch, SessionEvent, dump

DEVICE = "dev1"
SESSION = "20261130T000000Z-aaaaaaaa"


def event_payload(msg_id: str, index: int, session_id: str = SESSION, device_id: str = DEVICE) -> bytes:
    message = EventMessage(
        msg_id=msg_id, seq=index + 1, device_id=device_id, session_id=session_id,
        created_at="2026-11-30T00:00:00.000Z", index=index, event=SessionEvent(type="phase", t=float(index)),
    )
    return dump(message)


def samples_payload(batch: int, session_id: str = SESSION, msg_id: str | None = None) -> bytes:
    message = SamplesBatch(
        msg_id=msg_id or uuid.uuid4().hex, seq=1000 + batch, device_id=DEVICE, session_id=session_id,
        created_at="2026-11-30T00:00:00.000Z", batch=batch, t0=float(batch), dt=0.1, n=3,
        force_n=[1.0, 2.0, None], raw=[1, 2, None],
    )
    return dump(message)


def status_payload(updated_at: str, phase: str | None = None, session_id: str | None = None) -> bytes:
    return dump(DeviceStatus(device_id=DEVICE, firmware_version="0.1.0", calibrated=True, phase=phase,
                             session_id=session_id, updated_at=updated_at))


def topic(kind: str, session_id: str = SESSION, device_id: str = DEVICE) -> str:
    if kind in ("event", "samples", "summary"):
        return f"presspoint/{device_id}/session/{session_id}/{kind}"
    return f"presspoint/{device_id}/{kind}"


async def eventually(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Bounded wait on a condition the test checks (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout_s} s: {what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.sleep(0.02)
