"""What travels on the store writer's queue: one frozen dataclass per operation.

Producers queue *requests* (``StartSession``, ``RecordEvent``, ``RecordSample``,
``FinishSession``, ``Enqueue``, ``Flush``); the writer thread prepares them
into *writes*, which are what one transaction applies and, after a failed
commit, what the retry applies again.  Events and samples become
``WriteEvent`` (checked, numbered) and ``WriteBatch`` (about one second);
the other requests are written as they are.  ``Call`` and ``Stop`` steer the
thread and are never written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from firmware.protocol.payloads import SessionEvent
from firmware.storage.outbox import Delivery, OutboxMessage, PayloadBuilder

# -- requests, as the producers queue them --------------------------------------


@dataclass(frozen=True, slots=True)
class StartSession:
    session_id: str
    started_at: str
    meta: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """One event dict of the session core (``type``, ``t`` and any fields), not yet checked."""

    session_id: str
    event: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordSample:
    session_id: str
    t: float
    force_n: float
    raw: int | None


@dataclass(frozen=True, slots=True)
class FinishSession:
    """The end of a session; ``done`` (if any) completes once the summary is committed."""

    session_id: str
    summary: bytes
    outcome: str
    done: Future[None] | None


@dataclass(frozen=True, slots=True)
class CloseBatches:
    """Write every open sample batch (at stop)."""


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Any other outbox message; ``done`` gets the stored message."""

    topic: str
    payload: bytes | PayloadBuilder
    delivery: Delivery
    done: Future[OutboxMessage]


@dataclass(frozen=True, slots=True)
class Flush:
    """Completes ``done`` once everything queued before it is committed."""

    done: Future[None]


# -- writes, as one transaction applies them -------------------------------------


@dataclass(frozen=True, slots=True)
class WriteEvent:
    session_id: str
    index: int
    event: SessionEvent


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """About one second of a session's samples (``index`` is the second number)."""

    session_id: str
    index: int
    times: tuple[float, ...]
    forces: tuple[float, ...]
    raws: tuple[int | None, ...]


# -- steering the writer thread ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """Run ``fn`` on the writer thread (which owns the connection) and resolve ``done``."""

    fn: Callable[[], Any]
    done: Future[Any]


@dataclass(frozen=True, slots=True)
class Stop:
    """Write what is queued, close open batches, commit and end the thread."""


Request = StartSession | RecordEvent | RecordSample | FinishSession | CloseBatches | Enqueue | Flush
Write = StartSession | WriteEvent | WriteBatch | FinishSession | Enqueue | Flush
Queued = Request | Call | Stop
